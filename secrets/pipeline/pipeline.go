// Package pipeline is the one pipeline of the core, which every delivery path
// calls with no glue of its own: the mounter (CSI node plugin), the injector
// (init container and native sidecar), the provider (under the upstream
// Secrets Store CSI driver), the exec wrapper and the fetch command.
//
//	parameters → parse (spc) → identity (IRSA, Pod Identity, node role, the
//	process's own chain) → fetch (awsfetch: batched, cached per identity) →
//	extract (JMESPath, allKeys) → write (atomicdir: the ..data swap)
//
// Load runs the stages up to extract and returns the file set; Deliver also
// writes it. A failure is an *Error naming the class and the stage, carrying
// the failure's reason (package reason) and, where there is one, the fix.
// Delivery paths add only what is theirs: where the parameters come from (the
// API server, the env contract, a manifest), where the files go (a tmpfs, an
// emptyDir, a gRPC response, the environment) and their retry policy.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/extract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/region"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Resolver picks a pod's AWS identity, or the process's own (*identity.Resolver).
type Resolver interface {
	Resolve(ctx context.Context, req identity.Request) (identity.Identity, error)
	Own() (identity.Identity, error)
	Assume(base identity.Identity, ar identity.AssumeRole, session, region string) (identity.Identity, error)
}

// Pipeline holds the stages' shared state: one per process, so the identity
// cache, the node cache and the batch-permission memory are shared by every
// volume the process serves.
type Pipeline struct {
	// Identities resolves identities.
	Identities Resolver
	// Fetcher reads from AWS.
	Fetcher *awsfetch.Fetcher
}

// New returns a Pipeline over r and f.
func New(r Resolver, f *awsfetch.Fetcher) *Pipeline { return &Pipeline{Identities: r, Fetcher: f} }

// Request is one delivery.
type Request struct {
	// Class is "namespace/name" of the SecretProviderClass, for messages.
	Class string
	// Params are the class's spec.parameters. Ignored when Spec is set.
	Params map[string]string
	// Spec is the class already parsed (a caller that parsed it to read its
	// options, e.g. the refresh interval); nil parses Params with Parse.
	Spec *spc.Spec
	// Parse tunes parsing (the default region, strictness).
	Parse spc.Options
	// Pod is the pod to act as (its tokens and ServiceAccount); nil acts as the
	// process itself (its own credential chain).
	Pod *identity.Request
	// RegionLooked lists where the caller looked for a default region
	// (region.Result.Looked), for the error of a class that names none.
	RegionLooked []string
	// MaxAge bounds the age of a value shared from the node cache
	// (awsfetch.Fetcher.FetchWithin); 0 takes any entry the cache keeps.
	// A caller that refreshes every interval passes the interval.
	MaxAge time.Duration
}

// Result is what Load produced.
type Result struct {
	// Spec is the parsed class.
	Spec *spc.Spec
	// Warnings are the class's warnings (never errors).
	Warnings []*secrets.Problem
	// Identity is who read the values (its Key is safe to log).
	Identity identity.Identity
	// Files is the file set, in class order.
	Files []secrets.File
	// Versions are the objects' versions, one per object in class order.
	Versions []Version
	// ReadAt is when the oldest of the values was read from AWS (a value
	// shared from the node cache is as old as the read that filled the
	// entry): the file set is AWS's as of then. A refresh schedule counts
	// its interval from here.
	ReadAt time.Time
}

// Version is the version of one object that was read.
type Version struct {
	// ID names the object: its file name (objectAlias, or the translated objectName).
	ID string
	// Version is the Secrets Manager VersionId or the SSM parameter version.
	Version string
}

// Bytes is the total content size of the file set.
func (r *Result) Bytes() int64 {
	var n int64
	for _, f := range r.Files {
		n += int64(f.Content.Len())
	}
	return n
}

// Load runs parse → identity → fetch → extract. Nothing is written.
func (p *Pipeline) Load(ctx context.Context, req Request) (*Result, error) {
	res := &Result{Spec: req.Spec}
	// 1. Parse (unless the caller did).
	if res.Spec == nil {
		c := spc.Check(req.Params, req.Parse)
		res.Warnings = c.Warnings
		if err := c.Err(); err != nil {
			return nil, p.fail(req, StageParse, err)
		}
		res.Spec = c.Spec
	}
	s := res.Spec
	if s.Region == "" {
		return nil, p.fail(req, StageParse, region.NoRegion(req.RegionLooked))
	}
	// 2. Identity: the pod's, or the process's own, then the class's
	//    assumeRoleArn chained after it; the credentials are checked here so
	//    that a refused token (or trust policy) is told apart from a refused
	//    read, and so that no fetch, hence no cache read, happens for an
	//    identity that could not be had.
	var err error
	session := "aws-secrets-injector"
	if req.Pod != nil {
		pr := *req.Pod
		pr.UsePodIdentity, pr.Region, pr.PreferredAddressType = s.UsePodIdentity, s.Region, s.PreferredAddressType
		res.Identity, err = p.Identities.Resolve(ctx, pr)
		if err != nil && reason.Of(err) == reason.Internal {
			err = reason.Wrap(reason.NoIdentity, err)
		}
		session = identity.SessionName(pr.Namespace, pr.ServiceAccount)
	} else {
		res.Identity, err = p.Identities.Own()
	}
	if err == nil && s.AssumeRole != nil {
		if err = identity.Check(ctx, res.Identity); err == nil {
			res.Identity, err = p.Identities.Assume(res.Identity,
				identity.AssumeRole{ARN: s.AssumeRole.ARN, ExternalID: s.AssumeRole.ExternalID, Duration: s.AssumeRole.Duration}, session, s.Region)
		}
	}
	if err == nil {
		err = identity.Check(ctx, res.Identity)
	}
	if err != nil {
		return nil, p.fail(req, StageIdentity, err)
	}
	// 3. Fetch.
	vals, err := p.Fetcher.FetchWithin(ctx, s, awsfetch.Identity{Key: res.Identity.Key, Credentials: res.Identity.Credentials}, req.MaxAge)
	if err != nil {
		return nil, p.fail(req, StageFetch, err)
	}
	// 4. Extract.
	res.Files, err = extract.Files(s, vals)
	if err != nil {
		return nil, p.fail(req, StageExtract, err)
	}
	res.Versions = make([]Version, len(s.Objects))
	for i := range s.Objects {
		res.Versions[i] = Version{ID: s.Objects[i].FileName, Version: vals[i].VersionID}
		if res.ReadAt.IsZero() || vals[i].ReadAt.Before(res.ReadAt) {
			res.ReadAt = vals[i].ReadAt
		}
	}
	return res, nil
}

// Deliver runs Load and writes the file set into dir with the atomic writer.
// On any failure the files already in dir stay as they are. changed reports
// whether the write changed what dir serves.
func (p *Pipeline) Deliver(ctx context.Context, req Request, dir string, opts atomicdir.Options) (res *Result, changed bool, err error) {
	res, err = p.Load(ctx, req)
	if err != nil {
		return nil, false, err
	}
	changed, err = Write(req.Class, dir, res.Files, opts)
	if err != nil {
		return nil, false, err
	}
	return res, changed, nil
}

// Write is the write stage alone (for a caller that must do something between
// Load and the write, like mounting the tmpfs first).
func Write(class, dir string, files []secrets.File, opts atomicdir.Options) (bool, error) {
	changed, err := atomicdir.WriteWithOptions(dir, files, opts)
	if changed && errors.Is(err, atomicdir.ErrCleanup) {
		return true, nil // the new set is live; the next write removes what is left
	}
	if err != nil {
		if reason.Of(err) == reason.Internal {
			err = reason.Wrap(reason.WriteFailed, err)
		}
		return false, &Error{Class: class, Stage: StageWrite, Kind: reason.Of(err), Err: err,
			Fix: "check that the directory is writable and has room for the files (the volume's size limit)"}
	}
	return changed, nil
}

// Stage names a stage of the pipeline in messages.
type Stage string

// The stages.
const (
	StageParse    Stage = "parse"
	StageIdentity Stage = "get AWS credentials"
	StageFetch    Stage = "fetch"
	StageExtract  Stage = "extract"
	StageWrite    Stage = "write"
)

// Error is a failed delivery. Its message is one line: the class, the stage,
// what failed (object and field, or the AWS error) and the fix; never a
// secret value.
type Error struct {
	// Class is "namespace/name" of the SecretProviderClass, or "" when unknown.
	Class string
	// Stage is what failed.
	Stage Stage
	// Kind is the failure's reason.
	Kind reason.Reason
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
	if e.Stage != StageFetch && e.Stage != StageParse {
		b.WriteString(string(e.Stage) + ": ")
	}
	b.WriteString(e.Err.Error())
	if e.Fix != "" {
		b.WriteString("; fix: " + e.Fix)
	}
	return OneLine(b.String())
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Reason implements reason.Reasoner.
func (e *Error) Reason() reason.Reason { return e.Kind }

// Transient reports whether retrying may succeed: for a fetch, only when
// every failed object failed for a transient reason.
func (e *Error) Transient() bool {
	var fe *awsfetch.FetchError
	if e.Stage == StageFetch && errors.As(e.Err, &fe) && len(fe.Errs) > 0 {
		for _, oe := range fe.Errs {
			if !reason.Of(oe).Transient() {
				return false
			}
		}
		return true
	}
	return e.Kind.Transient()
}

// fail wraps a stage's error with its reason and fix.
func (p *Pipeline) fail(req Request, st Stage, err error) error {
	r := reason.Of(err)
	f := fix(st, r, req.Pod != nil)
	var ie *identity.Error
	if errors.As(err, &ie) && ie.Fix != "" {
		f = "" // the identity stage said precisely what to check
	}
	return &Error{Class: req.Class, Stage: st, Kind: r, Err: err, Fix: f}
}

// Advice for a failure to get credentials, acting as the process (its
// container's environment) or as a pod (its ServiceAccount).
const (
	ownCredentialsFix = "check the pod's AWS identity: for IRSA the service account's eks.amazonaws.com/role-arn annotation, " +
		"the role's trust policy and AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE in this container; for EKS Pod Identity the " +
		"association and AWS_CONTAINER_CREDENTIALS_FULL_URI/AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	podCredentialsFix = "check the pod's AWS identity: for IRSA the service account's eks.amazonaws.com/role-arn annotation " +
		"and the role's trust policy (the cluster's OIDC provider, the namespace and service account); for EKS Pod Identity " +
		"the association of the service account and that the Pod Identity agent runs on the node"
)

// fix is the advice for a failure of stage st with reason r ("" when the
// error already says it); pod tells a pod's identity from the process's own.
func fix(st Stage, r reason.Reason, pod bool) string {
	if st == StageIdentity {
		switch {
		case r == reason.NoIdentity:
			return "" // the identity stage says precisely what is missing
		case pod:
			return podCredentialsFix
		}
		return ownCredentialsFix
	}
	if st != StageFetch {
		return ""
	}
	switch r {
	case reason.NotFound:
		return "create the secret or parameter in that region, or correct objectName, objectVersion or objectVersionLabel in the SecretProviderClass"
	case reason.AccessDenied:
		return "allow secretsmanager:GetSecretValue (and BatchGetSecretValue) or ssm:GetParameters on it for the pod's IAM role (IRSA or Pod Identity)"
	case reason.Decryption:
		return "allow kms:Decrypt on the value's KMS key for the pod's IAM role"
	case reason.Throttled, reason.AWSUnavailable:
		return "check that this pod can reach the AWS endpoints (VPC endpoints, proxy, DNS), or allow more time"
	}
	return ""
}

// OneLine folds every run of whitespace containing a line break into one
// space, so a message is always one line (termination messages, Events).
func OneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	f := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return strings.Join(slices.DeleteFunc(f, func(s string) bool { return s == "" }), " ")
}
