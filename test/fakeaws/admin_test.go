package fakeaws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	srv := startFake(t, testState(t))
	sm := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	ctx := ctxT(t)
	get := func() error {
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
		return err
	}
	srv.SetFault(Fault{API: "secretsmanager:GetSecretValue", Throttle: true, Count: 2})
	if err := get(); err != nil {
		t.Fatalf("after 2 throttles: %v", err)
	}
	calls := srv.Calls()
	if calls.Count("secretsmanager:GetSecretValue", "") != 3 || calls.ByCode["ThrottlingException"] != 2 {
		t.Fatalf("calls %+v", calls.Calls)
	}
	if len(srv.Faults()) != 0 {
		t.Fatalf("counted fault not used up: %+v", srv.Faults())
	}

	srv.ResetCalls()
	srv.SetFault(Fault{API: "secretsmanager:*", ErrorCode: "InternalServiceError", Count: 1})
	if err := get(); err != nil {
		t.Fatalf("after a 500: %v", err)
	}
	if c := srv.Calls(); c.Total != 2 || c.ByCode["InternalServiceError"] != 1 {
		t.Fatalf("calls %+v", c.Calls)
	}

	srv.ResetCalls()
	id := srv.SetFault(Fault{Throttle: true}) // every API, until removed
	err := get()
	if errCode(err) != "ThrottlingException" || srv.Calls().Total != 4 {
		t.Fatalf("persistent throttling: %v after %d calls", err, srv.Calls().Total)
	}
	_, err = sts.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errCode(err) != "Throttling" {
		t.Fatalf("sts throttling code: %v", err)
	}
	if !srv.RemoveFault(id) {
		t.Fatal("fault not removed")
	}

	// Non-retryable injected error, limited to one principal.
	srv.SetFault(Fault{Principal: "*:user/reader", ErrorCode: "AccessDeniedException"})
	if err := get(); err != nil {
		t.Fatalf("fault for another principal hit: %v", err)
	}
	reader := secretsmanager.NewFromConfig(staticConfig(t, srv, "AKIDREADER", "reader-secret", "us-east-1"))
	_, err = reader.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("shared/x")})
	if errCode(err) != "AccessDeniedException" {
		t.Fatalf("principal fault: %v", err)
	}
	srv.ClearFaults()

	// Probability: roughly half of 40 calls fail (binomial; outside [5,35] has p < 1e-6).
	srv.ResetCalls()
	srv.SetFault(Fault{ErrorCode: "AccessDeniedException", Probability: 0.5})
	failed := 0
	for i := 0; i < 40; i++ {
		if get() != nil {
			failed++
		}
	}
	if failed < 5 || failed > 35 {
		t.Errorf("probability 0.5 failed %d of 40", failed)
	}
}

func TestLatencyInjectionPerRegion(t *testing.T) {
	srv := startFake(t, testState(t))
	ctx := ctxT(t)
	east := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	west := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-west-2"))
	srv.SetFault(Fault{API: "secretsmanager:GetSecretValue", Region: "us-west-2", LatencyMS: 150})
	timeIt := func(c *secretsmanager.Client) time.Duration {
		start := time.Now()
		if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	if d := timeIt(west); d < 150*time.Millisecond {
		t.Errorf("west took %v, want >= 150ms", d)
	}
	if d := timeIt(east); d >= 150*time.Millisecond {
		t.Errorf("east took %v, want no injected latency", d)
	}
}

func adminDo(t *testing.T, srv *Server, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, srv.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestAdminHTTPAPI(t *testing.T) {
	srv := startFake(t, testState(t))
	sm := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	ctx := ctxT(t)
	if code, body := adminDo(t, srv, "GET", "/_fake/healthz", nil); code != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	code, body := adminDo(t, srv, "PUT", "/_fake/secrets", map[string]string{"name": "my-app/db-credentials", "value": "rotated-by-admin"})
	if code != 200 || !strings.Contains(string(body), `"versionId"`) {
		t.Fatalf("put secret %d %s", code, body)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
	if err != nil || aws.ToString(out.SecretString) != "rotated-by-admin" {
		t.Fatalf("after admin put: %v", err)
	}
	if code, body := adminDo(t, srv, "PUT", "/_fake/secrets", map[string]string{"name": "x", "valu": "typo"}); code != 400 {
		t.Errorf("unknown field: %d %s", code, body)
	}
	if code, _ := adminDo(t, srv, "POST", "/_fake/faults", Fault{API: "secretsmanager:GetSecretValue", ErrorCode: "InternalServiceError", Status: 503, Count: 10}); code != 200 {
		t.Fatalf("set fault %d", code)
	}
	code, body = adminDo(t, srv, "GET", "/_fake/faults", nil)
	var faults []Fault
	if err := json.Unmarshal(body, &faults); code != 200 || err != nil || len(faults) != 1 || faults[0].Count != 10 {
		t.Fatalf("faults %d %s", code, body)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}); errCode(err) != "InternalServiceError" {
		t.Fatalf("503 fault: %v", err)
	}
	if code, _ := adminDo(t, srv, "DELETE", "/_fake/faults", nil); code != 200 || len(srv.Faults()) != 0 {
		t.Fatalf("clear faults %d", code)
	}
	code, body = adminDo(t, srv, "GET", "/_fake/calls", nil)
	var stats CallStats
	if err := json.Unmarshal(body, &stats); code != 200 || err != nil {
		t.Fatalf("calls %d %s", code, body)
	}
	// 1 good call + 4 attempts against the 503 fault (the SDK retries 5xx).
	if stats.ByAPI["secretsmanager:GetSecretValue"] != 5 || stats.ByPrincipal["arn:aws:iam::111122223333:user/user-akidexample"] != 5 || stats.ByRegion["us-east-1"] != 5 || stats.Errors != 4 {
		t.Fatalf("stats %+v", stats)
	}
	if bytes.Contains(body, []byte("rotated-by-admin")) {
		t.Fatal("calls leak a value")
	}
	if code, _ := adminDo(t, srv, "POST", "/_fake/reset-calls", nil); code != 200 || srv.Calls().Total != 0 {
		t.Fatal("reset-calls")
	}
	// Fix a policy at run time.
	if code, body := adminDo(t, srv, "PUT", "/_fake/users", User{AccessKeyID: testAKID, SecretAccessKey: testSecret, Allow: []string{"*"}}); code != 200 {
		t.Fatalf("put user %d %s", code, body)
	}
	if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("other/secret")}); err != nil {
		t.Fatalf("after policy change: %v", err)
	}
	if code, _ := adminDo(t, srv, "PUT", "/_fake/roles", Role{ARN: "bad"}); code != 400 {
		t.Errorf("bad role accepted: %d", code)
	}
	if code, _ := adminDo(t, srv, "GET", "/_fake/nope", nil); code != 404 {
		t.Errorf("unknown route %d", code)
	}
	if code, _ := adminDo(t, srv, "POST", "/_fake/expire-sessions", nil); code != 200 {
		t.Errorf("expire-sessions %d", code)
	}
}

// TestCommand builds cmd/fakeaws, runs it on a state file, and stops it with SIGTERM.
func TestCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fakeaws")
	buildCtx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // cold caches in CI
	defer cancel()
	build := exec.CommandContext(buildCtx, "go", "build", "-o", bin, "./cmd/fakeaws")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	state := filepath.Join(t.TempDir(), "state.yaml")
	if err := os.WriteFile(state, []byte(seedYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctxT(t), bin, "--addr", "127.0.0.1:0", "--state", state, "--also-listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read ready line: %v (stderr %s)", err, stderr.String())
	}
	m := regexp.MustCompile(`^fakeaws ready on (http://127\.0\.0\.1:\d+)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("ready line %q", line)
	}
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, m[1]+"/_fake/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v (stderr %s)", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit 10s after SIGTERM")
	}

	bad := exec.CommandContext(ctxT(t), bin, "--state", filepath.Join(t.TempDir(), "missing.yaml"))
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "read state") {
		t.Fatalf("missing state file: %v %s", err, out)
	}
}

func TestTLSAndExtraListener(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeSelfSigned(t, certFile, keyFile)
	srv, err := New(testState(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.StartTLS("127.0.0.1:0", certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	extra, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") || !strings.HasPrefix(extra, "http://127.0.0.1:") {
		t.Fatalf("urls %s %s", srv.URL(), extra)
	}
	pool := x509.NewCertPool()
	pemData, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pemData)
	cfg := staticConfig(t, srv, testAKID, testSecret, "us-east-1")
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	ctx := ctxT(t)
	if _, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}); err != nil {
		t.Fatalf("over tls: %v", err)
	}
	plain := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint, o.HTTPClient = aws.String(extra), http.DefaultClient
	})
	if _, err := plain.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")}); err != nil {
		t.Fatalf("extra listener: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, extra+"/_fake/healthz", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatal("extra listener still serving after Close")
	}
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fakeaws"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCallsCounted(t *testing.T) {
	srv := startFake(t, testState(t))
	sm := secretsmanager.NewFromConfig(staticConfig(t, srv, testAKID, testSecret, "us-east-1"))
	ctx := ctxT(t)
	srv.SetFault(Fault{LatencyMS: 20})
	const n = 50
	errs := make(chan error, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("my-app/db-credentials")})
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Latency is per call, not serialized behind a lock.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("50 concurrent calls with 20 ms latency took %v", d)
	}
	if c := srv.Calls(); c.Total != n || c.Count("secretsmanager:GetSecretValue", "arn:aws:iam::111122223333:user/user-akidexample") != n {
		t.Errorf("calls %+v", c)
	}
}
