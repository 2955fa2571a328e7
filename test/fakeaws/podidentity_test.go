package fakeaws

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func podIdentityState(t *testing.T, ti *TokenIssuer) State {
	t.Helper()
	st := testState(t)
	st.Issuers = []Issuer{{Issuer: ti.Issuer, JWKS: string(ti.JWKS())}}
	st.PodIdentityAssociations = []PodIdentityAssociation{{Namespace: "default", ServiceAccount: "my-app", RoleARN: roleApp}}
	return st
}

// TestPodIdentityEndToEnd runs the SDK's container credential provider against the agent endpoint.
func TestPodIdentityEndToEnd(t *testing.T) {
	ti, err := NewTokenIssuerES256(testIss)
	if err != nil {
		t.Fatal(err)
	}
	srv := startFake(t, podIdentityState(t, ti))
	isolateEnv(t)
	tok, err := ti.ServiceAccountToken("default", "my-app", PodIdentityAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "eks-pod-identity-token")
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.PodIdentityURL())
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokenFile)
	ctx := ctxT(t)
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"), config.WithBaseEndpoint(srv.URL()), config.WithRetryer(fastRetryer))
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(out.SecretString), "admin") {
		t.Fatal("wrong value")
	}
	_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("other/secret")})
	if errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "assumed-role/my-app/eks-pod-identity-default-my-app") {
		t.Fatalf("outside globs: %v", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil || creds.AccountID != "111122223333" || !creds.CanExpire || time.Until(creds.Expires) < 50*time.Minute {
		t.Fatalf("credentials %v %+v", err, creds)
	}
	if n := srv.Calls().Count(podIdentityAPI, roleApp); n != 1 {
		t.Errorf("agent calls %d", n)
	}

	// Raw calls: wrong audience, unassociated service account, no token.
	get := func(token string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.PodIdentityURL(), nil)
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		var e struct{ Code string }
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, e.Code
	}
	stsTok, _ := ti.ServiceAccountToken("default", "my-app", STSAudience, time.Hour)
	otherSA, _ := ti.ServiceAccountToken("default", "nobody", PodIdentityAudience, time.Hour)
	expired, _ := ti.ServiceAccountToken("default", "my-app", PodIdentityAudience, -time.Minute)
	for _, c := range []struct {
		name, token, code string
		status            int
	}{
		{"sts audience", stsTok, "InvalidTokenException", 400},
		{"no association", otherSA, "ResourceNotFoundException", 400},
		{"no token", "", "InvalidTokenException", 400},
		{"expired", expired, "ExpiredTokenException", 400},
	} {
		if status, code := get(c.token); status != c.status || code != c.code {
			t.Errorf("%s: %d %s", c.name, status, code)
		}
	}
}

// TestIMDSEndToEnd runs the SDK's EC2 role provider and IMDS region lookup against the fake.
func TestIMDSEndToEnd(t *testing.T) {
	st := testState(t)
	nodeRole := "arn:aws:iam::111122223333:role/node"
	st.Roles = append(st.Roles, Role{ARN: nodeRole, Allow: []string{"my-app/db-*"}})
	st.NodeRole = &NodeRole{ARN: nodeRole}
	st.Region = "eu-central-1"
	srv := startFake(t, st)
	isolateEnv(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL())
	ctx := ctxT(t)
	cfg, err := config.LoadDefaultConfig(ctx, config.WithEC2IMDSRegion(), config.WithBaseEndpoint(srv.URL()), config.WithRetryer(fastRetryer))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-central-1" {
		t.Fatalf("region from IMDS: %q", cfg.Region)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(out.ARN), "arn:aws:secretsmanager:eu-central-1:") {
		t.Errorf("arn %s", aws.ToString(out.ARN))
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/versioned")}); errCode(err) != "AccessDeniedException" {
		t.Errorf("node role outside globs: %v", err)
	}
	calls := srv.Calls()
	if calls.Count("imds:GetCredentials", "") < 1 || calls.Count("secretsmanager:GetSecretValue", nodeRole) != 2 {
		t.Errorf("calls %+v", calls.Calls)
	}

	// IMDSv1 (no token) is refused.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+"/latest/meta-data/iam/security-credentials/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("IMDSv1 status %d", resp.StatusCode)
	}
	// Instance identity document.
	tokReq, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL()+"/latest/api/token", nil)
	tokReq.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	resp, err = http.DefaultClient.Do(tokReq)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") != "60" {
		t.Errorf("ttl header %q", resp.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
	}
	docReq, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+"/latest/dynamic/instance-identity/document", nil)
	docReq.Header.Set("X-aws-ec2-metadata-token", string(tok))
	resp, err = http.DefaultClient.Do(docReq)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]string
	err = json.NewDecoder(resp.Body).Decode(&doc)
	_ = resp.Body.Close()
	if err != nil || doc["region"] != "eu-central-1" || doc["accountId"] != "111122223333" || doc["availabilityZone"] != "eu-central-1a" {
		t.Errorf("document %v %v", err, doc)
	}
}
