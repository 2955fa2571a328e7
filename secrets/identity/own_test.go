package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strings"
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

func TestTokenNeverPrints(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiJ9.payload.signature"
	v := Token{Token: tok}
	m := map[string]Token{"sts.amazonaws.com": v}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", v, "tokens", m)
	for _, out := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q", v, v, v, v, v), fmt.Sprintf("%v %+v %#v", m, m, m), buf.String()} {
		if strings.Contains(out, "payload") {
			t.Errorf("token printed: %s", out)
		}
	}
}
