package awsfetch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/internal/awsguard"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Limits of the AWS APIs and defaults of Options.
const (
	// MaxBatchSecrets is the most ids one BatchGetSecretValue call takes.
	MaxBatchSecrets = 20
	// MaxSSMNames is the most names one GetParameters call takes.
	MaxSSMNames = 10
	// DefaultConcurrency bounds the AWS calls one Fetch runs at a time.
	DefaultConcurrency = 4
	// DefaultMaxAttempts is the SDK retryer's attempts per call (the first included).
	DefaultMaxAttempts = 5
	// DefaultMaxBackoff caps one retry delay.
	DefaultMaxBackoff = 5 * time.Second
	// DefaultAttemptTimeout bounds one attempt of an AWS call (send, wait, read the answer),
	// so one hung connection costs one attempt, not the caller's whole deadline.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultCacheMaxEntries bounds the cache.
	DefaultCacheMaxEntries = 10000
	// DefaultRevalidateWindow is how long past its read a cached value may be
	// revalidated (Options.Revalidate) instead of read anew.
	DefaultRevalidateWindow = 15 * time.Minute
	// refusedTTL is how long an identity refused BatchGetSecretValue or
	// DescribeSecret (AccessDenied) skips that API.
	refusedTTL = 15 * time.Minute
	// batchThrottledTTL is how long an identity whose BatchGetSecretValue was
	// throttled (after the SDK's retries) reads with GetSecretValue instead:
	// the batch API's quota is small (100 calls a second an account, not
	// adjustable) and shared by the whole fleet, GetSecretValue's is 100 times larger.
	batchThrottledTTL = time.Minute
)

// Identity is who reads: its credentials and the key that scopes the cache.
type Identity struct {
	// Key scopes cache entries: two identities with different keys never share
	// an entry. Use something that names the principal and the pod's
	// credentials source, e.g. "irsa:<role ARN>:<namespace>/<serviceaccount>",
	// or "node". An empty Key disables the cache for this identity.
	Key string
	// Credentials signs the requests; nil uses the base config's credentials.
	// The SDK clients do not cache it: pass an aws.CredentialsCache (or another
	// caching provider) so each Fetch does not retrieve credentials anew.
	Credentials aws.CredentialsProvider
}

// Options tune a Fetcher. The zero value is usable.
type Options struct {
	// Clients builds AWS clients; nil uses the SDK with the base config.
	Clients Clients
	// Observer receives call and cache events; nil discards them.
	Observer Observer
	// CacheTTL enables the cache when positive: values live this long.
	CacheTTL time.Duration
	// CacheMaxEntries bounds the cache (default DefaultCacheMaxEntries).
	CacheMaxEntries int
	// Concurrency bounds the AWS calls one Fetch runs at a time (default 4).
	Concurrency int
	// MaxAttempts is the SDK retryer's attempts per call (default 5).
	MaxAttempts int
	// MaxBackoff caps one retry delay (default 5s). The caller's context bounds the total.
	MaxBackoff time.Duration
	// AttemptTimeout bounds each attempt of an AWS call (default DefaultAttemptTimeout), inside
	// the caller's context: an attempt that runs out is retried like a 5xx.
	AttemptTimeout time.Duration
	// Revalidate, with the cache on, checks a cached value that is too old to
	// share (past CacheTTL or the caller's maxAge) but read within
	// RevalidateWindow with one DescribeSecret instead of reading it anew: when
	// the version it names is still the one the value came from, the value is
	// kept (and counts as read now); when it changed, it is read with
	// GetSecretValue; when AWS is unavailable to DescribeSecret, the value
	// fails as unavailable (so the failover region, if any, is read next);
	// when DescribeSecret fails otherwise, it is read as usual. A refresh then
	// reads only the secrets that changed, and
	// the fleet's steady polling lands on DescribeSecret's quota (40,000 calls a
	// second) instead of BatchGetSecretValue's (100). Secrets Manager only (SSM
	// values are read as usual). Needs secretsmanager:DescribeSecret; an
	// identity refused it reads as usual for 15 minutes.
	Revalidate bool
	// RevalidateWindow bounds how long past its last real read (GetSecretValue
	// or BatchGetSecretValue, not a version check) a value may be revalidated
	// (default DefaultRevalidateWindow; at least CacheTTL): each value is read
	// anew at least once a window, so a revoked permission (IAM, a resource
	// policy, the KMS key) stops a revalidated value within the window.
	RevalidateWindow time.Duration
	// Now replaces time.Now for cache expiry (tests).
	Now func() time.Time
}

// Fetcher reads secrets and parameters. It is safe for concurrent use; share
// one per process so the cache and the batch-permission memory are shared.
type Fetcher struct {
	baseRegion  string
	clients     Clients
	obs         Observer
	concurrency int
	now         func() time.Time
	cache       *cache
	revalidate  bool

	batchSkip      refusals // identity key → until when the batch API is skipped
	revalidateSkip refusals // identity key → until when DescribeSecret is skipped
}

// New returns a Fetcher using base for the SDK clients (its region is the
// default when the class names none).
func New(base aws.Config, opts Options) *Fetcher {
	f := &Fetcher{
		baseRegion:  base.Region,
		clients:     opts.Clients,
		obs:         opts.Observer,
		concurrency: opts.Concurrency,
		now:         opts.Now,
	}
	if f.obs == nil {
		f.obs = nopObserver{}
	}
	if f.concurrency <= 0 {
		f.concurrency = DefaultConcurrency
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.clients == nil {
		r := NewRetryer(opts.MaxAttempts, opts.MaxBackoff)
		at := opts.AttemptTimeout
		if at <= 0 {
			at = DefaultAttemptTimeout
		}
		base.HTTPClient = awsguard.StableBodies(base.HTTPClient)
		f.clients = &sdkClients{base: base, retryer: func() aws.Retryer { return r }, attemptTimeout: at}
	}
	if opts.CacheTTL > 0 {
		maxEntries := opts.CacheMaxEntries
		if maxEntries <= 0 {
			maxEntries = DefaultCacheMaxEntries
		}
		var keep time.Duration
		if opts.Revalidate {
			f.revalidate = true
			keep = opts.RevalidateWindow
			if keep <= 0 {
				keep = DefaultRevalidateWindow
			}
		}
		f.cache = newCache(opts.CacheTTL, keep, maxEntries, f.now)
	}
	return f
}

// NewRetryer returns the SDK standard retryer this package uses: jittered
// exponential backoff on throttling, 5xx and connection errors, malformed answers
// and timed-out attempts, maxAttempts attempts (default 5) with delays capped at
// maxBackoff (default 5s). Never retried: a body over its limit, and credentials
// the identity could not get (it retries what may pass itself, inside the
// caller's deadline). The client-side retry quota is off: attempts are bounded
// and so is the caller's context.
func NewRetryer(maxAttempts int, maxBackoff time.Duration) aws.Retryer {
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxBackoff
	}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
		o.RateLimiter = ratelimit.None
	}, awsguard.WithRetryables(retry.IsErrorRetryableFunc(noRetryCredentials), retry.IsErrorRetryableFunc(awsguard.Retryable)))
}

// noRetryCredentials refuses to retry a call whose credentials the identity could not get.
func noRetryCredentials(err error) aws.Ternary {
	if _, ok := credentialsFailure(err); ok {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// outcome is the result of reading one ref.
type outcome struct {
	val secrets.Fetched
	err *apiErr
	// revalidated: val is a cached value DescribeSecret confirmed, not a read.
	revalidated bool
}

// Fetch reads every object of spec with identity id and returns one Fetched
// per spec.Objects[i], in order. Each distinct Ref is read once. On any failure
// it returns no values and a *FetchError naming every failed object.
//
//  1. Resolve the region: spec.Region, else the base config's, else ErrNoRegion.
//  2. Read the distinct primary refs (cache, then batched AWS calls).
//  3. For objects whose primary read failed with ErrUnavailable (5xx or network)
//     and a failover region is set, read their FailoverRef there.
//  4. Map the outcomes back to the objects.
func (f *Fetcher) Fetch(ctx context.Context, spec *spc.Spec, id Identity) ([]secrets.Fetched, error) {
	return f.FetchWithin(ctx, spec, id, 0)
}

// FetchWithin is Fetch taking from the cache only values read less than
// maxAge ago (0: any entry the cache TTL keeps). A caller that refreshes
// every interval passes its interval, so a value shared from the cache is
// never older than one interval however long the TTL is; and it reads each
// value's ReadAt, so its next refresh is due one interval after the read
// that filled the entry, not after the refresh that found it. Pods of one
// identity then see a rotation within one interval of it (plus the caller's
// own scheduling), never nearly two.
func (f *Fetcher) FetchWithin(ctx context.Context, spec *spc.Spec, id Identity, maxAge time.Duration) ([]secrets.Fetched, error) {
	if spec == nil {
		return nil, errors.New("fetch: nil spec")
	}
	region := spec.Region
	if region == "" {
		region = f.baseRegion
	}
	if region == "" {
		return nil, ErrNoRegion
	}

	refs := make([]spc.Ref, 0, len(spec.Objects))
	seen := map[spc.Ref]bool{}
	for i := range spec.Objects {
		if r := spec.Objects[i].Ref(); !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	got := f.resolve(ctx, id, region, refs, maxAge)

	var failover map[spc.Ref]outcome
	if spec.FailoverRegion != "" && ctx.Err() == nil {
		var frefs []spc.Ref
		fseen := map[spc.Ref]bool{}
		for i := range spec.Objects {
			o := &spec.Objects[i]
			if oc := got[o.Ref()]; oc.err != nil && errors.Is(oc.err.kind, ErrUnavailable) && !fseen[o.FailoverRef()] {
				fseen[o.FailoverRef()] = true
				frefs = append(frefs, o.FailoverRef())
			}
		}
		if len(frefs) > 0 {
			failover = f.resolve(ctx, id, spec.FailoverRegion, frefs, maxAge)
		}
	}

	out := make([]secrets.Fetched, len(spec.Objects))
	var errs []*ObjectError
	for i := range spec.Objects {
		o := &spec.Objects[i]
		oc := got[o.Ref()]
		if oc.err == nil {
			out[i] = oc.val
			continue
		}
		oe := &ObjectError{Index: o.Index, Name: o.Name, Type: o.Type, Region: region, Kind: oc.err.kind, Err: oc.err.err}
		if foc, ok := failover[o.FailoverRef()]; ok && errors.Is(oc.err.kind, ErrUnavailable) {
			if foc.err == nil {
				out[i] = foc.val
				continue
			}
			oe.Region, oe.Kind = spec.FailoverRegion, foc.err.kind
			oe.Err = fmt.Errorf("%w (after primary region %s failed: %w)", foc.err.err, region, oc.err.err)
		}
		errs = append(errs, oe)
	}
	if len(errs) > 0 {
		return nil, &FetchError{Errs: errs}
	}
	return out, nil
}

// resolve reads refs in region, through the cache when it is enabled.
func (f *Fetcher) resolve(ctx context.Context, id Identity, region string, refs []spc.Ref, maxAge time.Duration) map[spc.Ref]outcome {
	if f.cache == nil || id.Key == "" {
		return f.fetchRefs(ctx, id, region, refs, nil)
	}
	out := make(map[spc.Ref]outcome, len(refs))
	hits, waits, own, prev, reread := f.cache.claim(id.Key, region, refs, maxAge)
	for ref, v := range hits {
		out[ref] = outcome{val: v}
		f.obs.Cache(true)
	}
	if len(own) > 0 {
		ownRefs := make([]spc.Ref, 0, len(own))
		for ref := range own {
			ownRefs = append(ownRefs, ref)
		}
		var res map[spc.Ref]outcome
		func() {
			// Always release the flights, so waiters never hang.
			defer func() {
				for ref, fl := range own {
					oc, ok := res[ref]
					if !ok {
						oc = outcome{err: kindError(ErrUnavailable, "fetch did not complete")}
					}
					f.cache.finish(cacheKey{id: id.Key, region: region, ref: ref}, fl, oc)
				}
			}()
			var settled map[spc.Ref]outcome
			var single map[spc.Ref]bool
			if f.revalidate {
				// With version checks, a refresh reads one by one, on
				// GetSecretValue's quota and not the batch API's (100 calls a
				// second an account, kept for first reads): what changed, and
				// what is read again because its window ended.
				single = reread
				if len(prev) > 0 && f.revalidateSkip.allowed(id.Key, f.now()) {
					var changed map[spc.Ref]bool
					settled, changed = f.revalidateRefs(ctx, id, region, prev)
					if single == nil {
						single = changed
					} else {
						maps.Copy(single, changed)
					}
				}
			}
			read := ownRefs
			if len(settled) > 0 {
				read = make([]spc.Ref, 0, len(ownRefs)-len(settled))
				for _, ref := range ownRefs {
					if _, ok := settled[ref]; !ok {
						read = append(read, ref)
					}
				}
			}
			res = settled
			if len(read) > 0 {
				res = f.fetchRefs(ctx, id, region, read, single)
				for ref, oc := range settled {
					res[ref] = oc
				}
			}
		}()
		for _, ref := range ownRefs {
			out[ref] = res[ref]
			f.obs.Cache(false)
		}
	}
	var again []spc.Ref
	for ref, fl := range waits {
		select {
		case <-fl.done:
			if fl.out.err != nil && errors.Is(fl.out.err.kind, ErrUnavailable) && ctx.Err() == nil {
				// The owner may have given up (its context ended): read it ourselves.
				again = append(again, ref)
				continue
			}
			out[ref] = fl.out
			f.obs.Cache(true)
		case <-ctx.Done():
			out[ref] = outcome{err: classified(ctx.Err())}
		}
	}
	if len(again) > 0 {
		for ref, oc := range f.fetchRefs(ctx, id, region, again, nil) {
			out[ref] = oc
		}
	}
	return out
}

// refusals remembers, per identity key, until when an API is skipped.
type refusals struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (r *refusals) allowed(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.m[key]
	if !ok {
		return true
	}
	if now.After(until) {
		delete(r.m, key)
		return true
	}
	return false
}

// skip skips the API for key until until (a later skip already recorded stands).
func (r *refusals) skip(key string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil || len(r.m) > 10000 {
		r.m = map[string]time.Time{}
	}
	if until.After(r.m[key]) {
		r.m[key] = until
	}
}

// results collects outcomes from concurrent calls.
type results struct {
	mu sync.Mutex
	m  map[spc.Ref]outcome
}

func (r *results) set(ref spc.Ref, oc outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[ref] = oc
}

// runBounded runs jobs with at most n at a time and waits for all.
func runBounded(n int, jobs []func()) {
	if len(jobs) == 1 {
		jobs[0]()
		return
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, job := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			job()
		}()
	}
	wg.Wait()
}

// fetchRefs reads refs from AWS in region: the plan of calls, run in two phases
// (phase two reads what phase one left: batch fallbacks and unmatched SSM
// names). Refs in single are read with GetSecretValue, never batched.
func (f *Fetcher) fetchRefs(ctx context.Context, id Identity, region string, refs []spc.Ref, single map[spc.Ref]bool) map[spc.Ref]outcome {
	res := &results{m: make(map[spc.Ref]outcome, len(refs))}
	began := f.now()
	var plain, pinned, params []spc.Ref
	for _, r := range refs {
		switch {
		case r.Type == spc.SSMParameter:
			params = append(params, r)
		case r.Version == "" && (r.VersionLabel == "" || r.VersionLabel == currentStage) && !single[r]:
			plain = append(plain, r)
		default:
			pinned = append(pinned, r)
		}
	}
	var smc SecretsManagerAPI
	if len(plain)+len(pinned) > 0 {
		smc = f.clients.SecretsManager(region, id.Credentials)
	}
	var ssmc SSMAPI
	if len(params) > 0 {
		ssmc = f.clients.SSM(region, id.Credentials)
	}

	var (
		mu        sync.Mutex
		fallback  []spc.Ref // Secrets Manager refs to read with GetSecretValue
		unmatched []spc.Ref // SSM refs to read one by one
		jobs      []func()
	)
	if len(plain) >= 2 && f.batchSkip.allowed(id.Key, f.now()) {
		for _, chunk := range chunks(plain, MaxBatchSecrets) {
			jobs = append(jobs, func() {
				fb := f.batchSM(ctx, smc, id.Key, region, chunk, res)
				mu.Lock()
				fallback = append(fallback, fb...)
				mu.Unlock()
			})
		}
	} else {
		pinned = append(pinned, plain...)
	}
	for _, r := range pinned {
		jobs = append(jobs, func() { res.set(r, f.getSM(ctx, smc, region, r)) })
	}
	for _, chunk := range chunks(params, MaxSSMNames) {
		jobs = append(jobs, func() {
			um := f.getSSM(ctx, ssmc, region, chunk, false, res)
			mu.Lock()
			unmatched = append(unmatched, um...)
			mu.Unlock()
		})
	}
	if len(jobs) > 0 {
		runBounded(f.concurrency, jobs)
	}

	jobs = jobs[:0]
	for _, r := range fallback {
		jobs = append(jobs, func() { res.set(r, f.getSM(ctx, smc, region, r)) })
	}
	for _, r := range unmatched {
		jobs = append(jobs, func() { f.getSSM(ctx, ssmc, region, []spc.Ref{r}, true, res) })
	}
	if len(jobs) > 0 {
		runBounded(f.concurrency, jobs)
	}
	for _, r := range refs {
		oc, ok := res.m[r]
		switch {
		case !ok: // a defect, never a silent empty value
			res.m[r] = outcome{err: kindError(errInternal, "no answer for this object")}
		case oc.err == nil:
			oc.val.ReadAt = began
			res.m[r] = oc
		}
	}
	return res.m
}

func chunks(refs []spc.Ref, n int) [][]spc.Ref {
	var out [][]spc.Ref
	for len(refs) > n {
		out = append(out, refs[:n:n])
		refs = refs[n:]
	}
	if len(refs) > 0 {
		out = append(out, refs)
	}
	return out
}

func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	return string(kindReason(classify(err)))
}
