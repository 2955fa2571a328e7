package awsfetch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Error kinds, usable with errors.Is on any error Fetch returns.
var (
	// ErrNotFound: the secret, parameter, version or label does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAccessDenied: the identity may not read the object (or its credentials were refused).
	ErrAccessDenied = errors.New("access denied")
	// ErrDecryption: AWS could not decrypt the value with its KMS key.
	ErrDecryption = errors.New("decryption failure")
	// ErrThrottled: AWS kept throttling after every retry.
	ErrThrottled = errors.New("throttled by AWS")
	// ErrUnavailable: a 5xx or network error after every retry (the failover trigger).
	ErrUnavailable = errors.New("AWS unavailable")
	// ErrRequest: AWS rejected the request for another reason (a 4xx not listed above).
	ErrRequest = errors.New("request rejected by AWS")
	// ErrNoRegion: neither the SecretProviderClass nor the environment names a region.
	ErrNoRegion = errors.New("no AWS region: set parameters.region in the SecretProviderClass or AWS_REGION")
)

// errInternal marks a defect of this package (Reason: Internal).
var errInternal = errors.New("internal error")

// Reasons: the fixed set Reason returns, for metrics labels and Kubernetes events.
const (
	ReasonNotFound     = "NotFound"
	ReasonAccessDenied = "AccessDenied"
	ReasonDecryption   = "DecryptionFailure"
	ReasonThrottled    = "Throttled"
	ReasonUnavailable  = "AWSUnavailable"
	ReasonAWSError     = "AWSError"
	ReasonInvalidClass = "InvalidSecretProviderClass"
	ReasonInvalidValue = "InvalidSecretValue"
	ReasonInternal     = "Internal"
)

// Reasons lists every value Reason can return (besides "" for a nil error).
var Reasons = []string{ReasonNotFound, ReasonAccessDenied, ReasonDecryption, ReasonThrottled, ReasonUnavailable,
	ReasonAWSError, ReasonInvalidClass, ReasonInvalidValue, ReasonInternal}

// Reason maps an error of the pipeline (parse, fetch, extract, write) to one of
// Reasons: "" for nil, the first kind found for an error naming several objects.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var oe *ObjectError
	if errors.As(err, &oe) {
		return kindReason(oe.Kind)
	}
	var inv *spc.InvalidError
	if errors.As(err, &inv) || errors.Is(err, ErrNoRegion) {
		return ReasonInvalidClass
	}
	var r reason.Reasoner
	if errors.As(err, &r) {
		return string(r.Reason())
	}
	for _, k := range []error{ErrNotFound, ErrAccessDenied, ErrDecryption, ErrThrottled, ErrUnavailable, ErrRequest} {
		if errors.Is(err, k) {
			return kindReason(k)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ReasonUnavailable
	}
	return ReasonInternal
}

var kindReasons = map[error]string{
	ErrNotFound:     ReasonNotFound,
	ErrAccessDenied: ReasonAccessDenied,
	ErrDecryption:   ReasonDecryption,
	ErrThrottled:    ReasonThrottled,
	ErrUnavailable:  ReasonUnavailable,
	ErrRequest:      ReasonAWSError,
}

func kindReason(kind error) string {
	if r, ok := kindReasons[kind]; ok {
		return r
	}
	return ReasonInternal
}

// ObjectError is the failure to read one object of the class.
type ObjectError struct {
	// Index and Name identify the object (objects[Index].objectName).
	Index int
	Name  string
	// Type is the object's type.
	Type spc.ObjectType
	// Region is the region of the failed read (the failover region when it failed too).
	Region string
	// Kind is one of the Err* sentinels.
	Kind error
	// Err is the underlying error (an AWS API error); it never holds a secret value.
	Err error
}

// Error names the object, the region and the kind, then the AWS error.
func (e *ObjectError) Error() string {
	msg := fmt.Sprintf("objects[%d] %q (%s) in %s: %v", e.Index, e.Name, e.Type, e.Region, e.Kind)
	if e.Err != nil && !errors.Is(e.Kind, e.Err) {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap exposes both the kind (for errors.Is) and the AWS error (for errors.As).
func (e *ObjectError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// FetchError lists every object a Fetch could not read.
type FetchError struct {
	Errs []*ObjectError
}

// Error joins the object errors.
func (e *FetchError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, oe := range e.Errs {
		msgs[i] = oe.Error()
	}
	if len(msgs) == 1 {
		return "fetch " + msgs[0]
	}
	return fmt.Sprintf("fetch %d objects failed: %s", len(msgs), strings.Join(msgs, "; "))
}

// Unwrap returns the object errors.
func (e *FetchError) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, oe := range e.Errs {
		out[i] = oe
	}
	return out
}

// apiErr is a classified failure of one AWS call for one ref.
type apiErr struct {
	kind error
	err  error
}

func (e *apiErr) Error() string { return e.err.Error() }
func (e *apiErr) Unwrap() error { return e.err }

// kindError builds a failure of a kind without an AWS error behind it (e.g. a
// batch entry error or SSM InvalidParameters).
func kindError(kind error, format string, args ...any) *apiErr {
	return &apiErr{kind: kind, err: fmt.Errorf(format, args...)}
}

func classified(err error) *apiErr { return &apiErr{kind: classify(err), err: err} }

var (
	notFoundCodes = set("ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound",
		"ParameterVersionLabelNotFound", "NotFound")
	accessDeniedCodes = set("AccessDeniedException", "AccessDenied", "UnrecognizedClientException",
		"InvalidSignatureException", "SignatureDoesNotMatch", "ExpiredTokenException", "ExpiredToken",
		"InvalidClientTokenId", "MissingAuthenticationToken", "IncompleteSignature", "NotAuthorized",
		"UnauthorizedOperation")
	decryptionCodes = set("DecryptionFailure", "InvalidKeyId", "KMSAccessDeniedException", "KMSDisabledException",
		"KMSInvalidStateException", "KMSNotFoundException", "KMSInvalidKeyUsageException")
	throttleCodes = set("ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
		"ThrottledException", "RequestThrottled", "RequestThrottledException", "SlowDown",
		"ProvisionedThroughputExceededException", "PriorRequestNotComplete", "EC2ThrottledException",
		"TransactionInProgressException")
	unavailableCodes = set("InternalServiceError", "InternalServerError", "InternalFailure", "ServiceUnavailable",
		"ServiceUnavailableException", "InternalError", "RequestTimeout", "RequestTimeoutException")
)

func set(codes ...string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// classify returns the kind of an SDK error: by the AWS error code, else by
// the HTTP status, else (no response at all) a network error: ErrUnavailable.
func classify(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case notFoundCodes[code]:
			return ErrNotFound
		case accessDeniedCodes[code]:
			return ErrAccessDenied
		case decryptionCodes[code]:
			return ErrDecryption
		case throttleCodes[code]:
			return ErrThrottled
		case unavailableCodes[code]:
			return ErrUnavailable
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch s := re.HTTPStatusCode(); {
		case s == 0: // the request was never answered
			return ErrUnavailable
		case s == 429:
			return ErrThrottled
		case s >= 500:
			return ErrUnavailable
		case s == 401 || s == 403:
			return ErrAccessDenied
		case s == 404:
			return ErrNotFound
		}
		return ErrRequest
	}
	if ae != nil {
		return ErrRequest
	}
	// No response: connection refused/reset, DNS, timeouts, canceled context,
	// or credentials that could not be retrieved.
	return ErrUnavailable
}
