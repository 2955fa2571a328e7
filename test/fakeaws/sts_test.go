package fakeaws

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

// webIdentityState trusts ti for STS and restricts my-app to one service account.
func webIdentityState(t *testing.T, ti *TokenIssuer) State {
	t.Helper()
	st := testState(t)
	st.Roles[0].Trust = &RoleTrust{Subjects: []string{"system:serviceaccount:default:my-app", "system:serviceaccount:team-*:app"}}
	st.Issuers = []Issuer{{Issuer: ti.Issuer, JWKS: string(ti.JWKS())}}
	return st
}

func assumeWithToken(t *testing.T, srv *Server, roleARN, token string) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	t.Helper()
	cfg := staticConfig(t, srv, "unused", "unused", "us-east-1")
	return sts.NewFromConfig(cfg).AssumeRoleWithWebIdentity(ctxT(t), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("web"), WebIdentityToken: aws.String(token),
	})
}

func TestAssumeRoleWithWebIdentity(t *testing.T) {
	ti, err := NewTokenIssuer(testIss)
	if err != nil {
		t.Fatal(err)
	}
	srv := startFake(t, webIdentityState(t, ti))
	good, err := ti.ServiceAccountToken("default", "my-app", STSAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, err := assumeWithToken(t, srv, roleApp, good)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(out.Credentials.AccessKeyId), "ASIA") || aws.ToString(out.SubjectFromWebIdentityToken) != "system:serviceaccount:default:my-app" ||
		aws.ToString(out.Audience) != STSAudience || aws.ToString(out.Provider) != testIss ||
		aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::111122223333:assumed-role/my-app/web" {
		t.Fatalf("output %+v %+v", out, out.AssumedRoleUser)
	}

	forger, err := NewTokenIssuer(testIss) // same iss, another key
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := NewTokenIssuer("https://stranger.example")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(ti *TokenIssuer, claims map[string]any) string {
		tok, err := ti.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	base := func() map[string]any {
		return map[string]any{"iss": testIss, "sub": "system:serviceaccount:default:my-app", "aud": STSAudience, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	}
	with := func(k string, v any) map[string]any {
		c := base()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	forged, _ := forger.Sign(base())
	// Swap the payload of a good token: signature no longer matches.
	parts := strings.Split(good, ".")
	other := strings.Split(mk(ti, with("sub", "system:serviceaccount:default:admin")), ".")
	spliced := parts[0] + "." + other[1] + "." + parts[2]

	cases := []struct {
		name, role, token string
		check             func(error) bool
	}{
		{"expired", roleApp, mk(ti, with("exp", now.Add(-time.Minute).Unix())), isType[*ststypes.ExpiredTokenException]},
		{"forged signature", roleApp, forged, isType[*ststypes.InvalidIdentityTokenException]},
		{"spliced payload", roleApp, spliced, isType[*ststypes.InvalidIdentityTokenException]},
		{"untrusted issuer", roleApp, mk(stranger, with("iss", "https://stranger.example")), isType[*ststypes.InvalidIdentityTokenException]},
		{"wrong audience", roleApp, mk(ti, with("aud", "pods.eks.amazonaws.com")), isType[*ststypes.InvalidIdentityTokenException]},
		{"no exp", roleApp, mk(ti, with("exp", nil)), isType[*ststypes.InvalidIdentityTokenException]},
		{"not yet valid", roleApp, mk(ti, with("nbf", now.Add(time.Hour).Unix())), isType[*ststypes.InvalidIdentityTokenException]},
		{"not a jwt", roleApp, "abc.def", isType[*ststypes.InvalidIdentityTokenException]},
		{"alg none", roleApp, "eyJhbGciOiJub25lIn0." + parts[1] + ".", isType[*ststypes.InvalidIdentityTokenException]},
		{"subject not trusted", roleApp, mk(ti, with("sub", "system:serviceaccount:default:intruder")), isCode("AccessDenied")},
		{"unknown role", "arn:aws:iam::111122223333:role/nope", good, isCode("AccessDenied")},
	}
	for _, c := range cases {
		_, err := assumeWithToken(t, srv, c.role, c.token)
		if !c.check(err) {
			t.Errorf("%s: unexpected %T %v", c.name, err, err)
		}
		if err != nil && strings.Contains(err.Error(), c.token) {
			t.Errorf("%s: error echoes the token", c.name)
		}
	}
	// Subject globs and aud lists.
	if _, err := assumeWithToken(t, srv, roleApp, mk(ti, with("sub", "system:serviceaccount:team-a:app"))); err != nil {
		t.Errorf("glob subject: %v", err)
	}
	if _, err := assumeWithToken(t, srv, roleApp, mk(ti, with("aud", []string{"x", STSAudience}))); err != nil {
		t.Errorf("aud list: %v", err)
	}
	calls := srv.Calls()
	if calls.Count("sts:AssumeRoleWithWebIdentity", "") != len(cases)+3 || calls.ByCode["InvalidIdentityToken"] != 8 {
		t.Errorf("calls %+v", calls.ByCode)
	}
}

func isType[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func isCode(code string) func(error) bool {
	return func(err error) bool {
		var ge *smithy.GenericAPIError
		return errors.As(err, &ge) && ge.Code == code
	}
}

func TestTrustIssuerKindsES256AndFetched(t *testing.T) {
	es, err := NewTokenIssuerES256("https://es.example")
	if err != nil {
		t.Fatal(err)
	}
	fetched, err := NewTokenIssuer("") // URL set below
	if err != nil {
		t.Fatal(err)
	}
	pemIss, err := NewTokenIssuer("https://pem.example")
	if err != nil {
		t.Fatal(err)
	}
	// An OIDC provider on loopback: discovery document + JWKS, counting fetches.
	var fetches int
	mux := http.NewServeMux()
	oidc := httptest.NewServer(mux)
	defer oidc.Close()
	fetched.Issuer = oidc.URL
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"issuer":"` + oidc.URL + `","jwks_uri":"` + oidc.URL + `/keys"}`))
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		fetches++
		_, _ = w.Write(fetched.JWKS())
	})

	keyFile := filepath.Join(t.TempDir(), "sa.pub")
	if err := os.WriteFile(keyFile, pemPublicKey(t, pemIss.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	st := testState(t)
	st.Issuers = []Issuer{{Issuer: pemIss.Issuer, PublicKeyFiles: []string{keyFile}, Audiences: []string{"custom-aud"}}}
	srv := startFake(t, st)
	if err := srv.TrustIssuer(es.Issuer, "", es.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := srv.TrustIssuerURL(fetched.Issuer, "", "", oidc.Client()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ti  *TokenIssuer
		aud string
	}{{es, STSAudience}, {fetched, STSAudience}, {pemIss, "custom-aud"}} {
		tok, err := c.ti.ServiceAccountToken("default", "my-app", c.aud, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := assumeWithToken(t, srv, roleApp, tok); err != nil {
			t.Errorf("%s: %v", c.ti.Issuer, err)
		}
	}
	tok, _ := pemIss.ServiceAccountToken("default", "my-app", STSAudience, time.Hour)
	if _, err := assumeWithToken(t, srv, roleApp, tok); !isType[*ststypes.InvalidIdentityTokenException](err) {
		t.Errorf("pem issuer with default audience: %v", err)
	}
	if fetches != 1 {
		t.Errorf("jwks fetched %d times, want 1", fetches)
	}
}

// TestIRSAEndToEnd runs the SDK's default credential chain with the IRSA environment: the web
// identity provider calls the fake STS, and the resulting session reads the secret.
func TestIRSAEndToEnd(t *testing.T) {
	ti, err := NewTokenIssuer(testIss)
	if err != nil {
		t.Fatal(err)
	}
	srv := startFake(t, webIdentityState(t, ti))
	isolateEnv(t)
	tok, err := ti.ServiceAccountToken("default", "my-app", STSAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ROLE_ARN", roleApp)
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
	t.Setenv("AWS_ROLE_SESSION_NAME", "irsa-test")
	// Env sets AWS_ENDPOINT_URL_STS too: without it the SDK's web identity provider ignores
	// AWS_ENDPOINT_URL and would call the real STS.
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	ctx := ctxT(t)
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryer(fastRetryer))
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	for i := 0; i < 3; i++ {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(aws.ToString(out.SecretString), "supersecretpassword") {
			t.Fatal("wrong value")
		}
	}
	// The role may not read other/*: AccessDenied names the assumed role.
	_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("other/secret")})
	var ge *smithy.GenericAPIError
	if !errors.As(err, &ge) || ge.Code != "AccessDeniedException" || !strings.Contains(ge.Message, "assumed-role/my-app/irsa-test") {
		t.Fatalf("outside globs: %v", err)
	}
	// Fixing the policy takes effect for the existing session.
	if err := srv.SetRoleAllow(roleApp, "my-app/*", "other/*"); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("other/secret")}); err != nil {
		t.Fatalf("after policy fix: %v", err)
	}
	calls := srv.Calls()
	if calls.Count("sts:AssumeRoleWithWebIdentity", roleApp) != 1 || calls.Count("secretsmanager:GetSecretValue", roleApp) != 5 {
		t.Errorf("calls %+v", calls.Calls)
	}
}

// TestClockMovesExpiry uses WithClock to age credentials and tokens without waiting.
func TestClockMovesExpiry(t *testing.T) {
	ti, err := NewTokenIssuer(testIss)
	if err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv := startFake(t, webIdentityState(t, ti), WithClock(clock))
	tok, err := ti.ServiceAccountToken("default", "my-app", STSAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, err := assumeWithToken(t, srv, roleApp, tok)
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	sm := secretsmanager.NewFromConfig(sessionConfig(t, srv, aws.Credentials{
		AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken),
	}, "us-east-1"))
	ctx := ctxT(t)
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(2 * time.Hour))
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}); errCode(err) != "ExpiredTokenException" {
		t.Fatalf("after 2h: %v", err)
	}
	if _, err := assumeWithToken(t, srv, roleApp, tok); !isType[*ststypes.ExpiredTokenException](err) {
		t.Fatalf("token after 2h: %v", err)
	}
	if srv.SessionCount() != 0 {
		t.Errorf("live sessions %d", srv.SessionCount())
	}
}

// TestIssuerFetchedOverTLSWithBearerToken configures an issuer the way the end-to-end harness
// trusts a kube-apiserver: JWKS URL over https with the API server's CA and a bearer token.
func TestIssuerFetchedOverTLSWithBearerToken(t *testing.T) {
	ti, err := NewTokenIssuer("https://kubernetes.default.svc")
	if err != nil {
		t.Fatal(err)
	}
	var unauthorized int
	apiserver := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/openid/v1/jwks" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer admin-token" {
			unauthorized++
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(ti.JWKS())
	}))
	defer apiserver.Close()
	dir := t.TempDir()
	caFile, tokenFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: apiserver.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("wrong-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := testState(t)
	st.Issuers = []Issuer{{Issuer: ti.Issuer, JWKSURL: apiserver.URL + "/openid/v1/jwks", CAFile: caFile, BearerTokenFile: tokenFile}}
	srv := startFake(t, st)
	tok, err := ti.ServiceAccountToken("default", "my-app", STSAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assumeWithToken(t, srv, roleApp, tok); !isCode("IDPCommunicationError")(err) && !isType[*ststypes.IDPCommunicationErrorException](err) {
		t.Fatalf("with a wrong bearer token: %v", err)
	}
	if unauthorized == 0 {
		t.Fatal("fetch did not reach the issuer")
	}
	// The token file is read on every fetch: fix it and wait out the refetch interval.
	if err := os.WriteFile(tokenFile, []byte("admin-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(jwksRefetchInterval + 100*time.Millisecond)
	if _, err := assumeWithToken(t, srv, roleApp, tok); err != nil {
		t.Fatalf("after fixing the token: %v", err)
	}
}
