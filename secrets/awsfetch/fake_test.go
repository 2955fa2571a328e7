package awsfetch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/extract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

const (
	userA   = "AKIDUSERA"
	secretA = "secret-a"
	userB   = "AKIDUSERB"
	secretB = "secret-b"
)

// startFake runs a fake AWS on loopback with user A (may read app/* and
// /app/*) and user B (only other/*), the seed secret and nSecrets app/sN secrets.
func startFake(t testing.TB, nSecrets int) *fakeaws.Server {
	t.Helper()
	st := fakeaws.State{
		Region: "us-east-1",
		Users: []fakeaws.User{
			{AccessKeyID: userA, SecretAccessKey: secretA, Allow: []string{"app/*", "/app/*", "my-app/*"}},
			{AccessKeyID: userB, SecretAccessKey: secretB, Allow: []string{"other/*"}},
		},
		Secrets: []fakeaws.Secret{
			{Name: "my-app/db-credentials", Value: `{"username":"admin","password":"supersecretpassword"}`},
			{Name: "app/versioned", Value: "v2", VersionID: "v2id",
				Versions: []fakeaws.SecretVersion{{ID: "v1id", Value: "v1", Stages: []string{"AWSPREVIOUS"}}}},
			{Name: "app/bin", Binary: []byte{0, 1, 2, 255}},
			{Name: "app/west-only", Value: "west", Regions: []string{"us-west-2"}},
			{Name: "other/x", Value: "x"},
		},
		Parameters: []fakeaws.Parameter{
			{Name: "/app/port", Value: "5432", Labels: []string{"prod"}, History: []fakeaws.ParameterVersion{{Value: "5431"}}},
			{Name: "/app/token", Value: "tok", Type: "SecureString"},
		},
	}
	for i := range nSecrets {
		st.Secrets = append(st.Secrets, fakeaws.Secret{Name: fmt.Sprintf("app/s%d", i), Value: fmt.Sprintf("value-%d", i)})
	}
	for i := range 12 {
		st.Parameters = append(st.Parameters, fakeaws.Parameter{Name: fmt.Sprintf("/app/p%d", i), Value: fmt.Sprintf("pv-%d", i)})
	}
	srv, err := fakeaws.New(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// sdkConfig is a real SDK config pointed at the fake, isolated from the host's files and env.
func sdkConfig(t testing.TB, url, region, akid, secret string) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(region),
		config.WithBaseEndpoint(url),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(akid, secret, "")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newFetcher(t *testing.T, srv *fakeaws.Server, opts awsfetch.Options) (*awsfetch.Fetcher, *awsfetch.Counters) {
	t.Helper()
	c := &awsfetch.Counters{}
	opts.Observer = c
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 20 * time.Millisecond
	}
	return awsfetch.New(sdkConfig(t, srv.URL(), "us-east-1", userA, secretA), opts), c
}

func spec(t *testing.T, params map[string]string) *spc.Spec {
	t.Helper()
	s, err := spc.Parse(params, spc.Options{DefaultRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func smObjects(names ...string) string {
	var b strings.Builder
	for i, n := range names {
		fmt.Fprintf(&b, "- {objectName: %q, objectType: secretsmanager, objectAlias: f%d}\n", n, i)
	}
	return b.String()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

var idA = awsfetch.Identity{Key: "user-a"}

func TestSeedSecretEndToEnd(t *testing.T) {
	srv := startFake(t, 0)
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	s := spec(t, map[string]string{"objects": `
- objectName: "my-app/db-credentials"
  objectType: "secretsmanager"
  jmesPath:
    - {path: "username", objectAlias: "db-user"}
    - {path: "password", objectAlias: "db-password"}
`})
	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	files, err := extract.Files(s, vals)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, fl := range files {
		got[fl.Path] = string(fl.Content.Bytes())
	}
	if got["db-user"] != "admin" || got["db-password"] != "supersecretpassword" {
		t.Fatalf("db-user=%q db-password=%q", got["db-user"], got["db-password"])
	}
	if vals[0].VersionID == "" || vals[0].Region != "us-east-1" || vals[0].Binary {
		t.Fatalf("metadata %+v", vals[0])
	}
}

func TestBatchingAndDedup(t *testing.T) {
	srv := startFake(t, 25)
	f, c := newFetcher(t, srv, awsfetch.Options{})
	names := make([]string, 0, 28)
	for i := range 25 {
		names = append(names, fmt.Sprintf("app/s%d", i))
	}
	// Duplicates of s0 and s1 under other aliases: read once.
	names = append(names, "app/s0", "app/s1")
	objs := smObjects(names...) + `- {objectName: app/versioned, objectType: secretsmanager, objectVersionLabel: AWSPREVIOUS, objectAlias: prev}` + "\n"
	s := spec(t, map[string]string{"objects": objs})
	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		if got := string(vals[i].Value.Bytes()); got != fmt.Sprintf("value-%d", i) {
			t.Fatalf("object %d = %q", i, got)
		}
	}
	if string(vals[25].Value.Bytes()) != "value-0" || string(vals[26].Value.Bytes()) != "value-1" {
		t.Fatal("duplicate objects got other values")
	}
	if got := string(vals[27].Value.Bytes()); got != "v1" {
		t.Fatalf("AWSPREVIOUS = %q, want v1", got)
	}
	calls := srv.Calls()
	// 25 plain distinct ids: two batches (20 + 5); the label read: one GetSecretValue.
	if b, g := calls.ByAPI["secretsmanager:BatchGetSecretValue"], calls.ByAPI["secretsmanager:GetSecretValue"]; b != 2 || g != 1 {
		t.Fatalf("fake saw %d batch and %d get calls, want 2 and 1", b, g)
	}
	if c.Calls(awsfetch.APIBatchGetSecretValue) != 2 || c.Calls(awsfetch.APIGetSecretValue) != 1 {
		t.Fatalf("observer saw %d batch, %d get", c.Calls(awsfetch.APIBatchGetSecretValue), c.Calls(awsfetch.APIGetSecretValue))
	}
}

func TestSameSecretSpelledTwiceInABatch(t *testing.T) {
	srv := startFake(t, 2)
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s1") +
		"- {objectName: app/s0, objectType: secretsmanager, objectVersionLabel: AWSCURRENT, objectAlias: cur}\n"})
	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[2].Value.Bytes()) != "value-0" || string(vals[0].Value.Bytes()) != "value-0" {
		t.Fatalf("values %q %q", vals[0].Value.Bytes(), vals[2].Value.Bytes())
	}
	calls := srv.Calls()
	if calls.ByAPI["secretsmanager:BatchGetSecretValue"] != 1 || calls.Total != 1 {
		t.Fatalf("calls %v, want one batch", calls.ByAPI)
	}
}

func TestSingleSecretUsesGetSecretValue(t *testing.T) {
	srv := startFake(t, 2)
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s0") +
		"- {objectName: app/versioned, objectType: secretsmanager, objectVersion: v1id, objectAlias: old}\n"})
	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[2].Value.Bytes()) != "v1" || vals[2].VersionID != "v1id" {
		t.Fatalf("pinned version: %q %q", vals[2].Value.Bytes(), vals[2].VersionID)
	}
	calls := srv.Calls()
	if calls.ByAPI["secretsmanager:BatchGetSecretValue"] != 0 || calls.ByAPI["secretsmanager:GetSecretValue"] != 2 {
		t.Fatalf("calls %v, want 2 GetSecretValue and no batch", calls.ByAPI)
	}
}

func TestBatchRefusedFallsBackAndIsRemembered(t *testing.T) {
	srv := startFake(t, 3)
	srv.SetFault(fakeaws.Fault{API: "secretsmanager:BatchGetSecretValue", ErrorCode: "AccessDeniedException",
		Message: "not authorized to perform: secretsmanager:BatchGetSecretValue"})
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s1", "app/s2")})
	for range 2 {
		vals, err := f.Fetch(ctx(t), s, idA)
		if err != nil {
			t.Fatal(err)
		}
		if string(vals[2].Value.Bytes()) != "value-2" {
			t.Fatal("wrong value after fallback")
		}
	}
	calls := srv.Calls()
	if b, g := calls.ByAPI["secretsmanager:BatchGetSecretValue"], calls.ByAPI["secretsmanager:GetSecretValue"]; b != 1 || g != 6 {
		t.Fatalf("batch %d, get %d; want the batch tried once, then 3 gets per fetch", b, g)
	}
	// Another identity still tries the batch.
	if _, err := f.Fetch(ctx(t), s, awsfetch.Identity{Key: "other"}); err != nil {
		t.Fatal(err)
	}
	if b := srv.Calls().ByAPI["secretsmanager:BatchGetSecretValue"]; b != 2 {
		t.Fatalf("batch calls %d, want 2", b)
	}
}

func TestBatchThrottledFallsBack(t *testing.T) {
	srv := startFake(t, 2)
	srv.SetFault(fakeaws.Fault{API: "secretsmanager:BatchGetSecretValue", Throttle: true})
	f, _ := newFetcher(t, srv, awsfetch.Options{MaxAttempts: 2})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s1")})
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	if b, g := calls.ByAPI["secretsmanager:BatchGetSecretValue"], calls.ByAPI["secretsmanager:GetSecretValue"]; b != 2 || g != 2 {
		t.Fatalf("batch %d (2 attempts), get %d; want 2 and 2", b, g)
	}
}

func TestPerIDErrors(t *testing.T) {
	srv := startFake(t, 2)
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "other/x", "app/missing")})
	_, err := f.Fetch(ctx(t), s, idA)
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, awsfetch.ErrAccessDenied) || !errors.Is(err, awsfetch.ErrNotFound) {
		t.Fatalf("error %v is not both access denied and not found", err)
	}
	var fe *awsfetch.FetchError
	if !errors.As(err, &fe) || len(fe.Errs) != 2 {
		t.Fatalf("want a FetchError with 2 objects, got %v", err)
	}
	if fe.Errs[0].Index != 1 || fe.Errs[0].Name != "other/x" || !errors.Is(fe.Errs[0].Kind, awsfetch.ErrAccessDenied) {
		t.Fatalf("first error %+v", fe.Errs[0])
	}
	if fe.Errs[1].Index != 2 || !errors.Is(fe.Errs[1].Kind, awsfetch.ErrNotFound) {
		t.Fatalf("second error %+v", fe.Errs[1])
	}
	msg := err.Error()
	for _, want := range []string{`objects[1] "other/x"`, `objects[2] "app/missing"`, "access denied", "not found"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "value-0") {
		t.Fatalf("error leaks a value: %s", msg)
	}
	if r := reason.Of(err); r != reason.AccessDenied {
		t.Fatalf("Reason = %q", r)
	}
	// The batch said AccessDenied for other/x: confirmed by GetSecretValue; not-found is final.
	calls := srv.Calls()
	if calls.ByAPI["secretsmanager:GetSecretValue"] != 1 {
		t.Fatalf("GetSecretValue calls %d, want 1 (the access-denied id only)", calls.ByAPI["secretsmanager:GetSecretValue"])
	}
}

func TestWrongSecretKeyIsAccessDenied(t *testing.T) {
	srv := startFake(t, 1)
	f := awsfetch.New(sdkConfig(t, srv.URL(), "us-east-1", userA, "wrong-secret"), awsfetch.Options{MaxBackoff: time.Millisecond})
	_, err := f.Fetch(ctx(t), spec(t, map[string]string{"objects": smObjects("app/s0")}), idA)
	if !errors.Is(err, awsfetch.ErrAccessDenied) || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("error %v, want access denied (InvalidSignatureException)", err)
	}
}

func TestThrottlingRetried(t *testing.T) {
	srv := startFake(t, 1)
	srv.SetFault(fakeaws.Fault{API: "secretsmanager:GetSecretValue", Throttle: true, Count: 2})
	f, c := newFetcher(t, srv, awsfetch.Options{})
	vals, err := f.Fetch(ctx(t), spec(t, map[string]string{"objects": smObjects("app/s0")}), idA)
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0].Value.Bytes()) != "value-0" {
		t.Fatal("wrong value")
	}
	if n := srv.Calls().ByAPI["secretsmanager:GetSecretValue"]; n != 3 {
		t.Fatalf("fake saw %d attempts, want 3 (2 throttled + 1)", n)
	}
	if n := c.Calls(""); n != 1 {
		t.Fatalf("observer saw %d operations, want 1", n)
	}

	// Throttled for good: ErrThrottled after MaxAttempts.
	srv.SetFault(fakeaws.Fault{API: "secretsmanager:GetSecretValue", Throttle: true})
	srv.ResetCalls()
	f2, _ := newFetcher(t, srv, awsfetch.Options{MaxAttempts: 3})
	_, err = f2.Fetch(ctx(t), spec(t, map[string]string{"objects": smObjects("app/s0")}), idA)
	if !errors.Is(err, awsfetch.ErrThrottled) || reason.Of(err) != reason.Throttled {
		t.Fatalf("error %v, want throttled", err)
	}
	if n := srv.Calls().ByAPI["secretsmanager:GetSecretValue"]; n != 3 {
		t.Fatalf("attempts %d, want 3", n)
	}
}

func TestContextBoundsRetries(t *testing.T) {
	srv := startFake(t, 1)
	srv.SetFault(fakeaws.Fault{API: "secretsmanager:GetSecretValue", ErrorCode: "InternalServiceError"})
	f, _ := newFetcher(t, srv, awsfetch.Options{MaxAttempts: 50, MaxBackoff: time.Second})
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.Fetch(c, spec(t, map[string]string{"objects": smObjects("app/s0")}), idA)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v, want a failure within the deadline", err, time.Since(start))
	}
}

func failoverSpec(t *testing.T, objs string) *spc.Spec {
	return spec(t, map[string]string{"region": "us-east-1", "failoverRegion": "us-west-2", "objects": objs})
}

func TestFailover(t *testing.T) {
	srv := startFake(t, 2)
	f, _ := newFetcher(t, srv, awsfetch.Options{MaxAttempts: 2})
	s := failoverSpec(t, smObjects("app/s0", "app/s1"))

	// Primary healthy: the failover region is never called.
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls().ByRegion["us-west-2"]; n != 0 {
		t.Fatalf("%d calls to the failover region while the primary works", n)
	}

	// Primary 5xx: served by the failover region.
	srv.SetFault(fakeaws.Fault{Region: "us-east-1", ErrorCode: "InternalServiceError"})
	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Region != "us-west-2" || string(vals[1].Value.Bytes()) != "value-1" {
		t.Fatalf("failover result %+v", vals[0])
	}
	if n := srv.Calls().ByRegion["us-west-2"]; n == 0 {
		t.Fatal("failover region not called")
	}

	// Primary 4xx: no failover.
	srv.ClearFaults()
	srv.SetFault(fakeaws.Fault{Region: "us-east-1", ErrorCode: "AccessDeniedException"})
	srv.ResetCalls()
	_, err = f.Fetch(ctx(t), s, awsfetch.Identity{Key: "fresh"})
	if !errors.Is(err, awsfetch.ErrAccessDenied) {
		t.Fatalf("error %v, want access denied", err)
	}
	if n := srv.Calls().ByRegion["us-west-2"]; n != 0 {
		t.Fatalf("%d failover calls after a 4xx", n)
	}
}

func TestFailoverObjectAndBothDown(t *testing.T) {
	srv := startFake(t, 1)
	f, _ := newFetcher(t, srv, awsfetch.Options{MaxAttempts: 1})
	s := failoverSpec(t, `
- objectName: app/s0
  objectType: secretsmanager
  objectAlias: db
  failoverObject: {objectName: app/west-only}
`)
	srv.SetFault(fakeaws.Fault{Region: "us-east-1", ErrorCode: "ServiceUnavailable", Status: 503})
	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0].Value.Bytes()) != "west" {
		t.Fatalf("failover object value %q, want west", vals[0].Value.Bytes())
	}
	srv.SetFault(fakeaws.Fault{Region: "us-west-2", ErrorCode: "InternalServiceError"})
	_, err = f.Fetch(ctx(t), s, idA)
	if !errors.Is(err, awsfetch.ErrUnavailable) || !strings.Contains(err.Error(), "us-west-2") || !strings.Contains(err.Error(), "primary region us-east-1") {
		t.Fatalf("error %v, want unavailable naming both regions", err)
	}
}

func TestNetworkErrorIsUnavailable(t *testing.T) {
	srv := startFake(t, 1)
	cfg := sdkConfig(t, srv.URL(), "us-east-1", userA, secretA)
	_ = srv.Close()
	f := awsfetch.New(cfg, awsfetch.Options{MaxAttempts: 2, MaxBackoff: time.Millisecond})
	_, err := f.Fetch(ctx(t), spec(t, map[string]string{"objects": smObjects("app/s0")}), idA)
	if !errors.Is(err, awsfetch.ErrUnavailable) || reason.Of(err) != reason.AWSUnavailable {
		t.Fatalf("error %v, want unavailable", err)
	}
}

func TestSSM(t *testing.T) {
	srv := startFake(t, 0)
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	var b strings.Builder
	for i := range 12 {
		fmt.Fprintf(&b, "- {objectName: /app/p%d, objectType: ssmparameter}\n", i)
	}
	b.WriteString(`- {objectName: /app/port, objectType: ssmparameter, objectVersion: "1", objectAlias: port-v1}
- {objectName: /app/port, objectType: ssmparameter, objectVersionLabel: prod, objectAlias: port-prod}
- {objectName: /app/port, objectType: ssmparameter, objectAlias: port}
- {objectName: /app/token, objectType: ssmparameter, objectAlias: token}
`)
	s := spec(t, map[string]string{"objects": b.String()})
	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if got := string(vals[i].Value.Bytes()); got != fmt.Sprintf("pv-%d", i) {
			t.Fatalf("p%d = %q", i, got)
		}
	}
	want := []string{"5431", "5432", "5432", "tok"}
	for k, w := range want {
		if got := string(vals[12+k].Value.Bytes()); got != w {
			t.Errorf("object %d = %q, want %q", 12+k, got, w)
		}
	}
	if vals[12].VersionID != "1" || vals[14].VersionID != "2" {
		t.Errorf("versions %q %q", vals[12].VersionID, vals[14].VersionID)
	}
	// 16 distinct names: two GetParameters calls (10 + 6).
	if n := srv.Calls().ByAPI["ssm:GetParameters"]; n != 2 {
		t.Fatalf("GetParameters calls %d, want 2", n)
	}

	_, err = f.Fetch(ctx(t), spec(t, map[string]string{"objects": `
- {objectName: /app/port, objectType: ssmparameter, objectVersion: "9"}
- {objectName: /app/nope, objectType: ssmparameter}
- {objectName: /app/p0, objectType: ssmparameter}
`}), idA)
	var fe *awsfetch.FetchError
	if !errors.As(err, &fe) || len(fe.Errs) != 2 || !errors.Is(fe.Errs[0].Kind, awsfetch.ErrNotFound) || fe.Errs[1].Index != 1 {
		t.Fatalf("error %v, want objects 0 and 1 not found", err)
	}
}

func TestBinary(t *testing.T) {
	srv := startFake(t, 0)
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	vals, err := f.Fetch(ctx(t), spec(t, map[string]string{"objects": smObjects("app/bin")}), idA)
	if err != nil {
		t.Fatal(err)
	}
	if !vals[0].Binary || string(vals[0].Value.Bytes()) != "\x00\x01\x02\xff" {
		t.Fatalf("binary %+v %q", vals[0], vals[0].Value.Bytes())
	}
}

func TestNoRegion(t *testing.T) {
	srv := startFake(t, 0)
	f := awsfetch.New(sdkConfig(t, srv.URL(), "", userA, secretA), awsfetch.Options{})
	s, err := spc.Parse(map[string]string{"objects": smObjects("app/s0")}, spc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Fetch(ctx(t), s, idA)
	if !errors.Is(err, awsfetch.ErrNoRegion) || !strings.Contains(err.Error(), "parameters.region") ||
		reason.Of(err) != reason.InvalidClass {
		t.Fatalf("error %v", err)
	}
}

func TestCacheIsolatesIdentitiesAndSharesFlights(t *testing.T) {
	srv := startFake(t, 3)
	now := time.Unix(1_000_000, 0)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	f, c := newFetcher(t, srv, awsfetch.Options{CacheTTL: time.Minute, Now: clock})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s1")})

	// 10 concurrent fetches by one identity, with latency so they overlap: one batch call.
	srv.SetFault(fakeaws.Fault{LatencyMS: 100})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			if _, err := f.Fetch(ctx(t), s, idA); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	srv.ClearFaults()
	if n := srv.Calls().Total; n != 1 {
		t.Fatalf("10 concurrent fetches made %d AWS calls, want 1", n)
	}
	if c.Hits() != 18 || c.Misses() != 2 {
		t.Fatalf("hits %d misses %d, want 18 and 2", c.Hits(), c.Misses())
	}

	// Identity B (other credentials, not allowed app/*) must not get A's cached values.
	credsB := credentials.NewStaticCredentialsProvider(userB, secretB, "")
	_, err := f.Fetch(ctx(t), s, awsfetch.Identity{Key: "user-b", Credentials: credsB})
	if !errors.Is(err, awsfetch.ErrAccessDenied) {
		t.Fatalf("identity B got %v, want access denied despite A's cache", err)
	}

	// Within the TTL A is served from the cache; after it, AWS is asked again.
	srv.ResetCalls()
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls().Total; n != 0 {
		t.Fatalf("%d calls within the TTL", n)
	}
	if _, err := srv.PutSecret("app/s0", "rotated"); err != nil {
		t.Fatal(err)
	}
	clockMu.Lock()
	now = now.Add(2 * time.Minute)
	clockMu.Unlock()
	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0].Value.Bytes()) != "rotated" || srv.Calls().Total != 1 {
		t.Fatalf("after TTL: %q with %d calls", vals[0].Value.Bytes(), srv.Calls().Total)
	}
}

var _ = secrets.Fetched{}

// TestFetchWithinBoundsCacheAge: a value shared from the cache carries the
// time of the read that filled the entry, and FetchWithin reads again an
// entry older than its maxAge, though the TTL still keeps it.
func TestFetchWithinBoundsCacheAge(t *testing.T) {
	srv := startFake(t, 2)
	read := time.Unix(2_000_000, 0)
	now := read
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); defer clockMu.Unlock(); now = now.Add(d) }
	f, _ := newFetcher(t, srv, awsfetch.Options{CacheTTL: 10 * time.Minute, Now: clock})
	s := spec(t, map[string]string{"objects": smObjects("app/s0")})

	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	if !vals[0].ReadAt.Equal(read) {
		t.Fatalf("ReadAt of a read from AWS: %s, want %s", vals[0].ReadAt, read)
	}
	advance(30 * time.Second)
	srv.ResetCalls()
	vals, err = f.FetchWithin(ctx(t), s, idA, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls().Total; n != 0 || !vals[0].ReadAt.Equal(read) {
		t.Fatalf("an entry 30 s old within maxAge 1m: %d AWS calls, ReadAt %s; want 0 calls and the first read's %s", n, vals[0].ReadAt, read)
	}
	if _, err := srv.PutSecret("app/s0", "rotated"); err != nil {
		t.Fatal(err)
	}
	advance(31 * time.Second)
	vals, err = f.FetchWithin(ctx(t), s, idA, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls().Total; n != 1 || string(vals[0].Value.Bytes()) != "rotated" || !vals[0].ReadAt.Equal(read.Add(61*time.Second)) {
		t.Fatalf("an entry 61 s old past maxAge 1m (TTL 10m): %d AWS calls, %q, ReadAt %s; want 1 call, the rotated value, read now",
			n, vals[0].Value.Bytes(), vals[0].ReadAt)
	}
	// The new read replaced the entry: a plain Fetch now gets it.
	if vals, err = f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	if string(vals[0].Value.Bytes()) != "rotated" || srv.Calls().Total != 1 {
		t.Fatalf("after the re-read, Fetch: %q with %d calls", vals[0].Value.Bytes(), srv.Calls().Total)
	}
}
