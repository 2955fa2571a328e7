package awsfetch

import (
	"errors"
	"fmt"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/internal/awsguard"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Error kinds, usable with errors.Is on any error Fetch returns. Each has one reason of the
// one vocabulary (package reason): see ObjectError.Reason.
var (
	// ErrNotFound: the secret, parameter, version or label does not exist (reason.NotFound).
	ErrNotFound = errors.New("not found")
	// ErrAccessDenied: the identity may not read the object, or AWS refused its credentials
	// (reason.AccessDenied).
	ErrAccessDenied = errors.New("access denied")
	// ErrDecryption: AWS could not decrypt the value with its KMS key (reason.Decryption).
	ErrDecryption = errors.New("decryption failure")
	// ErrThrottled: AWS kept throttling after every retry (reason.Throttled).
	ErrThrottled = errors.New("throttled by AWS")
	// ErrUnavailable: a 5xx, a network error, a malformed answer or timed-out attempts after
	// every retry: the failover trigger (reason.AWSUnavailable).
	ErrUnavailable = errors.New("AWS unavailable")
	// ErrRequest: AWS rejected the request for another reason, a 4xx not listed above
	// (reason.AWSError).
	ErrRequest = errors.New("request rejected by AWS")
	// ErrLimitExceeded: a response body over secrets.MaxResponseBytes or a value over
	// secrets.MaxValueBytes; never retried (reason.LimitExceeded).
	ErrLimitExceeded = errors.New("over a size limit")
	// ErrCredentials: the identity's credentials could not be had (reason.CredentialsUnavailable,
	// or the identity error's own reason); the identity already retried what may pass.
	ErrCredentials = errors.New("no AWS credentials for the identity")
)

// ErrNoRegion is the error when neither the SecretProviderClass nor the environment names a region (a
// *secrets.Problem with reason.InvalidClass; compare with errors.Is).
var ErrNoRegion error = &secrets.Problem{
	Object: -1, Field: "parameters.region", Problem: "no AWS region",
	Fix: "set parameters.region in the SecretProviderClass or AWS_REGION", Kind: reason.InvalidClass,
}

// errInternal marks a defect of this package (reason.Internal).
var errInternal = errors.New("internal error")

var kindReasons = map[error]reason.Reason{
	ErrNotFound:      reason.NotFound,
	ErrAccessDenied:  reason.AccessDenied,
	ErrDecryption:    reason.Decryption,
	ErrThrottled:     reason.Throttled,
	ErrUnavailable:   reason.AWSUnavailable,
	ErrRequest:       reason.AWSError,
	ErrLimitExceeded: reason.LimitExceeded,
	ErrCredentials:   reason.CredentialsUnavailable,
	errInternal:      reason.Internal,
}

func kindReason(kind error) reason.Reason {
	if r, ok := kindReasons[kind]; ok {
		return r
	}
	return reason.Internal
}

// maxCauseBytes bounds the AWS error text an ObjectError prints (AWS messages repeat the
// resource name, and a forged endpoint may say anything).
const maxCauseBytes = 1024

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

// Error names the object (quoted and bounded), the region and the kind, then the cause,
// bounded to maxCauseBytes.
func (e *ObjectError) Error() string {
	msg := fmt.Sprintf("objects[%d] %s (%s) in %s: %v", e.Index, secrets.Quote(e.Name), e.Type, e.Region, e.Kind)
	if e.Err != nil && !errors.Is(e.Kind, e.Err) {
		msg += ": " + secrets.Bound(e.Err.Error(), maxCauseBytes)
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

// Reason implements reason.Reasoner: the kind's reason; for ErrCredentials the identity error's
// own reason when it has one (e.g. NoIdentity).
func (e *ObjectError) Reason() reason.Reason {
	if errors.Is(e.Kind, ErrCredentials) {
		var r reason.Reasoner
		if errors.As(e.Err, &r) && r.Reason() != "" {
			return r.Reason()
		}
	}
	return kindReason(e.Kind)
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

// Reason implements reason.Reasoner: the first object's reason.
func (e *FetchError) Reason() reason.Reason {
	if len(e.Errs) == 0 {
		return reason.Internal
	}
	return e.Errs[0].Reason()
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

// credentialsFailure reports whether err is the identity's failure to give credentials (an
// error with a reason of the identity stage inside the SDK's "get identity" error).
func credentialsFailure(err error) (reason.Reason, bool) {
	var r reason.Reasoner
	if !errors.As(err, &r) {
		return "", false
	}
	switch rr := r.Reason(); rr {
	case reason.AccessDenied, reason.NoIdentity, reason.CredentialsUnavailable:
		return rr, true
	}
	return "", false
}

// classify returns the kind of an SDK error:
//
//  1. a body or value over its limit: ErrLimitExceeded;
//  2. the identity's credentials refused (AccessDenied) or not to be had: ErrAccessDenied,
//     ErrCredentials;
//  3. a malformed answer (bad JSON or XML, a body cut mid-way, a wrong content type, an empty
//  200. or a timed-out attempt: ErrUnavailable, so failover runs;
//  4. by the AWS error code, else by the HTTP status, else (no response at all) a network
//     error: ErrUnavailable.
func classify(err error) error {
	var le *awsguard.LimitError
	if errors.As(err, &le) {
		return ErrLimitExceeded
	}
	if r, ok := credentialsFailure(err); ok {
		if r == reason.AccessDenied {
			return ErrAccessDenied
		}
		return ErrCredentials
	}
	var at *awsguard.AttemptTimeoutError
	if awsguard.Malformed(err) || errors.As(err, &at) {
		return ErrUnavailable
	}
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
	// No response: connection refused/reset, DNS, timeouts, canceled context.
	return ErrUnavailable
}
