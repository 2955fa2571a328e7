package identity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/smithy-go"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/internal/awsguard"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// firstBackoff is the first retry delay; each next one doubles, up to Options.MaxBackoff.
const firstBackoff = 200 * time.Millisecond

// retryingProvider gets an identity's credentials from its (cached) provider,
// retrying what may pass with jittered backoff while the caller's context
// lasts, and classifies what fails into an *Error naming the identity.
//
// It sits in front of the aws.CredentialsCache, not behind it: the cache runs
// its provider with the caller's cancellation suppressed (and shares one
// retrieval among concurrent callers), so only out here does each caller's own
// deadline bound the retries. Each call behind the cache is bounded by the
// attempt timeout of its client.
type retryingProvider struct {
	who         string
	kind        Kind
	next        aws.CredentialsProvider
	maxAttempts int
	maxBackoff  time.Duration
}

func (r *Resolver) retrying(who string, kind Kind, next aws.CredentialsProvider) *retryingProvider {
	return &retryingProvider{who: who, kind: kind, next: next, maxAttempts: r.opts.MaxAttempts, maxBackoff: r.opts.MaxBackoff}
}

// Retrieve implements aws.CredentialsProvider.
//
//  1. Ask the provider (through its cache: usually a hit).
//  2. A refusal (AccessDenied) or an oversized answer is final.
//  3. What may pass is asked again after a jittered, doubling delay, until
//     maxAttempts or the caller's context ends; the error then says how many
//     attempts were made and what the last one met.
func (p *retryingProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	var last error
	for attempt := 1; ; attempt++ {
		creds, err := p.next.Retrieve(ctx)
		if err == nil {
			return creds, nil
		}
		var canceled *aws.RequestCanceledError
		if last == nil || !errors.As(err, &canceled) { // keep the cause, not "canceled while waiting"
			last = err
		}
		kind, fix := classify(p.kind, last)
		e := &Error{Identity: p.who, Kind: kind, Attempts: attempt, Fix: fix, Err: last}
		if !kind.Transient() || attempt >= p.maxAttempts || ctx.Err() != nil {
			return aws.Credentials{}, e
		}
		if err := sleep(ctx, jittered(firstBackoff<<min(attempt-1, 16), p.maxBackoff)); err != nil {
			return aws.Credentials{}, e
		}
	}
}

// jittered is a delay in [d/2, d], d capped at max.
func jittered(d, max time.Duration) time.Duration {
	d = min(d, max)
	return d/2 + rand.N(d/2+1) //nolint:gosec // jitter, not security
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Error codes of STS and the agent that refuse the identity for good.
var refusedCodes = map[string]bool{
	"InvalidIdentityToken": true, "InvalidIdentityTokenException": true, "ExpiredTokenException": true,
	"ExpiredToken": true, "IDPRejectedClaim": true, "IDPRejectedClaimException": true, "AccessDenied": true,
	"AccessDeniedException": true, "InvalidClientTokenId": true, "RegionDisabledException": true,
	"InvalidTokenException": true, "ValidationError": true, "ResourceNotFoundException": true,
}

// Error codes that may pass.
var passingCodes = map[string]bool{
	"IDPCommunicationError": true, "IDPCommunicationErrorException": true, "Throttling": true,
	"ThrottlingException": true, "RequestLimitExceeded": true, "TooManyRequestsException": true,
	"ServiceUnavailable": true, "ServiceUnavailableException": true, "InternalFailure": true,
	"InternalError": true, "InternalServerError": true, "RequestTimeout": true, "RequestTimeoutException": true,
}

// classify returns the reason of a failed retrieval and a fix when one helps:
//
//  1. an answer over its size limit: LimitExceeded;
//  2. a timed-out attempt, a malformed answer, no answer at all, a canceled
//     wait: CredentialsUnavailable;
//  3. by the error code (STS's query errors, the agent's {"code"}): refusals
//     are AccessDenied, throttling and outages CredentialsUnavailable;
//  4. by the HTTP status: 429 and 5xx CredentialsUnavailable, any other 4xx
//     AccessDenied (the agent answers 400/401/403 for a token it refuses);
//  5. anything else (a network error): CredentialsUnavailable.
func classify(kind Kind, err error) (reason.Reason, string) {
	var le *awsguard.LimitError
	if errors.As(err, &le) {
		return reason.LimitExceeded, ""
	}
	var at *awsguard.AttemptTimeoutError
	if errors.As(err, &at) || awsguard.Malformed(err) {
		return reason.CredentialsUnavailable, ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); {
		case passingCodes[code]:
			return reason.CredentialsUnavailable, ""
		case refusedCodes[code]:
			return reason.AccessDenied, refusalFix(kind, code)
		}
	}
	var hs interface{ HTTPStatusCode() int }
	if errors.As(err, &hs) {
		switch s := hs.HTTPStatusCode(); {
		case s == 429 || s >= 500 || s == 0:
			return reason.CredentialsUnavailable, ""
		case s >= 400:
			return reason.AccessDenied, refusalFix(kind, "")
		}
	}
	return reason.CredentialsUnavailable, ""
}

// refusalFix says what to check when STS or the agent refused an identity.
func refusalFix(kind Kind, code string) string {
	switch {
	case kind == KindPodIdentity:
		return "check the EKS Pod Identity association of the service account and that the pod's token has audience " + PodIdentityAudience
	case kind == KindAssumed:
		return "the assumed role's trust policy must allow the pod's own role to call sts:AssumeRole (with the class's " +
			"assumeRoleExternalId when it requires one), and the pod's role needs sts:AssumeRole on it"
	case kind != KindIRSA:
		return ""
	case code == "ExpiredTokenException" || code == "ExpiredToken":
		return "the pod's service account token expired: the kubelet sends a fresh one on the next mount attempt"
	case code == "InvalidIdentityToken" || code == "InvalidIdentityTokenException":
		return "register the cluster's OIDC issuer as an IAM identity provider and check the token audience (" + AnnotationAudience + ")"
	}
	return "the role's trust policy must allow the service account (sub system:serviceaccount:NAMESPACE:NAME) and the token's audience"
}

// agentProvider asks the Pod Identity agent at its first URL and, when that
// one cannot be reached (nothing listening yet, no route: a fresh node, an
// IPv6-only node), at the next. The URL that answered is asked first next time.
type agentProvider struct {
	urls      []string
	providers []*endpointcreds.Provider
	prefer    atomic.Int32
}

// Retrieve implements aws.CredentialsProvider.
func (p *agentProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	n := len(p.providers)
	start := int(p.prefer.Load())
	var errs []error
	for i := range n {
		k := (start + i) % n
		creds, err := p.providers[k].Retrieve(ctx)
		if err == nil {
			p.prefer.Store(int32(k)) //nolint:gosec // k indexes a list of two endpoints
			return creds, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.urls[k], err))
		if !unreachable(err) {
			break
		}
	}
	if len(errs) == 1 {
		return aws.Credentials{}, errs[0]
	}
	return aws.Credentials{}, errors.Join(errs...)
}

// unreachable reports whether err is a connection that could not be made.
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EADDRNOTAVAIL)
}
