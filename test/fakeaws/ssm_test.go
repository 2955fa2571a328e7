package fakeaws

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func TestSSMGetParameters(t *testing.T) {
	srv := startFake(t, testState(t))
	client := ssm.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	ctx := ctxT(t)
	out, err := client.GetParameters(ctx, &ssm.GetParametersInput{
		Names: []string{
			"/my-app/db-port", "/my-app/labelled:1", "/my-app/labelled:prod", "/my-app/labelled:current",
			"/my-app/missing", "/my-app/labelled:9", "/my-app/labelled:nolabel", "/my-app/secure", "/my-app/list",
			"arn:aws:ssm:us-east-1:111122223333:parameter/my-app/db-port:1",
		},
		WithDecryption: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range out.Parameters {
		got = append(got, fmt.Sprintf("%s%s=%s(v%d,%s)", aws.ToString(p.Name), aws.ToString(p.Selector), aws.ToString(p.Value), p.Version, p.Type))
		if !strings.HasPrefix(aws.ToString(p.ARN), "arn:aws:ssm:us-east-1:111122223333:parameter/my-app/") {
			t.Errorf("arn %s", aws.ToString(p.ARN))
		}
	}
	sort.Strings(got)
	want := []string{
		"/my-app/db-port:1=5432(v1,String)",
		"/my-app/db-port=5432(v1,String)",
		"/my-app/labelled:1=one(v1,String)",
		"/my-app/labelled:current=three(v3,String)",
		"/my-app/labelled:prod=two(v2,String)",
		"/my-app/list=a,b,c(v1,StringList)",
		"/my-app/secure=hunter2(v1,SecureString)",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parameters\n got %v\nwant %v", got, want)
	}
	sort.Strings(out.InvalidParameters)
	if fmt.Sprint(out.InvalidParameters) != "[/my-app/labelled:9 /my-app/labelled:nolabel /my-app/missing]" {
		t.Errorf("invalid %v", out.InvalidParameters)
	}

	enc, err := client.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/my-app/secure"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := aws.ToString(enc.Parameters[0].Value); v == "hunter2" || strings.Contains(v, "hunter2") || v == "" {
		t.Errorf("SecureString without decryption returned %q", v)
	}

	_, err = client.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/my-app/db-port", "/other/param"}})
	if errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "parameter/other/param") {
		t.Errorf("denied name: %v", err)
	}
	names := make([]string, 11)
	for i := range names {
		names[i] = fmt.Sprintf("/my-app/p%d", i)
	}
	if _, err := client.GetParameters(ctx, &ssm.GetParametersInput{Names: names}); errCode(err) != "ValidationException" {
		t.Errorf("11 names: %v", err)
	}
}

func TestSSMGetParameter(t *testing.T) {
	srv := startFake(t, testState(t))
	client := ssm.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	ctx := ctxT(t)
	out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/my-app/labelled:2")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Parameter.Value) != "two" || out.Parameter.Version != 2 || aws.ToString(out.Parameter.Selector) != ":2" {
		t.Errorf("got %+v", out.Parameter)
	}
	_, err = client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/my-app/missing")})
	var nf *ssmtypes.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Errorf("missing: %T %v", err, err)
	}
	_, err = client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/my-app/db-port:7")})
	var vnf *ssmtypes.ParameterVersionNotFound
	if !errors.As(err, &vnf) {
		t.Errorf("missing version: %T %v", err, err)
	}
	v, err := srv.PutParameter("/my-app/db-port", "6543")
	if err != nil || v != 2 {
		t.Fatalf("put parameter: %v %d", err, v)
	}
	out, err = client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/my-app/db-port")})
	if err != nil || aws.ToString(out.Parameter.Value) != "6543" || out.Parameter.Version != 2 {
		t.Fatalf("after put: %v %+v", err, out)
	}
}
