package injector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

func TestOneShotWritesFiles(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, seedObjects)
	if err := Check(o.MountPath); err == nil {
		t.Fatal("probe passed on an empty directory")
	}
	if err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	got := readFiles(t, o.MountPath)
	want := map[string]string{"db-user": "admin", "db-password": seedPassword, "db-port": "5432",
		"my-app_db-credentials": `{"username":"admin","password":"` + seedPassword + `"}`}
	if len(got) != len(want) {
		t.Errorf("files: got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if err := Check(o.MountPath); err != nil {
		t.Errorf("probe after the fill: %v", err)
	}
	// A second run with nothing changed rewrites nothing (same generation).
	before, _ := os.Readlink(filepath.Join(o.MountPath, atomicdir.DataLink))
	if err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Readlink(filepath.Join(o.MountPath, atomicdir.DataLink))
	if before == "" || before != after {
		t.Errorf("unchanged set was swapped: %q → %q", before, after)
	}
}

// failure runs a one-shot that must fail and returns its *Error after the common checks:
// one line, a fix, no secret value, nothing written.
func failure(t *testing.T, o *Options) (*Error, time.Duration) {
	t.Helper()
	start := time.Now()
	err := Run(t.Context(), o)
	elapsed := time.Since(start)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("message is not one line: %q", msg)
	}
	if strings.Contains(msg, seedPassword) || strings.Contains(msg, "admin") {
		t.Errorf("message leaks a value: %q", msg)
	}
	if !strings.Contains(msg, "fix: ") {
		t.Errorf("message has no fix: %q", msg)
	}
	if !strings.HasPrefix(msg, "SecretProviderClass default/my-spc: ") {
		t.Errorf("message does not name the class: %q", msg)
	}
	if names := entries(t, o.MountPath); len(names) != 0 {
		t.Errorf("wrote something on failure: %v", names)
	}
	return e, elapsed
}

func TestOneShotMissingSecretFailsAndWritesNothing(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, seedObjects+"- objectName: my-app/missing\n  objectType: secretsmanager\n")
	e, elapsed := failure(t, o)
	if e.Reason() != reason.NotFound || e.Err.Transient() || e.Attempts != 1 {
		t.Errorf("reason %s transient %v attempts %d", e.Reason(), e.Err.Transient(), e.Attempts)
	}
	if msg := e.Error(); !strings.Contains(msg, `objects[2] "my-app/missing"`) || !strings.Contains(msg, "create the secret") {
		t.Errorf("message should name the object and say the fix: %q", msg)
	}
	if elapsed > 5*time.Second {
		t.Errorf("not found took %s: it must not be retried", elapsed)
	}
}

func TestOneShotAccessDeniedFailsAtOnce(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, "- objectName: other-app/token\n  objectType: secretsmanager\n")
	o.Deadline = time.Minute
	e, elapsed := failure(t, o)
	if e.Reason() != reason.AccessDenied || e.Attempts != 1 {
		t.Errorf("reason %s attempts %d, want AccessDenied after 1 attempt", e.Reason(), e.Attempts)
	}
	if !strings.Contains(e.Error(), "other-app/token") || !strings.Contains(e.Error(), "IAM role") {
		t.Errorf("message: %q", e.Error())
	}
	if elapsed > 5*time.Second {
		t.Errorf("access denied took %s", elapsed)
	}
	// One fetch: at most the batch call and its per-object fallback, never repeated.
	st := fake.Calls()
	if n := st.ByCode["AccessDeniedException"]; n < 1 || n > 2 {
		t.Errorf("AccessDenied calls = %d, want 1 or 2 (no retries); calls %+v", n, st.Calls)
	}
}

func TestOneShotRetriesServerErrorsThenSucceeds(t *testing.T) {
	fake := startFake(t, testState())
	// MaxAttempts 1: the SDK does not retry, so 6 failures need several fills.
	fake.SetFault(fakeaws.Fault{API: "secretsmanager:*", ErrorCode: "InternalServiceError", Count: 6})
	fake.SetFault(fakeaws.Fault{API: "ssm:*", Throttle: true, Count: 2})
	o := testOptions(t, fake, seedObjects)
	if err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if got := readFiles(t, o.MountPath)["db-password"]; got != seedPassword {
		t.Errorf("db-password = %q", got)
	}
	st := fake.Calls()
	if st.ByCode["InternalServiceError"] != 6 {
		t.Errorf("InternalServiceError answers = %d, want all 6 used up by retries", st.ByCode["InternalServiceError"])
	}
	if len(fake.Faults()) != 0 {
		t.Errorf("faults left: %+v", fake.Faults())
	}
}

func TestOneShotGivesUpAtTheDeadline(t *testing.T) {
	fake := startFake(t, testState())
	fake.SetFault(fakeaws.Fault{API: "secretsmanager:*", ErrorCode: "ServiceUnavailable", Status: 503})
	o := testOptions(t, fake, seedObjects)
	o.Deadline = 700 * time.Millisecond
	e, elapsed := failure(t, o)
	if e.Reason() != reason.AWSUnavailable || !e.Err.Transient() || e.Attempts < 2 {
		t.Errorf("reason %s transient %v attempts %d", e.Reason(), e.Err.Transient(), e.Attempts)
	}
	if !strings.Contains(e.Error(), "gave up after") || !strings.Contains(e.Error(), "ServiceUnavailable") {
		t.Errorf("message: %q", e.Error())
	}
	if elapsed > 3*time.Second {
		t.Errorf("deadline 700ms but took %s", elapsed)
	}
}

func TestOneShotInvalidClassMakesNoCall(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, "- objectName: my-app/db\n  objectType: secretsmanager\n  objectAlias: ../escape\n")
	e, _ := failure(t, o)
	if e.Reason() != reason.InvalidClass || !strings.Contains(e.Error(), "objects[0].objectAlias") {
		t.Errorf("reason %s message %q", e.Reason(), e.Error())
	}
	if n := fake.Calls().Total; n != 0 {
		t.Errorf("%d AWS calls for an invalid class", n)
	}
}

func TestOneShotMissingMountPath(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, seedObjects)
	o.MountPath = filepath.Join(o.MountPath, "absent")
	err := Run(t.Context(), o)
	var e *Error
	if !errors.As(err, &e) || e.Err.Stage != stageMountPath || !strings.Contains(err.Error(), "emptyDir") {
		t.Fatalf("got %v", err)
	}
	if n := fake.Calls().Total; n != 0 {
		t.Errorf("%d AWS calls before the mount path was checked", n)
	}
}

func TestRefreshRotatesKeepsOldFilesOnFailureAndStops(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, seedObjects)
	o.RefreshInterval = 50 * time.Millisecond
	o.Jitter = 0.2
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()

	pw := func() string { return readFiles(t, o.MountPath)["db-password"] }
	waitFor(t, 5*time.Second, "first fill", func() bool { return Check(o.MountPath) == nil })
	if pw() != seedPassword {
		t.Fatalf("db-password = %q", pw())
	}
	link := func() string { l, _ := os.Readlink(filepath.Join(o.MountPath, atomicdir.DataLink)); return l }
	first := link()

	// Unchanged values: several refreshes, no swap.
	calls := fake.Calls().Total
	waitFor(t, 5*time.Second, "three refreshes", func() bool { return fake.Calls().Total >= calls+3 })
	if link() != first {
		t.Errorf("unchanged set swapped: %s → %s", first, link())
	}

	// Rotation shows up.
	if _, err := fake.PutSecret("my-app/db-credentials", `{"username":"admin","password":"rotated-1"}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "rotation", func() bool { return pw() == "rotated-1" })
	if link() == first {
		t.Error("rotation did not swap the generation")
	}

	// Failing refreshes keep the current files.
	fake.SetFault(fakeaws.Fault{API: "*", ErrorCode: "AccessDeniedException"})
	if _, err := fake.PutSecret("my-app/db-credentials", `{"username":"admin","password":"rotated-2"}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "three failed refreshes", func() bool { return fake.Calls().ByCode["AccessDeniedException"] >= 3 })
	if got := pw(); got != "rotated-1" {
		t.Errorf("after failed refreshes db-password = %q, want the old value kept", got)
	}
	if Check(o.MountPath) != nil {
		t.Error("probe fails while old files are kept")
	}
	fake.ClearFaults()
	waitFor(t, 5*time.Second, "recovery", func() bool { return pw() == "rotated-2" })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRefreshFirstFillFailureIsFatal(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, "- objectName: my-app/missing\n  objectType: secretsmanager\n")
	o.RefreshInterval = time.Second
	done := make(chan error, 1)
	go func() { done <- Run(t.Context(), o) }()
	select {
	case err := <-done:
		if reason.Of(err) != reason.NotFound {
			t.Errorf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("refresh mode kept running although the first fill failed")
	}
}

func TestCheckDirGroup(t *testing.T) {
	dir := t.TempDir()
	opts, err := checkDir(dir)
	if err != nil || opts.GID != nil {
		t.Fatalf("plain dir: %+v %v", opts, err)
	}
	if err := os.Chmod(dir, os.ModeSetgid|0o775); err != nil {
		t.Fatal(err)
	}
	opts, err = checkDir(dir)
	if err != nil || opts.GID == nil || *opts.GID != os.Getegid() {
		t.Fatalf("set-group-ID dir of our group: %+v %v", opts, err)
	}
	if _, err := checkDir(filepath.Join(dir, "nope")); err == nil {
		t.Error("missing dir accepted")
	}
}

func TestBackoffAndJitterBounds(t *testing.T) {
	for attempt := 1; attempt < 40; attempt++ {
		d := backoff(attempt, 100*time.Millisecond, time.Second)
		if d < 50*time.Millisecond || d > time.Second {
			t.Fatalf("backoff(%d) = %s out of [50ms, 1s]", attempt, d)
		}
	}
	for range 1000 {
		d := jittered(time.Second, 0.1)
		if d < 900*time.Millisecond || d > 1100*time.Millisecond {
			t.Fatalf("jittered = %s", d)
		}
	}
	if jittered(time.Second, 0) != time.Second {
		t.Error("zero jitter changed the interval")
	}
}

func TestClassRefreshIntervalAppliesOnlyInRefreshMode(t *testing.T) {
	fake := startFake(t, testState())
	for _, c := range []struct{ flag, want time.Duration }{{time.Minute, 5 * time.Second}, {0, 0}} {
		o := testOptions(t, fake, seedObjects)
		o.Params["refreshInterval"] = "5s"
		o.RefreshInterval = c.flag
		in, err := newInjector(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if in.interval != c.want {
			t.Errorf("flag %s: interval %s, want %s", c.flag, in.interval, c.want)
		}
	}
}

// TestNoRegionNamesEveryPlace: a class without a region in a container
// without AWS_REGION, IMDS disabled: the error names every place looked.
func TestNoRegionNamesEveryPlace(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, seedObjects)
	load := o.loadConfig
	o.loadConfig = func(ctx context.Context) (aws.Config, error) {
		cfg, err := load(ctx)
		cfg.Region = ""
		return cfg, err
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	err := Run(t.Context(), o)
	if reason.Of(err) != reason.InvalidClass {
		t.Fatalf("reason %s: %v", reason.Of(err), err)
	}
	for _, want := range []string{"parameters.region", "AWS_REGION (not set)", "instance metadata service (not allowed)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	if n := fake.Calls().Total; n != 0 {
		t.Errorf("%d AWS calls without a region", n)
	}
}

// TestFailureGoesToTheTerminationMessage: the one line, reason first, in the
// container's termination message, without a value; a success leaves it empty.
func TestFailureGoesToTheTerminationMessage(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, "- objectName: other-app/token\n  objectType: secretsmanager\n")
	o.terminationLog = filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(o.terminationLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Run(t.Context(), o)
	b, rerr := os.ReadFile(o.terminationLog)
	if err == nil || rerr != nil {
		t.Fatalf("run %v, read %v", err, rerr)
	}
	msg := string(b)
	if !strings.HasPrefix(msg, "AccessDenied: SecretProviderClass default/my-spc: ") || !strings.Contains(msg, "other-app/token") ||
		!strings.Contains(msg, "fix: ") || strings.ContainsAny(msg, "\n") {
		t.Errorf("termination message %q", msg)
	}
	ok := testOptions(t, fake, seedObjects)
	ok.terminationLog = filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(ok.terminationLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Run(t.Context(), ok); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(ok.terminationLog); len(b) != 0 {
		t.Errorf("termination message after a success: %q", b)
	}
}

// TestRestartRepairsLinks: an injector killed between the swap and the links
// (an OOM kill) left db-user missing; the probe says not ready, and the next
// run, with the content unchanged, repairs the links without a new generation.
func TestRestartRepairsLinks(t *testing.T) {
	fake := startFake(t, testState())
	o := testOptions(t, fake, seedObjects)
	if err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	gen, _ := os.Readlink(filepath.Join(o.MountPath, atomicdir.DataLink))
	if err := os.Remove(filepath.Join(o.MountPath, "db-user")); err != nil {
		t.Fatal(err)
	}
	if err := Check(o.MountPath); err == nil {
		t.Fatal("probe ready with db-user missing")
	}
	if err := Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if err := Check(o.MountPath); err != nil {
		t.Fatalf("probe after the rerun: %v", err)
	}
	if got := readFiles(t, o.MountPath)["db-user"]; got != "admin" {
		t.Errorf("db-user = %q after the rerun", got)
	}
	if again, _ := os.Readlink(filepath.Join(o.MountPath, atomicdir.DataLink)); again != gen {
		t.Errorf("unchanged content rewrote the generation: %s → %s", gen, again)
	}
}

// gcPercent reads the collector's GOGC setting (SetGCPercent is its only reader).
func gcPercent() int {
	v := debug.SetGCPercent(100)
	debug.SetGCPercent(v)
	return v
}

// TestFirstFillGCIsLazyAndRestored: the first fill runs at
// firstFillGCPercent and the setting is back afterwards, in one-shot and when
// the fill fails; a GOGC in the environment, or a heap already larger than
// lazyGCMaxHeap, leaves it alone.
func TestFirstFillGCIsLazyAndRestored(t *testing.T) {
	gogc, hadGOGC := os.LookupEnv("GOGC")
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if hadGOGC {
			_ = os.Setenv("GOGC", gogc)
		}
	})
	const before = 123
	defer debug.SetGCPercent(debug.SetGCPercent(before))
	defer func(v uint64) { lazyGCMaxHeap = v }(lazyGCMaxHeap)
	fake := startFake(t, testState())
	const noBar = 1 << 40 // the test process's heap is not the injector's: no bar
	for _, tc := range []struct {
		name    string
		objects string
		env     bool
		maxHeap uint64
		during  int
	}{
		{"one-shot", seedObjects, false, noBar, firstFillGCPercent},
		{"failed fill", seedObjects + "- {objectName: my-app/missing, objectType: secretsmanager}\n", false, noBar, firstFillGCPercent},
		{"invalid class", "- {objectName: a, objectType: nosuchtype}\n", false, noBar, firstFillGCPercent},
		{"GOGC set", seedObjects, true, noBar, before},
		{"heap already large", seedObjects, false, 1, before},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env {
				t.Setenv("GOGC", "123")
			}
			lazyGCMaxHeap = tc.maxHeap
			o := testOptions(t, fake, tc.objects)
			load := o.loadConfig
			during := 0
			o.loadConfig = func(ctx context.Context) (aws.Config, error) {
				during = gcPercent()
				return load(ctx)
			}
			_ = Run(t.Context(), o)
			if during != tc.during {
				t.Errorf("GOGC during the first fill: %d, want %d", during, tc.during)
			}
			if after := gcPercent(); after != before {
				t.Errorf("GOGC after Run: %d, want %d restored", after, before)
			}
		})
	}
}
