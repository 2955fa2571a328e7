package injector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/go-logr/logr"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/extract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Retry delays of the first fill (jittered exponential backoff between them).
const (
	defaultMinBackoff = 250 * time.Millisecond
	defaultMaxBackoff = 10 * time.Second
)

// Steps of one fill, named in errors.
const (
	stepConfig    = "load AWS configuration"
	stepParse     = "parse"
	stepMountPath = "mount path"
	stepIdentity  = "get AWS credentials"
	stepFetch     = "fetch"
	stepExtract   = "extract"
	stepWrite     = "write"
)

// ReasonCredentials is the reason of a failure to get the pod's AWS credentials.
const ReasonCredentials = "CredentialsUnavailable"

// ReasonWrite is the reason of a failure to write into the mount path.
const ReasonWrite = "WriteFailed"

// Error is a failed fill. Its message is one line: the class, the step, what
// failed (object and field, or the AWS error) and the fix; never a secret value.
type Error struct {
	// Class is "namespace/name" of the SecretProviderClass, or "" when unknown.
	Class string
	// Step is what failed, e.g. "fetch".
	Step string
	// Reason is one of awsfetch.Reasons, ReasonCredentials or ReasonWrite.
	Reason string
	// Transient is true for throttling, 5xx and network failures, which are retried.
	Transient bool
	// Attempts is the number of attempts made (more than 1 after retries).
	Attempts int
	// Elapsed is the time spent.
	Elapsed time.Duration
	// Err is the underlying error.
	Err error
	// Fix says what to do, when Err does not already say it.
	Fix string
}

// Error renders the failure on one line.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Class != "" {
		fmt.Fprintf(&b, "SecretProviderClass %s: ", e.Class)
	}
	if e.Step != stepFetch && e.Step != stepParse {
		b.WriteString(e.Step + ": ")
	}
	b.WriteString(e.Err.Error())
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts in %s)", e.Attempts, e.Elapsed.Round(100*time.Millisecond))
	}
	if e.Fix != "" {
		b.WriteString("; fix: " + e.Fix)
	}
	return oneLine(b.String())
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// oneLine folds every run of whitespace containing a line break into one space.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	f := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return strings.Join(slices.DeleteFunc(f, func(s string) bool { return s == "" }), " ")
}

// Run runs inject with validated options: the startup probe (Check), a
// one-shot fill, or a first fill followed by refreshes until ctx ends.
func Run(ctx context.Context, o *Options) error {
	if o.Check {
		return Check(o.MountPath)
	}
	log := logr.FromContextOrDiscard(ctx).WithValues("secretProviderClass", o.ClassName, "mountPath", o.MountPath)
	ctx = logr.NewContext(ctx, log)
	start := time.Now()
	in, err := newInjector(ctx, o)
	if err != nil {
		return err
	}
	n, err := in.firstFill(ctx)
	if err != nil {
		return err
	}
	log.Info("secrets written", "files", n, "duration", time.Since(start).Round(time.Millisecond))
	if o.RefreshInterval <= 0 {
		return nil
	}
	in.refreshLoop(ctx)
	return nil
}

// Check is the startup probe: nil when dir holds a complete file set (its
// ..data link resolves to a directory).
func Check(dir string) error {
	p := filepath.Join(dir, atomicdir.DataLink)
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("not ready: %s does not exist yet (the first fill has not completed)", p)
		}
		return fmt.Errorf("not ready: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("not ready: %s is not a directory", p)
	}
	return nil
}

// injector holds what one process needs across fills.
type injector struct {
	o       *Options
	spec    *spc.Spec
	cfg     aws.Config
	fetcher *awsfetch.Fetcher
	write   atomicdir.Options
	// interval is the refresh interval in force (the class may override the flag).
	interval time.Duration
}

// newInjector loads the AWS configuration, parses the class and checks the
// mount path: everything that needs no network and cannot get better by waiting.
func newInjector(ctx context.Context, o *Options) (*injector, error) {
	in := &injector{o: o, interval: o.RefreshInterval}
	load := o.loadConfig
	if load == nil {
		load = func(ctx context.Context) (aws.Config, error) { return config.LoadDefaultConfig(ctx) }
	}
	cfg, err := load(ctx)
	if err != nil {
		return nil, &Error{Class: o.ClassName, Step: stepConfig, Reason: awsfetch.ReasonInternal, Err: err,
			Fix: "check the AWS_* environment variables and the shared config files of this container"}
	}
	in.cfg = cfg
	in.spec, err = spc.Parse(o.Params, spc.Options{DefaultRegion: cfg.Region})
	if err != nil {
		return nil, &Error{Class: o.ClassName, Step: stepParse, Reason: awsfetch.ReasonInvalidClass, Err: err}
	}
	if in.spec.Region == "" {
		return nil, &Error{Class: o.ClassName, Step: stepParse, Reason: awsfetch.ReasonInvalidClass, Err: awsfetch.ErrNoRegion}
	}
	if in.interval > 0 && in.spec.RefreshInterval > 0 {
		in.interval = in.spec.RefreshInterval
	}
	if in.write, err = checkDir(o.MountPath); err != nil {
		return nil, &Error{Class: o.ClassName, Step: stepMountPath, Reason: ReasonWrite, Err: err,
			Fix: "mount a writable emptyDir (medium: Memory) at that path in this container"}
	}
	in.fetcher = awsfetch.New(cfg, o.fetch)
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

// fill runs one complete pass: credentials, fetch, extract, write. It returns
// the number of files and whether anything changed on disk.
func (in *injector) fill(ctx context.Context) (n int, changed bool, err error) {
	fail := func(step, reason string, transient bool, err error, fix string) (int, bool, error) {
		return 0, false, &Error{Class: in.o.ClassName, Step: step, Reason: reason, Transient: transient, Err: err, Fix: fix, Attempts: 1}
	}
	if _, err := in.cfg.Credentials.Retrieve(ctx); err != nil {
		return fail(stepIdentity, ReasonCredentials, credentialsTransient(err), err, credentialsFix)
	}
	vals, err := in.fetcher.Fetch(ctx, in.spec, awsfetch.Identity{Key: ""})
	if err != nil {
		reason := awsfetch.Reason(err)
		return fail(stepFetch, reason, fetchTransient(err), err, fetchFix(reason))
	}
	files, err := extract.Files(in.spec, vals)
	if err != nil {
		return fail(stepExtract, awsfetch.Reason(err), false, err, "")
	}
	changed, err = atomicdir.WriteWithOptions(in.o.MountPath, files, in.write)
	if err != nil {
		return fail(stepWrite, ReasonWrite, false, err, "check that the mount path is a writable emptyDir (medium: Memory) with room for the files")
	}
	return len(files), changed, nil
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
		if !e.Transient || ctx.Err() != nil {
			return 0, e
		}
		wait := backoff(attempt, minB, maxB)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return 0, e
		}
		log.V(1).Info("transient failure, retrying", "attempt", attempt, "reason", e.Reason, "retryIn", wait, "error", e.Err.Error())
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
			log.Error(err, "refresh failed; keeping the current files", "reason", e.Reason, "step", e.Step)
		case err != nil:
			log.Error(err, "refresh failed; keeping the current files", "reason", awsfetch.ReasonInternal)
		case changed:
			log.Info("secrets rotated", "files", n, "duration", time.Since(start).Round(time.Millisecond))
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

const credentialsFix = "check the pod's AWS identity: for IRSA the service account's eks.amazonaws.com/role-arn annotation, " +
	"the role's trust policy and AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE in this container; for EKS Pod Identity the " +
	"association and AWS_CONTAINER_CREDENTIALS_FULL_URI/AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"

// credentialsTransient tells a failure to get credentials that may pass (no
// answer, throttling, 5xx) from one that will not (refused token, unreadable
// token file, no credential source): only failures recognisably of the network
// or of an overloaded service are transient.
func credentialsTransient(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		s := re.HTTPStatusCode()
		return s == 429 || s >= 500
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		c := ae.ErrorCode()
		return strings.Contains(c, "Throttl") || c == "TooManyRequestsException" || c == "IDPCommunicationError" ||
			strings.HasPrefix(c, "Internal") || strings.HasPrefix(c, "ServiceUnavailable")
	}
	var ne net.Error
	var se *smithyhttp.RequestSendError
	return errors.As(err, &se) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, context.DeadlineExceeded)
}

// fetchTransient is true when every object failed for a transient reason.
func fetchTransient(err error) bool {
	var fe *awsfetch.FetchError
	if errors.As(err, &fe) && len(fe.Errs) > 0 {
		for _, oe := range fe.Errs {
			if !errors.Is(oe.Kind, awsfetch.ErrThrottled) && !errors.Is(oe.Kind, awsfetch.ErrUnavailable) {
				return false
			}
		}
		return true
	}
	r := awsfetch.Reason(err)
	return r == awsfetch.ReasonThrottled || r == awsfetch.ReasonUnavailable
}

func fetchFix(reason string) string {
	switch reason {
	case awsfetch.ReasonNotFound:
		return "create the secret or parameter in that region, or correct objectName, objectVersion or objectVersionLabel in the SecretProviderClass"
	case awsfetch.ReasonAccessDenied:
		return "allow secretsmanager:GetSecretValue (and BatchGetSecretValue) or ssm:GetParameters on it for the pod's IAM role (IRSA or Pod Identity)"
	case awsfetch.ReasonDecryption:
		return "allow kms:Decrypt on the value's KMS key for the pod's IAM role"
	case awsfetch.ReasonThrottled, awsfetch.ReasonUnavailable:
		return "check that this pod can reach the AWS endpoints (VPC endpoints, proxy, DNS), or raise the deadline (" + EnvDeadline + ")"
	}
	return ""
}
