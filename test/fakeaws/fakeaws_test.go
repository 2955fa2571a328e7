package fakeaws

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
)

const (
	testAKID   = "AKIDEXAMPLE"
	testSecret = "example-secret"
	roleApp    = "arn:aws:iam::111122223333:role/my-app"
	roleOther  = "arn:aws:iam::111122223333:role/other"
	testIss    = "https://oidc.test.local/cluster"
)

// seedYAML is the state example of the foundation issue.
const seedYAML = `
region: us-east-1
users:
  - accessKeyId: AKIDEXAMPLE
    secretAccessKey: example-secret
    allow: ["my-app/*", "/my-app/*"]
roles:
  - arn: arn:aws:iam::111122223333:role/my-app
    allow: ["my-app/*"]
secrets:
  - name: my-app/db-credentials
    value: '{"username":"admin","password":"supersecretpassword"}'
parameters:
  - name: /my-app/db-port
    value: "5432"
`

// testState is the seed state plus versions, binary, regions, more principals and parameters.
func testState(t *testing.T) State {
	t.Helper()
	st, err := ParseState([]byte(seedYAML))
	if err != nil {
		t.Fatal(err)
	}
	st.Users = append(st.Users, User{Name: "reader", AccessKeyID: "AKIDREADER", SecretAccessKey: "reader-secret", Allow: []string{"shared/*"}})
	st.Roles = append(st.Roles, Role{ARN: roleOther, Allow: []string{"other/*"}})
	st.Secrets = append(st.Secrets,
		Secret{Name: "my-app/versioned", Value: "v3", VersionID: "ver-3", Versions: []SecretVersion{
			{ID: "ver-1", Value: "v1", Stages: []string{"old"}},
			{ID: "ver-2", Value: "v2", Stages: []string{"AWSPREVIOUS"}},
		}},
		Secret{Name: "my-app/binary", Binary: []byte{0, 1, 2, 0xff}},
		Secret{Name: "my-app/regional", Value: "east", Regions: []string{"us-east-1"}},
		Secret{Name: "my-app/regional", Value: "west", Regions: []string{"us-west-2"}},
		Secret{Name: "other/secret", Value: "not-for-my-app"},
	)
	st.Parameters = append(st.Parameters,
		Parameter{Name: "/my-app/labelled", Value: "three", Labels: []string{"current"}, History: []ParameterVersion{{Value: "one"}, {Value: "two", Labels: []string{"prod"}}}},
		Parameter{Name: "/my-app/secure", Type: "SecureString", Value: "hunter2"},
		Parameter{Name: "/my-app/list", Type: "StringList", Value: "a,b,c"},
		Parameter{Name: "/other/param", Value: "x"},
	)
	return st
}

// isolateEnv clears the AWS environment so only what a test sets is used, and keeps the SDK away
// from the real IMDS address.
func isolateEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SSM", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
	} {
		t.Setenv(k, "") // restores the old value after the test
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func startFake(t *testing.T, st State, opts ...Option) *Server {
	t.Helper()
	srv, err := New(st, opts...)
	if err != nil {
		t.Fatalf("new fake: %v", err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxBackoff = 5 * time.Millisecond
		o.MaxAttempts = 4
	})
}

// staticConfig is an SDK config signing with the given static keys against the fake.
func staticConfig(t *testing.T, srv *Server, akid, secret, region string) aws.Config {
	t.Helper()
	return sessionConfig(t, srv, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, region)
}

func sessionConfig(t *testing.T, srv *Server, c aws.Credentials, region string) aws.Config {
	t.Helper()
	isolateEnv(t)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(region),
		config.WithBaseEndpoint(srv.URL()),
		config.WithRetryer(fastRetryer),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestParseStateSeedAndStrict(t *testing.T) {
	st, err := ParseState([]byte(seedYAML))
	if err != nil {
		t.Fatal(err)
	}
	if st.Region != "us-east-1" || len(st.Users) != 1 || st.Users[0].AccessKeyID != testAKID || len(st.Secrets) != 1 || st.Parameters[0].Value != "5432" {
		t.Fatalf("unexpected state %+v", st)
	}
	if _, err := ParseState([]byte("region: us-east-1\nsecretz: []\n")); err == nil {
		t.Fatal("unknown field accepted")
	}
	path := filepath.Join(t.TempDir(), "state.yaml")
	if err := os.WriteFile(path, []byte(seedYAML+"secrets: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(path); err == nil {
		t.Fatal("duplicate key accepted")
	}
	if err := os.WriteFile(path, []byte("credentialTTL: 90m\nsecrets:\n  - name: b\n    binary: AAEC\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err = LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.CredentialTTL.Duration != 90*time.Minute || string(st.Secrets[0].Binary) != "\x00\x01\x02" {
		t.Fatalf("ttl %v binary %q", st.CredentialTTL, st.Secrets[0].Binary)
	}
}

func TestNewRejectsBadState(t *testing.T) {
	cases := map[string]State{
		"role arn":         {Roles: []Role{{ARN: "my-app"}}},
		"secret no value":  {Secrets: []Secret{{Name: "a"}}},
		"duplicate secret": {Secrets: []Secret{{Name: "a", Value: "1"}, {Name: "a", Value: "2"}}},
		"param type":       {Parameters: []Parameter{{Name: "/a", Value: "1", Type: "Blob"}}},
		"numeric label":    {Parameters: []Parameter{{Name: "/a", Value: "1", Labels: []string{"7"}}}},
		"issuer no keys":   {Issuers: []Issuer{{Issuer: testIss}}},
		"user no secret":   {Users: []User{{AccessKeyID: "A"}}},
		"node role absent": {NodeRole: &NodeRole{ARN: roleApp}},
	}
	for name, st := range cases {
		if _, err := New(st); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"my-app/*", "my-app/db", true},
		{"my-app/*", "my-app/a/b", true},
		{"my-app/*", "other/my-app/x", false},
		{"my-app/*", "my-app", false},
		{"*", "", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*db*", "x/db/y", true},
		{"/my-app/*", "/my-app/db-port", true},
		{"exact", "exact", true},
		{"exact", "exact2", false},
	}
	for _, c := range cases {
		if got := globMatch(c.pattern, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
	if !allowed([]string{"arn:aws:secretsmanager:*:*:secret:my-app/*"}, "my-app/x", "arn:aws:secretsmanager:us-east-1:1:secret:my-app/x-abcdef") {
		t.Error("arn glob did not match")
	}
	if allowed([]string{"arn:aws:ssm:*"}, "arn:aws:ssm:x", "arn:aws:secretsmanager:x") {
		t.Error("arn glob matched the name")
	}
}

func pemPublicKey(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
