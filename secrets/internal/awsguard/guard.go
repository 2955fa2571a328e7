// Package awsguard owns the guards every AWS client of the core (awsfetch's Secrets Manager and
// SSM clients, identity's STS and Pod Identity agent clients) puts on its calls, as SDK
// middleware: a cap on every response body, a check that a successful answer is one (a body,
// of the protocol's content type), a timeout of its own for each attempt inside the caller's
// deadline, and the retry rule that goes with them: a malformed answer or a timed-out attempt is
// retried like a 5xx, a body over the cap never.
package awsguard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// Options say which guards a client gets.
type Options struct {
	// MaxBody caps every response body, success or error (0 = no cap).
	MaxBody int64
	// AttemptTimeout bounds one attempt: sending, waiting for the answer and reading it
	// (0 = only the caller's context bounds it).
	AttemptTimeout time.Duration
	// ContentTypes lists the media types a 2xx answer may have (empty = any).
	ContentTypes []string
	// RequireBody makes a 2xx answer without a body malformed.
	RequireBody bool
}

// Add installs the guards on a client's middleware stack; use it as an element of the client's
// APIOptions.
func (o Options) Add(stack *middleware.Stack) error {
	if o.MaxBody > 0 || len(o.ContentTypes) > 0 || o.RequireBody {
		// Last in the deserialize step: closest to the transport, so every reader of the body
		// (the operation's deserializer, its error deserializer, the drain) reads through the cap.
		if err := stack.Deserialize.Add(&bodyGuard{o: o}, middleware.After); err != nil {
			return fmt.Errorf("add %s: %w", bodyGuardID, err)
		}
	}
	if o.AttemptTimeout > 0 {
		// Inside the retry loop, after the credentials are resolved (they have deadlines of their
		// own): each attempt gets its own deadline.
		m := &attemptTimeout{d: o.AttemptTimeout}
		var err error
		for _, after := range []string{"GetIdentity", "Retry"} {
			if err = stack.Finalize.Insert(m, after, middleware.After); err == nil {
				return nil
			}
		}
		if err := stack.Finalize.Add(m, middleware.After); err != nil {
			return fmt.Errorf("add %s: %w", attemptTimeoutID, err)
		}
	}
	return nil
}

// Append returns apiOptions with the guards added, never writing into apiOptions' array (a base
// config's options are shared by every client made from it).
func (o Options) Append(apiOptions []func(*middleware.Stack) error) []func(*middleware.Stack) error {
	return append(slices.Clip(apiOptions), o.Add)
}

// LimitError is a response body over the cap. It is never retried.
type LimitError struct {
	// Limit is the cap in bytes.
	Limit int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("AWS response body over the limit of %d bytes (secrets.MaxResponseBytes): not read further", e.Limit)
}

// Reason implements reason.Reasoner.
func (e *LimitError) Reason() reason.Reason { return reason.LimitExceeded }

// MalformedError is a successful status whose answer is not one: no body, a wrong content type,
// or an output the caller finds incomplete. It is retried.
type MalformedError struct {
	// Problem says what is wrong, without any of the body.
	Problem string
}

func (e *MalformedError) Error() string { return "malformed AWS response: " + e.Problem }

// Reason implements reason.Reasoner.
func (e *MalformedError) Reason() reason.Reason { return reason.AWSUnavailable }

// AttemptTimeoutError is an attempt that ran out of its own time while the caller's deadline had
// not passed. It is retried.
type AttemptTimeoutError struct {
	// After is the attempt's time.
	After time.Duration
	// Err is what the attempt failed with.
	Err error
}

func (e *AttemptTimeoutError) Error() string {
	return fmt.Sprintf("AWS call attempt timed out after %s: %v", e.After, e.Err)
}

// Unwrap returns the attempt's error.
func (e *AttemptTimeoutError) Unwrap() error { return e.Err }

// Timeout reports true, for the SDK's timeout checks.
func (e *AttemptTimeoutError) Timeout() bool { return true }

// Reason implements reason.Reasoner.
func (e *AttemptTimeoutError) Reason() reason.Reason { return reason.AWSUnavailable }

// Malformed reports whether err is an answer that could not be read as one: a deserialization
// failure (bad JSON or XML, a body cut mid-way), or a MalformedError. A body over the cap and a
// context that ended are not.
func Malformed(err error) bool {
	var le *LimitError
	if errors.As(err, &le) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var me *MalformedError
	var de *smithy.DeserializationError
	return errors.As(err, &me) || errors.As(err, &de) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Retryable is the retry rule of the guards: a body over the cap is never retried; a timed-out
// attempt and a malformed answer are; anything else is left to the SDK's rules.
func Retryable(err error) aws.Ternary {
	var le *LimitError
	if errors.As(err, &le) {
		return aws.FalseTernary
	}
	var at *AttemptTimeoutError
	if errors.As(err, &at) || Malformed(err) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// WithRetryables puts rules in front of a standard retryer's own (NewStandard option), so they
// decide before the SDK's (whose first rule refuses any error that wraps a canceled context, as
// a timed-out attempt does).
func WithRetryables(rules ...retry.IsErrorRetryable) func(*retry.StandardOptions) {
	return func(o *retry.StandardOptions) {
		o.Retryables = append(slices.Clone(rules), o.Retryables...)
	}
}

const (
	bodyGuardID      = "awsguard.Body"
	attemptTimeoutID = "awsguard.AttemptTimeout"
)

type bodyGuard struct{ o Options }

func (*bodyGuard) ID() string { return bodyGuardID }

func (g *bodyGuard) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	out middleware.DeserializeOutput, md middleware.Metadata, err error,
) {
	out, md, err = next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp == nil || resp.Response == nil {
		return out, md, err
	}
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	if success && len(g.o.ContentTypes) > 0 {
		ct := resp.Header.Get("Content-Type")
		mt, _, perr := mime.ParseMediaType(ct)
		if perr != nil || !slices.Contains(g.o.ContentTypes, strings.ToLower(mt)) {
			// Not read at all: closing the body unread drops the connection, and the SDK's
			// drain finds nothing.
			if resp.Body != nil {
				_ = resp.Body.Close()
			}
			resp.Body = http.NoBody
			return out, md, &MalformedError{Problem: fmt.Sprintf("HTTP %d with content type %s, want %s",
				resp.StatusCode, quoteHeader(ct), strings.Join(g.o.ContentTypes, " or "))}
		}
	}
	body := resp.Body
	if body == nil {
		body = io.NopCloser(strings.NewReader(""))
	}
	resp.Body = &guardedBody{rc: body, max: g.o.MaxBody, requireBody: success && g.o.RequireBody}
	return out, md, err
}

// quoteHeader prints a header value from the network: quoted and bounded.
func quoteHeader(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q… (%d bytes)", s[:64], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// guardedBody reads a response body up to max bytes (0 = no cap) and fails past it; with
// requireBody an empty body is malformed. It reports its first error once, to the reader that
// decodes the answer; after it, it reads as ended, so the SDK's drain of the body neither
// reads past the cap nor logs the error again (the connection is then closed, not reused).
type guardedBody struct {
	rc          io.ReadCloser
	max, n      int64
	requireBody bool
	done        bool
}

func (b *guardedBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.max > 0 && int64(len(p)) > b.max-b.n+1 { // one byte past the cap tells
		p = p[:b.max-b.n+1]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	switch {
	case b.max > 0 && b.n > b.max:
		b.done = true
		return n - int(b.n-b.max), &LimitError{Limit: b.max}
	case errors.Is(err, io.EOF) && b.n == 0 && b.requireBody:
		b.done = true
		return 0, &MalformedError{Problem: "a successful status with an empty body"}
	case err != nil:
		b.done = true
	}
	return n, err
}

// StableBodies wraps an HTTP client (nil: a new default one) so each request reaches the
// transport with a request body of its own, held in memory. The SDK closes a request's body
// as soon as the response headers are in, while Go's transport (which flushes the headers
// before a body it does not know to be in memory) may still read that body to check its end:
// the read fails, the transport closes the connection, and a long answer still being read is
// cut. AWS request bodies here are small (ids and names); larger ones are passed through.
func StableBodies(c aws.HTTPClient) aws.HTTPClient {
	if c == nil {
		c = awshttp.NewBuildableClient()
	}
	if _, ok := c.(stableBodies); ok {
		return c
	}
	return stableBodies{next: c}
}

// maxStableBody is the largest request body StableBodies copies.
const maxStableBody = 1 << 20

type stableBodies struct{ next aws.HTTPClient }

func (c stableBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength <= 0 || r.ContentLength > maxStableBody {
		return c.next.Do(r)
	}
	b := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, b); err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return c.next.Do(r2)
}

func (b *guardedBody) Close() error { return b.rc.Close() }

type attemptTimeout struct{ d time.Duration }

func (*attemptTimeout) ID() string { return attemptTimeoutID }

func (m *attemptTimeout) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	out middleware.FinalizeOutput, md middleware.Metadata, err error,
) {
	actx, cancel := context.WithTimeout(ctx, m.d)
	defer cancel()
	out, md, err = next.HandleFinalize(actx, in)
	if err != nil && actx.Err() != nil && ctx.Err() == nil {
		err = &AttemptTimeoutError{After: m.d, Err: err}
	}
	return out, md, err
}
