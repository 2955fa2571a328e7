package injector

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// Retry delays of the first fill (jittered exponential backoff between them).
const (
	defaultMinBackoff = 250 * time.Millisecond
	defaultMaxBackoff = 10 * time.Second
)

// stageMountPath is the injector's own stage (before the core's pipeline runs).
const stageMountPath pipeline.Stage = "mount path"

// Error is a failed fill: the pipeline's failure (one line: the class, the
// stage, what failed and the fix; never a secret value) and how long the
// injector kept trying.
type Error struct {
	// Err is the failure of the last attempt.
	Err *pipeline.Error
	// Attempts is the number of attempts made (more than 1 after retries).
	Attempts int
	// Elapsed is the time spent.
	Elapsed time.Duration
}

// Error renders the failure on one line.
func (e *Error) Error() string {
	msg := e.Err.Error()
	if e.Attempts > 1 {
		// The attempts go before the fix, which ends the line.
		base, fix, ok := strings.Cut(msg, "; fix: ")
		msg = fmt.Sprintf("%s (gave up after %d attempts in %s)", base, e.Attempts, e.Elapsed.Round(100*time.Millisecond))
		if ok {
			msg += "; fix: " + fix
		}
	}
	return msg
}

// Unwrap returns the pipeline's failure.
func (e *Error) Unwrap() error { return e.Err }

// Reason implements reason.Reasoner.
func (e *Error) Reason() reason.Reason { return e.Err.Kind }

// firstFillGCPercent is the garbage collector's GOGC during the first fill.
const firstFillGCPercent = 400

// Run runs inject with validated options: the startup probe (Check), a
// one-shot fill, or a first fill followed by refreshes until ctx ends.
func Run(ctx context.Context, o *Options) error {
	if o.Check {
		return Check(o.MountPath)
	}
	log := logr.FromContextOrDiscard(ctx).WithValues("secretProviderClass", o.ClassName, "mountPath", o.MountPath)
	ctx = logr.NewContext(ctx, log)
	start := time.Now()
	restoreGC := lazyGC()
	in, err := newInjector(ctx, o)
	if err == nil {
		var n int
		if n, err = in.firstFill(ctx); err == nil {
			log.Info("secrets written", "files", n, "duration", time.Since(start).Round(time.Millisecond))
		}
	}
	restoreGC()
	if err != nil {
		writeTermination(o.terminationLog, err)
		return err
	}
	if o.RefreshInterval <= 0 {
		return nil
	}
	in.refreshLoop(ctx)
	return nil
}

// lazyGCMaxHeap is the heap in use above which lazyGC leaves the collector
// alone (a variable for tests).
var lazyGCMaxHeap uint64 = 8 << 20

// lazyGC makes the collector lazier for the first fill and returns the
// function that restores the setting (before the refresh loop). A one-shot
// process lives about 50 ms and allocates a few MB: at the default GOGC (100)
// its first collection comes at 4 MB of heap, mid-fill, and its mark workers
// cost 4-5 ms of CPU and some memory of their own. At firstFillGCPercent the
// heap may grow to 5x what is live before a collection, so a typical fill
// collects never and a large class is still bounded by what it holds live.
// A process whose heap is already larger than lazyGCMaxHeap when the fill
// starts would only hold 5x more garbage, and keeps the default; so does one
// whose GOGC the operator set.
func lazyGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(heap)
	if heap[0].Value.Kind() != metrics.KindUint64 || heap[0].Value.Uint64() > lazyGCMaxHeap {
		return func() {}
	}
	prev := debug.SetGCPercent(firstFillGCPercent)
	return func() { debug.SetGCPercent(prev) }
}

// Check is the startup probe: nil when dir holds a complete file set: ..data
// resolves to a generation and every top-level name has its link (a fill
// killed between the swap and the links is not ready).
func Check(dir string) error { return atomicdir.Verify(dir) }

// injector holds what one process needs across fills.
type injector struct {
	o    *Options
	pipe *pipeline.Pipeline
	req  pipeline.Request
	// write are the write options for the mount path (its group).
	write atomicdir.Options
	// interval is the refresh interval in force (the class may override the flag).
	interval time.Duration
}

// newInjector loads the AWS configuration, parses the class and checks the
// mount path: everything that needs no network and cannot get better by
// waiting. The pipeline acting as the process's own identity is the core's
// (pipeline.NewOwn), shared with the exec wrapper's fetch source.
func newInjector(ctx context.Context, o *Options) (*injector, error) {
	in := &injector{o: o, interval: o.RefreshInterval}
	own, err := pipeline.NewOwn(ctx, pipeline.OwnOptions{Class: o.ClassName, Params: o.Params, LoadConfig: o.loadConfig, Fetch: o.fetch})
	if err != nil {
		var pe *pipeline.Error
		if !errors.As(err, &pe) {
			pe = &pipeline.Error{Class: o.ClassName, Stage: pipeline.StageConfig, Kind: reason.Of(err), Err: err}
		}
		return nil, &Error{Err: pe, Attempts: 1}
	}
	if in.interval > 0 && own.Request.Spec.RefreshInterval > 0 {
		in.interval = own.Request.Spec.RefreshInterval
	}
	if in.write, err = checkDir(o.MountPath); err != nil {
		return nil, &Error{Err: &pipeline.Error{Class: o.ClassName, Stage: stageMountPath, Kind: reason.WriteFailed, Err: err,
			Fix: "mount a writable emptyDir (medium: Memory) at that path in this container"}, Attempts: 1}
	}
	in.pipe, in.req = own.Pipeline, own.Request
	return in, nil
}

// checkDir checks that dir is a directory this process may write, and returns
// the write options: the directory's group for the files when the directory
// is set-group-ID (an emptyDir with the pod's fsGroup) and we are in that group.
func checkDir(dir string) (atomicdir.Options, error) {
	var opts atomicdir.Options
	st, err := os.Stat(dir)
	if err != nil {
		return opts, err
	}
	if !st.IsDir() {
		return opts, fmt.Errorf("%s is not a directory", dir)
	}
	if err := syscall.Access(dir, 0x2|0x1); err != nil { // W_OK|X_OK
		return opts, fmt.Errorf("%s is not writable by uid %d: %w", dir, os.Geteuid(), err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && st.Mode()&fs.ModeSetgid != 0 {
		gid := int(sys.Gid)
		groups, _ := os.Getgroups()
		if gid == os.Getegid() || slices.Contains(groups, gid) {
			opts.GID = &gid
		}
	}
	return opts, nil
}

// fill runs the core's pipeline once, as the process's own identity, into
// the mount path. It returns the number of files and whether anything changed.
func (in *injector) fill(ctx context.Context) (n int, changed bool, err error) {
	res, changed, err := in.pipe.Deliver(ctx, in.req, in.o.MountPath, in.write)
	if err != nil {
		var pe *pipeline.Error
		if !errors.As(err, &pe) {
			pe = &pipeline.Error{Class: in.o.ClassName, Stage: pipeline.StageFetch, Kind: reason.Of(err), Err: err}
		}
		return 0, false, &Error{Err: pe, Attempts: 1}
	}
	return len(res.Files), changed, nil
}

// firstFill fills the directory, retrying transient failures with jittered
// exponential backoff until the deadline; permanent failures return at once.
func (in *injector) firstFill(ctx context.Context) (int, error) {
	log := logr.FromContextOrDiscard(ctx)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, in.o.Deadline)
	defer cancel()
	minB, maxB := in.o.minBackoff, in.o.maxBackoff
	if minB <= 0 {
		minB = defaultMinBackoff
	}
	if maxB <= 0 {
		maxB = defaultMaxBackoff
	}
	var last *Error
	for attempt := 1; ; attempt++ {
		n, _, err := in.fill(ctx)
		if err == nil {
			return n, nil
		}
		var e *Error
		if !errors.As(err, &e) {
			return 0, err
		}
		if ctx.Err() != nil && last != nil {
			// The deadline cut this attempt short: report what kept failing before.
			e = last
		}
		e.Attempts, e.Elapsed = attempt, time.Since(start)
		if !e.Err.Transient() || ctx.Err() != nil {
			return 0, e
		}
		wait := backoff(attempt, minB, maxB)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return 0, e
		}
		log.V(1).Info("transient failure, retrying", "attempt", attempt, "reason", e.Reason(), "retryIn", wait, "error", e.Err.Error())
		last = e
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			e.Elapsed = time.Since(start)
			return 0, e
		case <-t.C:
		}
	}
}

// backoff is the delay before attempt+1: "full jitter" exponential backoff.
func backoff(attempt int, minB, maxB time.Duration) time.Duration {
	d := minB << min(attempt-1, 20)
	if d > maxB || d <= 0 {
		d = maxB
	}
	return minB/2 + rand.N(d-minB/2+1) //nolint:gosec // jitter, not security
}

// refreshLoop refreshes every interval ± jitter until ctx ends, keeping the
// current files when a refresh fails.
func (in *injector) refreshLoop(ctx context.Context) {
	log := logr.FromContextOrDiscard(ctx)
	log.Info("refreshing", "interval", in.interval, "jitter", in.o.Jitter)
	for {
		t := time.NewTimer(jittered(in.interval, in.o.Jitter))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, in.o.Deadline)
		start := time.Now()
		n, changed, err := in.fill(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		var e *Error
		switch {
		case errors.As(err, &e):
			log.Error(err, "refresh failed, keeping the previous files", "reason", e.Reason(), "stage", e.Err.Stage)
		case err != nil:
			log.Error(err, "refresh failed, keeping the previous files", "reason", reason.Of(err))
		case changed:
			log.Info("secrets rotated", "files", n, "duration", time.Since(start).Round(time.Millisecond))
			if in.o.notify != nil {
				in.o.notify.notify(log)
			}
		default:
			log.V(1).Info("secrets unchanged", "files", n)
		}
	}
}

// jittered spreads d by ± j·d.
func jittered(d time.Duration, j float64) time.Duration {
	if j <= 0 {
		return d
	}
	f := 1 + j*(2*rand.Float64()-1) //nolint:gosec // jitter, not security
	return time.Duration(float64(d) * f)
}
