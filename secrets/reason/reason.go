// Package reason is the one vocabulary of failure reasons of the whole system:
// the label of every failure metric, the reason of every Kubernetes Event, the
// first word of every termination message and the source of every exit code.
// It is a leaf: every stage (spc, identity, awsfetch, extract, atomicdir) and
// every delivery path (mounter, injector, provider, exec, fetch) imports it,
// and it imports nothing of the project.
//
// A stage attaches its reason to the errors it returns, by implementing
// Reasoner or by wrapping with Wrap; Of reads it back. A new failure mode gets
// a new value here, never a private list in a delivery path.
package reason

import (
	"context"
	"errors"
)

// Reason is one failure reason; its string is stable (metric labels, Events).
type Reason string

// The reasons. Keep All in step.
const (
	// InvalidRequest: the caller's request is malformed (a CSI or provider
	// request without a target, a bad volume attribute, a bad env contract).
	InvalidRequest Reason = "InvalidRequest"
	// InvalidClass: the SecretProviderClass is missing or invalid.
	InvalidClass Reason = "InvalidSecretProviderClass"
	// NoIdentity: the pod has no usable AWS identity (no role annotation, no
	// token for the audience, node role not allowed).
	NoIdentity Reason = "NoIdentity"
	// CredentialsUnavailable: getting the identity's credentials failed for a
	// reason that may pass (STS or the Pod Identity agent unreachable or 5xx).
	CredentialsUnavailable Reason = "CredentialsUnavailable"
	// AccessDenied: AWS refused the identity (its token, trust policy, or the
	// read itself).
	AccessDenied Reason = "AccessDenied"
	// NotFound: the secret, parameter, version or label does not exist.
	NotFound Reason = "NotFound"
	// Decryption: AWS could not decrypt the value with its KMS key.
	Decryption Reason = "DecryptionFailure"
	// Throttled: AWS kept throttling after every retry.
	Throttled Reason = "Throttled"
	// AWSUnavailable: a 5xx, a network error, a malformed response or a
	// timeout after every retry (the failover trigger).
	AWSUnavailable Reason = "AWSUnavailable"
	// AWSError: AWS rejected the request for another reason.
	AWSError Reason = "AWSError"
	// InvalidValue: a fetched value does not fit the class (not JSON for a
	// jmesPath, a non-string result, a key that makes no file name).
	InvalidValue Reason = "InvalidSecretValue"
	// LimitExceeded: an input or result is over one of the bounds that keep
	// one volume from exhausting the process (value, response, class size,
	// object and file counts, JMESPath work).
	LimitExceeded Reason = "LimitExceeded"
	// KubernetesAPI: reading from the API server failed.
	KubernetesAPI Reason = "KubernetesAPI"
	// MountFailed: mounting or unmounting a volume failed.
	MountFailed Reason = "MountFailed"
	// WriteFailed: writing the file set failed (a full tmpfs, a read-only
	// directory); the previous files are kept.
	WriteFailed Reason = "WriteFailed"
	// Internal: a defect of this project.
	Internal Reason = "Internal"
)

// All lists every reason (for metrics: each label exists from the start).
var All = []Reason{InvalidRequest, InvalidClass, NoIdentity, CredentialsUnavailable, AccessDenied, NotFound,
	Decryption, Throttled, AWSUnavailable, AWSError, InvalidValue, LimitExceeded, KubernetesAPI, MountFailed,
	WriteFailed, Internal}

// Reasoner is an error that knows its reason.
type Reasoner interface{ Reason() Reason }

// Of returns the reason of err: "" for nil; the reason of the first Reasoner
// in its chain (errors.As); AWSUnavailable for a deadline or cancellation;
// Internal otherwise.
func Of(err error) Reason {
	if err == nil {
		return ""
	}
	var r Reasoner
	if errors.As(err, &r) {
		if rr := r.Reason(); rr != "" {
			return rr
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return AWSUnavailable
	}
	return Internal
}

// Wrap attaches r to err (nil stays nil); the message is err's.
func Wrap(r Reason, err error) error {
	if err == nil {
		return nil
	}
	return &wrapped{r: r, err: err}
}

type wrapped struct {
	r   Reason
	err error
}

func (w *wrapped) Error() string  { return w.err.Error() }
func (w *wrapped) Unwrap() error  { return w.err }
func (w *wrapped) Reason() Reason { return w.r }

// Transient reports whether waiting may help: throttling, an AWS or API
// server outage, credentials that could not be fetched yet.
func (r Reason) Transient() bool {
	switch r {
	case Throttled, AWSUnavailable, CredentialsUnavailable, KubernetesAPI:
		return true
	}
	return false
}

// Event reasons recorded on pods.
const (
	EventSecretFetchFailed   = "SecretFetchFailed"
	EventAccessDenied        = "AccessDenied"
	EventInvalidClass        = "InvalidSecretProviderClass"
	EventSecretRefreshFailed = "SecretRefreshFailed"
	// EventClassWarning: the volume is served, but its class has what the
	// AWS provider accepts and is likely a mistake (an unknown key).
	EventClassWarning = "SecretProviderClassWarning"
)

// Event is the pod Event reason of a failed first delivery with reason r
// (a failed refresh is always EventSecretRefreshFailed).
func (r Reason) Event() string {
	switch r {
	case InvalidClass:
		return EventInvalidClass
	case AccessDenied, NoIdentity:
		return EventAccessDenied
	}
	return EventSecretFetchFailed
}
