package fakeaws

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

func TestGetSecretValueSelectors(t *testing.T) {
	srv := startFake(t, testState(t))
	sm := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	ctx := ctxT(t)
	arn := srv.SecretARN("my-app/db-credentials", "")
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:111122223333:secret:my-app/db-credentials-") || len(arn) != len("arn:aws:secretsmanager:us-east-1:111122223333:secret:my-app/db-credentials-")+6 {
		t.Fatalf("arn %q", arn)
	}
	cases := []struct {
		name              string
		in                secretsmanager.GetSecretValueInput
		want, wantVersion string
		wantStages        []string
	}{
		{"by name", secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}, `{"username":"admin","password":"supersecretpassword"}`, "", []string{"AWSCURRENT"}},
		{"by full arn", secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}, `{"username":"admin","password":"supersecretpassword"}`, "", nil},
		{"by partial arn", secretsmanager.GetSecretValueInput{SecretId: aws.String("arn:aws:secretsmanager:us-east-1:111122223333:secret:my-app/db-credentials")}, `{"username":"admin","password":"supersecretpassword"}`, "", nil},
		{"current", secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/versioned")}, "v3", "ver-3", []string{"AWSCURRENT"}},
		{"previous stage", secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/versioned"), VersionStage: aws.String("AWSPREVIOUS")}, "v2", "ver-2", []string{"AWSPREVIOUS"}},
		{"custom stage", secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/versioned"), VersionStage: aws.String("old")}, "v1", "ver-1", nil},
		{"version id", secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/versioned"), VersionId: aws.String("ver-1")}, "v1", "ver-1", nil},
		{"version id and stage", secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/versioned"), VersionId: aws.String("ver-2"), VersionStage: aws.String("AWSPREVIOUS")}, "v2", "ver-2", nil},
	}
	for _, c := range cases {
		out, err := sm.GetSecretValue(ctx, &c.in)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if aws.ToString(out.SecretString) != c.want || out.SecretBinary != nil {
			t.Errorf("%s: value %q", c.name, aws.ToString(out.SecretString))
		}
		if c.wantVersion != "" && aws.ToString(out.VersionId) != c.wantVersion {
			t.Errorf("%s: version %q", c.name, aws.ToString(out.VersionId))
		}
		if c.wantStages != nil && fmt.Sprint(out.VersionStages) != fmt.Sprint(c.wantStages) {
			t.Errorf("%s: stages %v", c.name, out.VersionStages)
		}
		if aws.ToString(out.Name) != *c.in.SecretId && !strings.HasPrefix(*c.in.SecretId, "arn:") {
			t.Errorf("%s: name %q", c.name, aws.ToString(out.Name))
		}
		if out.CreatedDate == nil || out.CreatedDate.IsZero() {
			t.Errorf("%s: no created date", c.name)
		}
	}

	bin, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/binary")})
	if err != nil {
		t.Fatal(err)
	}
	if string(bin.SecretBinary) != "\x00\x01\x02\xff" || bin.SecretString != nil {
		t.Fatalf("binary %v string %v", bin.SecretBinary, bin.SecretString)
	}

	notFound := []secretsmanager.GetSecretValueInput{
		{SecretId: aws.String("my-app/missing")},
		{SecretId: aws.String("my-app/versioned"), VersionId: aws.String("nope")},
		{SecretId: aws.String("my-app/versioned"), VersionStage: aws.String("AWSPENDING")},
		{SecretId: aws.String("my-app/versioned"), VersionId: aws.String("ver-1"), VersionStage: aws.String("AWSCURRENT")},
		{SecretId: aws.String(strings.Replace(arn, "us-east-1", "eu-west-1", 1))},
		{SecretId: aws.String(arn[:len(arn)-1] + "Z")},
	}
	for i, in := range notFound {
		_, err := sm.GetSecretValue(ctx, &in)
		var rnf *smtypes.ResourceNotFoundException
		if !errors.As(err, &rnf) {
			t.Errorf("not-found case %d: got %v", i, err)
		}
	}
}

func TestAccessDeniedNamesPrincipalAndResourceNotValue(t *testing.T) {
	srv := startFake(t, testState(t))
	sm := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	ctx := ctxT(t)
	for _, id := range []string{"other/secret", "other/does-not-exist"} {
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		var ge *smithy.GenericAPIError
		if !errors.As(err, &ge) || ge.Code != "AccessDeniedException" {
			t.Fatalf("%s: want AccessDeniedException, got %T %v", id, err, err)
		}
		for _, want := range []string{"arn:aws:iam::111122223333:user/user-akidexample", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:" + id} {
			if !strings.Contains(ge.Message, want) {
				t.Errorf("message %q lacks %q", ge.Message, want)
			}
		}
		if strings.Contains(ge.Message, "not-for-my-app") {
			t.Errorf("message leaks the value: %q", ge.Message)
		}
	}
	if c := srv.Calls().ByCode["AccessDeniedException"]; c != 2 {
		t.Errorf("AccessDenied counted %d times", c)
	}
}

func TestBatchGetSecretValueMixed(t *testing.T) {
	srv := startFake(t, testState(t))
	sm := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	ctx := ctxT(t)
	out, err := sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{
		SecretIdList: []string{"my-app/db-credentials", "my-app/missing", "other/secret", srv.SecretARN("my-app/binary", ""), "my-app/versioned"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range out.SecretValues {
		got[aws.ToString(v.Name)] = aws.ToString(v.SecretString) + string(v.SecretBinary)
	}
	want := map[string]string{"my-app/db-credentials": `{"username":"admin","password":"supersecretpassword"}`, "my-app/binary": "\x00\x01\x02\xff", "my-app/versioned": "v3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("values %v", got)
	}
	errs := map[string]string{}
	for _, e := range out.Errors {
		errs[aws.ToString(e.SecretId)] = aws.ToString(e.ErrorCode)
		if aws.ToString(e.Message) == "" {
			t.Errorf("error for %s has no message", aws.ToString(e.SecretId))
		}
	}
	if fmt.Sprint(errs) != fmt.Sprint(map[string]string{"my-app/missing": "ResourceNotFoundException", "other/secret": "AccessDeniedException"}) {
		t.Errorf("errors %v", errs)
	}
	if n := srv.Calls().Count("secretsmanager:BatchGetSecretValue", "arn:aws:iam::111122223333:user/user-akidexample"); n != 1 {
		t.Errorf("batch calls %d", n)
	}

	ids := make([]string, 21)
	for i := range ids {
		ids[i] = fmt.Sprintf("my-app/s%d", i)
	}
	_, err = sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	if errCode(err) != "ValidationException" {
		t.Errorf("21 ids: %v", err)
	}
	filtered, err := sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"my-app/v", "other/"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(filtered.SecretValues) != 1 || aws.ToString(filtered.SecretValues[0].Name) != "my-app/versioned" || len(filtered.Errors) != 1 {
		t.Errorf("filtered %+v", filtered)
	}
}

func TestPutSecretValueRotation(t *testing.T) {
	srv := startFake(t, testState(t))
	sm := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	ctx := ctxT(t)
	before, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
	if err != nil {
		t.Fatal(err)
	}
	put, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("my-app/db-credentials"), SecretString: aws.String(`{"username":"admin","password":"rotated"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(put.VersionId) == "" || aws.ToString(put.VersionId) == aws.ToString(before.VersionId) || fmt.Sprint(put.VersionStages) != "[AWSCURRENT]" {
		t.Fatalf("put %+v", put)
	}
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(cur.SecretString), "rotated") || aws.ToString(cur.VersionId) != aws.ToString(put.VersionId) {
		t.Fatalf("current after rotation %q", aws.ToString(cur.VersionId))
	}
	prev, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(prev.VersionId) != aws.ToString(before.VersionId) || aws.ToString(prev.SecretString) != aws.ToString(before.SecretString) {
		t.Fatalf("previous is %q", aws.ToString(prev.VersionId))
	}
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("my-app/db-credentials")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{aws.ToString(put.VersionId): {"AWSCURRENT"}, aws.ToString(before.VersionId): {"AWSPREVIOUS"}}
	if fmt.Sprint(desc.VersionIdsToStages) != fmt.Sprint(want) || aws.ToString(desc.ARN) != srv.SecretARN("my-app/db-credentials", "") {
		t.Fatalf("describe %v %s", desc.VersionIdsToStages, aws.ToString(desc.ARN))
	}

	// Same client token and value: idempotent; same token, other value: ResourceExists.
	tok := "11111111-2222-3333-4444-555555555555"
	for i := 0; i < 2; i++ {
		if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("my-app/db-credentials"), ClientRequestToken: aws.String(tok), SecretString: aws.String("x")}); err != nil {
			t.Fatalf("idempotent put %d: %v", i, err)
		}
	}
	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("my-app/db-credentials"), ClientRequestToken: aws.String(tok), SecretString: aws.String("y")})
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("want ResourceExistsException, got %v", err)
	}

	// Rotation through the Go API (no signing), as the mounter/e2e tests do.
	id, err := srv.PutSecret("my-app/db-credentials", "from-admin")
	if err != nil {
		t.Fatal(err)
	}
	cur, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
	if err != nil || aws.ToString(cur.SecretString) != "from-admin" || aws.ToString(cur.VersionId) != id {
		t.Fatalf("after PutSecret: %v %q", err, aws.ToString(cur.VersionId))
	}

	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("my-app/new"), SecretString: aws.String("fresh")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	if err != nil || aws.ToString(got.SecretString) != "fresh" {
		t.Fatalf("created secret: %v", err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("my-app/new"), SecretString: aws.String("again")}); !errors.As(err, &exists) {
		t.Fatalf("second create: %v", err)
	}
}

func TestSecretRegions(t *testing.T) {
	srv := startFake(t, testState(t))
	ctx := ctxT(t)
	east := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	west := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-west-2"))
	eu := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "eu-west-1"))
	for client, want := range map[*secretsmanager.Client]string{east: "east", west: "west"} {
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/regional")})
		if err != nil || aws.ToString(out.SecretString) != want {
			t.Fatalf("want %s: %v %v", want, err, aws.ToString(out.SecretString))
		}
		if !strings.Contains(aws.ToString(out.ARN), ":"+strings.Split(client.Options().Region, ":")[0]+":") {
			t.Errorf("arn %s not in region %s", aws.ToString(out.ARN), client.Options().Region)
		}
	}
	_, err := eu.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/regional")})
	var rnf *smtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("eu-west-1: %v", err)
	}
	// A secret without regions exists everywhere.
	if _, err := eu.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if calls.ByRegion["us-east-1"] != 1 || calls.ByRegion["us-west-2"] != 1 || calls.ByRegion["eu-west-1"] != 2 {
		t.Errorf("by region %v", calls.ByRegion)
	}
}
