package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// KindOwn is the process's own credential chain: the SDK's default chain of
// the container (IRSA env and token file, Pod Identity env, instance profile).
// Init mode and the fetch command use it.
const KindOwn Kind = "own"

// Own returns the identity of the process itself: the base config's
// credentials. Its Key is empty, so the fetcher caches nothing for it (one
// process serves one pod).
func (r *Resolver) Own() (Identity, error) {
	if r.base.Credentials == nil {
		return Identity{}, reason.Wrap(reason.NoIdentity, fmt.Errorf("%w: the AWS SDK found no credentials in this container", ErrNoIdentity))
	}
	return Identity{Kind: KindOwn, Credentials: r.base.Credentials}, nil
}

// Check retrieves id's credentials (cached providers make this free after the
// first call) and returns a reasoned error when they cannot be had: the error's
// own reason when it carries one, else CredentialsUnavailable for what may pass
// (no answer, throttling, 5xx) and AccessDenied for a refusal (a rejected or
// expired token, a trust policy).
func Check(ctx context.Context, id Identity) error {
	if id.Credentials == nil {
		return reason.Wrap(reason.NoIdentity, fmt.Errorf("%w: no credentials provider", ErrNoIdentity))
	}
	if _, err := id.Credentials.Retrieve(ctx); err != nil {
		if r := reason.Of(err); r != reason.Internal && r != reason.AWSUnavailable {
			return err
		}
		if CredentialsTransient(err) {
			return reason.Wrap(reason.CredentialsUnavailable, err)
		}
		return reason.Wrap(reason.AccessDenied, err)
	}
	return nil
}

// CredentialsTransient tells a failure to get credentials that may pass (no
// answer, throttling, 5xx) from one that will not (a refused token, an
// unreadable token file, no credential source): only failures recognisably of
// the network or of an overloaded service are transient.
func CredentialsTransient(err error) bool {
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
