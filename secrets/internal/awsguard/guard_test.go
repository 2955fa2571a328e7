package awsguard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

func TestGuardedBodyCap(t *testing.T) {
	for _, tc := range []struct {
		body string
		max  int64
		ok   bool
	}{{"12345", 5, true}, {"123456", 5, false}, {"", 5, true}, {strings.Repeat("x", 1<<20), 1 << 10, false}} {
		b := &guardedBody{rc: io.NopCloser(strings.NewReader(tc.body)), max: tc.max}
		got, err := io.ReadAll(b)
		var le *LimitError
		if tc.ok != (err == nil) || (!tc.ok && (!errors.As(err, &le) || le.Limit != tc.max || int64(len(got)) != tc.max)) {
			t.Errorf("body of %d bytes, cap %d: read %d bytes, %v", len(tc.body), tc.max, len(got), err)
		}
		// After its error the body reads as ended (the SDK's drain stops there).
		if n, err := b.Read(make([]byte, 10)); !tc.ok && (n != 0 || !errors.Is(err, io.EOF)) {
			t.Errorf("read after the cap: %d, %v", n, err)
		}
	}
	b := &guardedBody{rc: io.NopCloser(strings.NewReader("")), requireBody: true}
	var me *MalformedError
	if _, err := io.ReadAll(b); !errors.As(err, &me) {
		t.Errorf("empty body required: %v", err)
	}
}

func TestRetryable(t *testing.T) {
	for err, want := range map[error]aws.Ternary{
		&smithy.DeserializationError{Err: &LimitError{Limit: 1}}:      aws.FalseTernary,
		&smithy.DeserializationError{Err: io.ErrUnexpectedEOF}:        aws.TrueTernary,
		&MalformedError{Problem: "x"}:                                 aws.TrueTernary,
		&AttemptTimeoutError{Err: &smithy.CanceledError{Err: io.EOF}}: aws.TrueTernary,
		errors.New("other"): aws.UnknownTernary,
		&smithy.DeserializationError{Err: errors.Join(io.ErrUnexpectedEOF, errCanceled)}: aws.UnknownTernary,
	} {
		if got := Retryable(err); got != want {
			t.Errorf("Retryable(%v) = %v, want %v", err, got, want)
		}
	}
}

var errCanceled = contextCanceled()

func TestAppendDoesNotWriteIntoShared(t *testing.T) {
	shared := make([]func(*middleware.Stack) error, 1, 4)
	a := Options{MaxBody: 1}.Append(shared)
	b := Options{MaxBody: 2}.Append(shared)
	if len(a) != 2 || len(b) != 2 || &a[1] == &b[1] {
		t.Fatal("two clients share one options array")
	}
}

// StableBodies hands the transport a body of its own: closing the request's
// body once the answer starts (as the SDK does) does not cut the request.
func TestStableBodies(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	body := &closeTracker{Reader: bytes.NewReader([]byte(`{"Names":["/a"]}`))}
	req, err := http.NewRequest(http.MethodPost, srv.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 16
	resp, err := StableBodies(srv.Client()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if string(got) != `{"Names":["/a"]}` {
		t.Fatalf("server read %q", got)
	}
	if body.closed {
		t.Fatal("the transport used the request's own body (and closed it)")
	}
	if _, nested := StableBodies(StableBodies(srv.Client())).(stableBodies).next.(stableBodies); nested {
		t.Fatal("StableBodies wrapped twice")
	}
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func contextCanceled() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx.Err()
}
