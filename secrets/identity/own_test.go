package identity

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
)

func TestCredentialsTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("refresh: %w", &smithy.GenericAPIError{Code: "ThrottlingException"}), true},
		{&smithy.GenericAPIError{Code: "IDPCommunicationError"}, true},
		{&smithy.GenericAPIError{Code: "InvalidIdentityToken"}, false},
		{&smithy.GenericAPIError{Code: "AccessDenied"}, false},
		{errors.New("unable to read file at /t: " + fs.ErrNotExist.Error()), false}, // the SDK flattens it with %v,
		{errors.New("no EC2 IMDS role found"), false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true},
	} {
		if got := CredentialsTransient(c.err); got != c.want {
			t.Errorf("CredentialsTransient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
