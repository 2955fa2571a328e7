package fakeaws

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func TestSignatureRejected(t *testing.T) {
	srv := startFake(t, testState(t))
	ctx := ctxT(t)
	cases := []struct {
		name, akid, secret, token, wantCode string
	}{
		{"wrong secret key", testAKID, "wrong-secret", "", "InvalidSignatureException"},
		{"unknown key id", "AKIDUNKNOWN", testSecret, "", "UnrecognizedClientException"},
		{"static key with session token", testAKID, testSecret, "bogus", "UnrecognizedClientException"},
	}
	for _, c := range cases {
		cfg := sessionConfig(t, srv, aws.Credentials{AccessKeyID: c.akid, SecretAccessKey: c.secret, SessionToken: c.token}, "us-east-1")
		_, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
		if errCode(err) != c.wantCode {
			t.Errorf("%s: want %s, got %v", c.name, c.wantCode, err)
		}
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
			t.Errorf("%s: status not 400: %v", c.name, err)
		}
		_, err = ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/my-app/db-port")})
		if errCode(err) != c.wantCode {
			t.Errorf("%s ssm: want %s, got %v", c.name, c.wantCode, err)
		}
	}
	// STS speaks the query protocol and has its own codes.
	cfg := staticConfig(t, srv, testAKID, "wrong-secret", "us-east-1")
	_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("sts wrong secret: %v", err)
	}
	cfg = staticConfig(t, srv, "AKIDUNKNOWN", testSecret, "us-east-1")
	_, err = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errCode(err) != "InvalidClientTokenId" {
		t.Errorf("sts unknown key: %v", err)
	}
	if n := srv.Calls().ByCode["InvalidSignatureException"]; n != 2 {
		t.Errorf("InvalidSignatureException counted %d", n)
	}
}

// tamperTransport changes the request body after the SDK signed it.
type tamperTransport struct{ from, to string }

func (tt tamperTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	b = bytes.ReplaceAll(b, []byte(tt.from), []byte(tt.to))
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	r2.ContentLength = int64(len(b))
	r2.Header.Set("Content-Length", "")
	return http.DefaultTransport.RoundTrip(r2)
}

func TestSignatureCoversBodyAndHeaders(t *testing.T) {
	srv := startFake(t, testState(t))
	ctx := ctxT(t)
	cfg := staticConfig(t, srv, testAKID, testSecret, "us-east-1")
	cfg.HTTPClient = &http.Client{Transport: tamperTransport{from: "my-app/db-credentials", to: "my-app/db-credentialz"}}
	_, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
	if errCode(err) != "InvalidSignatureException" {
		t.Fatalf("tampered body: %v", err)
	}

	// Raw requests: no Authorization, a bad algorithm, a stale date.
	body := `{"SecretId":"my-app/db-credentials"}`
	send := func(mod func(*http.Request)) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		mod(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType") + " " + string(b)
	}
	status, msg := send(func(*http.Request) {})
	if status != 400 || !strings.HasPrefix(msg, "MissingAuthenticationTokenException ") || !strings.Contains(msg, `"__type":"MissingAuthenticationTokenException"`) {
		t.Errorf("unsigned: %d %s", status, msg)
	}
	status, msg = send(func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA1 Credential=x") })
	if status != 400 || !strings.HasPrefix(msg, "IncompleteSignatureException") {
		t.Errorf("bad algorithm: %d %s", status, msg)
	}
	old := time.Now().Add(-time.Hour).UTC().Format(amzDateFmt)
	status, msg = send(func(r *http.Request) {
		r.Header.Set("X-Amz-Date", old)
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"+old[:8]+"/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	})
	if status != 400 || !strings.HasPrefix(msg, "InvalidSignatureException") || !strings.Contains(msg, "Signature expired") {
		t.Errorf("stale date: %d %s", status, msg)
	}
	status, msg = send(func(r *http.Request) {
		now := time.Now().UTC().Format(amzDateFmt)
		r.Header.Set("X-Amz-Date", now)
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"+now[:8]+"/us-east-1/ssm/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	})
	if status != 400 || !strings.Contains(msg, "correct service") {
		t.Errorf("wrong service scope: %d %s", status, msg)
	}
}

func TestExpiredAndForeignSessionTokens(t *testing.T) {
	srv := startFake(t, testState(t))
	ctx := ctxT(t)
	userCfg := staticConfig(t, srv, testAKID, testSecret, "us-east-1")
	out, err := sts.NewFromConfig(userCfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleApp), RoleSessionName: aws.String("test")})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || aws.ToString(c.SessionToken) == "" || time.Until(aws.ToTime(c.Expiration)) < 50*time.Minute {
		t.Fatalf("credentials %+v", c)
	}
	if aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::111122223333:assumed-role/my-app/test" {
		t.Errorf("assumed role arn %s", aws.ToString(out.AssumedRoleUser.Arn))
	}
	creds := aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}
	sm := secretsmanager.NewFromConfig(sessionConfig(t, srv, creds, "us-east-1"))
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}); err != nil {
		t.Fatal(err)
	}
	who, err := sts.NewFromConfig(sessionConfig(t, srv, creds, "us-east-1")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Arn) != "arn:aws:sts::111122223333:assumed-role/my-app/test" || aws.ToString(who.Account) != "111122223333" {
		t.Fatalf("caller identity %v %+v", err, who)
	}
	if n := srv.Calls().Count("secretsmanager:GetSecretValue", roleApp); n != 1 {
		t.Errorf("calls under role %d", n)
	}

	wrongToken := creds
	wrongToken.SessionToken = "not-the-token"
	_, err = secretsmanager.NewFromConfig(sessionConfig(t, srv, wrongToken, "us-east-1")).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
	if errCode(err) != "UnrecognizedClientException" {
		t.Errorf("wrong session token: %v", err)
	}

	srv.ExpireSessions()
	_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
	if errCode(err) != "ExpiredTokenException" {
		t.Errorf("expired session: %v", err)
	}

	// Trust restricted to another principal.
	if err := srv.AddRole(Role{ARN: roleOther, Allow: []string{"other/*"}, Trust: &RoleTrust{Principals: []string{"arn:aws:iam::111122223333:user/reader"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = sts.NewFromConfig(userCfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleOther), RoleSessionName: aws.String("test")})
	var ge *smithy.GenericAPIError
	if !errors.As(err, &ge) || ge.Code != "AccessDenied" {
		t.Errorf("untrusted AssumeRole: %v", err)
	}
	_, err = sts.NewFromConfig(userCfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleApp), RoleSessionName: aws.String("test"), DurationSeconds: aws.Int32(7200)})
	if errCode(err) != "ValidationError" {
		t.Errorf("duration over max: %v", err)
	}
}

// TestSignerPayloadHashes signs raw requests with the SDK's signer: an UNSIGNED-PAYLOAD hash is
// accepted, a declared hash that does not match the body is not.
func TestSignerPayloadHashes(t *testing.T) {
	srv := startFake(t, testState(t))
	ctx := ctxT(t)
	body := `{"SecretId":"my-app/db-credentials"}`
	sum := sha256.Sum256([]byte(body))
	do := func(payloadHash, sendBody string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/", strings.NewReader(sendBody))
		req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
		creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, "secretsmanager", "us-west-2", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, out := do("UNSIGNED-PAYLOAD", body); status != 200 || !strings.Contains(out, "supersecretpassword") {
		t.Errorf("unsigned payload: %d %s", status, out)
	}
	if status, out := do(hex.EncodeToString(sum[:]), body); status != 200 || !strings.Contains(out, `"ARN":"arn:aws:secretsmanager:us-west-2:`) {
		t.Errorf("signed payload: %d %s", status, out)
	}
	if status, out := do(hex.EncodeToString(sum[:]), `{"SecretId":"my-app/versioned"}`); status != 400 || !strings.Contains(out, "x-amz-content-sha256") {
		t.Errorf("hash mismatch: %d %s", status, out)
	}
}
