package awsfetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/internal/awsguard"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// mockSM is an in-memory Secrets Manager behind the narrow interface.
type mockSM struct {
	values      map[string]string // name → value
	arns        map[string]string // ARN → name
	pageSize    int               // >0: batch answers at most this many values a page
	batchErrs   map[string]string // id → per-id error code in batch answers
	batchReturn func(id string) string
	getErrs     map[string]error // id → GetSecretValue error
	delay       time.Duration

	mu                  sync.Mutex
	gets, batches       int
	inFlight, maxFlight atomic.Int32
}

func (m *mockSM) enter() func() {
	n := m.inFlight.Add(1)
	for {
		old := m.maxFlight.Load()
		if n <= old || m.maxFlight.CompareAndSwap(old, n) {
			break
		}
	}
	time.Sleep(m.delay)
	return func() { m.inFlight.Add(-1) }
}

func (m *mockSM) resolve(id string) (string, bool) {
	if n, ok := m.arns[id]; ok {
		id = n
	}
	v, ok := m.values[id]
	return v, ok
}

func (m *mockSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	defer m.enter()()
	m.mu.Lock()
	m.gets++
	m.mu.Unlock()
	if err, ok := m.getErrs[*in.SecretId]; ok {
		return nil, err
	}
	v, ok := m.resolve(*in.SecretId)
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("no such secret")}
	}
	return &secretsmanager.GetSecretValueOutput{Name: in.SecretId, SecretString: aws.String(v), VersionId: aws.String("v")}, nil
}

func (m *mockSM) DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	return nil, errors.New("mockSM: DescribeSecret not modelled")
}

func (m *mockSM) BatchGetSecretValue(_ context.Context, in *secretsmanager.BatchGetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error) {
	defer m.enter()()
	m.mu.Lock()
	m.batches++
	m.mu.Unlock()
	out := &secretsmanager.BatchGetSecretValueOutput{}
	start := 0
	if in.NextToken != nil {
		_, _ = fmt.Sscan(*in.NextToken, &start)
	}
	ids := in.SecretIdList[start:]
	if m.pageSize > 0 && len(ids) > m.pageSize {
		ids = ids[:m.pageSize]
		out.NextToken = aws.String(fmt.Sprint(start + m.pageSize))
	}
	for _, id := range ids {
		if code, ok := m.batchErrs[id]; ok {
			out.Errors = append(out.Errors, smtypes.APIErrorType{SecretId: aws.String(id), ErrorCode: aws.String(code), Message: aws.String("m")})
			continue
		}
		v, ok := m.resolve(id)
		if !ok {
			out.Errors = append(out.Errors, smtypes.APIErrorType{SecretId: aws.String(id), ErrorCode: aws.String("ResourceNotFoundException")})
			continue
		}
		name := id
		if m.batchReturn != nil {
			name = m.batchReturn(id)
		}
		out.SecretValues = append(out.SecretValues, smtypes.SecretValueEntry{Name: aws.String(name), SecretString: aws.String(v)})
	}
	return out, nil
}

type mockClients struct{ sm *mockSM }

func (c mockClients) SecretsManager(string, aws.CredentialsProvider) SecretsManagerAPI { return c.sm }
func (c mockClients) SSM(string, aws.CredentialsProvider) SSMAPI                       { return nil }

var _ SSMAPI = (*ssm.Client)(nil)

func mockSpec(t *testing.T, n int, prefix string) *spc.Spec {
	t.Helper()
	s := &spc.Spec{Region: "us-east-1"}
	for i := range n {
		s.Objects = append(s.Objects, spc.Object{Index: i, Name: fmt.Sprintf("%s%d", prefix, i), Type: spc.SecretsManager})
	}
	return s
}

func newMock(n int) *mockSM {
	m := &mockSM{values: map[string]string{}, arns: map[string]string{}}
	for i := range n {
		m.values[fmt.Sprintf("s%d", i)] = fmt.Sprintf("v%d", i)
	}
	return m
}

func TestBatchPagination(t *testing.T) {
	m := newMock(20)
	m.pageSize = 7
	f := New(aws.Config{}, Options{Clients: mockClients{m}})
	vals, err := f.Fetch(context.Background(), mockSpec(t, 20, "s"), Identity{})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if string(v.Value.Bytes()) != fmt.Sprintf("v%d", i) {
			t.Fatalf("object %d = %q", i, v.Value.Bytes())
		}
	}
	if m.batches != 3 || m.gets != 0 {
		t.Fatalf("batches %d gets %d, want 3 pages and no gets", m.batches, m.gets)
	}
}

func TestBatchUnmatchedAndOddErrorsFallBack(t *testing.T) {
	m := newMock(4)
	m.arns["arn:aws:secretsmanager:us-east-1:1:secret:s3"] = "s3"
	// The batch answers the partial ARN with the full one, which we cannot match: fallback.
	m.batchReturn = func(id string) string {
		if id == "arn:aws:secretsmanager:us-east-1:1:secret:s3" {
			return "s3"
		}
		return id
	}
	m.batchErrs = map[string]string{"s1": "InternalServiceError", "s2": "DecryptionFailure"}
	s := mockSpec(t, 3, "s")
	s.Objects = append(s.Objects, spc.Object{Index: 3, Name: "arn:aws:secretsmanager:us-east-1:1:secret:s3", Type: spc.SecretsManager})
	f := New(aws.Config{}, Options{Clients: mockClients{m}})
	_, err := f.Fetch(context.Background(), s, Identity{})
	var fe *FetchError
	if !errors.As(err, &fe) || len(fe.Errs) != 1 || fe.Errs[0].Index != 2 || !errors.Is(err, ErrDecryption) {
		t.Fatalf("error %v, want only object 2 failing with a decryption failure", err)
	}
	if m.batches != 1 || m.gets != 2 {
		t.Fatalf("batches %d gets %d, want 1 batch and 2 fallback gets (s1, the ARN)", m.batches, m.gets)
	}
}

func TestConcurrencyBounded(t *testing.T) {
	m := newMock(30)
	m.delay = 20 * time.Millisecond
	s := mockSpec(t, 30, "s")
	for i := range s.Objects {
		s.Objects[i].VersionLabel = "AWSPENDING" // forces one GetSecretValue each
	}
	f := New(aws.Config{}, Options{Clients: mockClients{m}, Concurrency: 3})
	if _, err := f.Fetch(context.Background(), s, Identity{}); err != nil {
		t.Fatal(err)
	}
	if got := m.maxFlight.Load(); got != 3 {
		t.Fatalf("max concurrent calls %d, want 3", got)
	}
}

func respErr(status int, err error) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want error
	}{
		{&smtypes.ResourceNotFoundException{}, ErrNotFound},
		{&smithy.GenericAPIError{Code: "AccessDeniedException"}, ErrAccessDenied},
		{&smithy.GenericAPIError{Code: "UnrecognizedClientException"}, ErrAccessDenied},
		{&smtypes.DecryptionFailure{}, ErrDecryption},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, ErrThrottled},
		{&smtypes.InternalServiceError{}, ErrUnavailable},
		{respErr(503, errors.New("x")), ErrUnavailable},
		{respErr(429, errors.New("x")), ErrThrottled},
		{respErr(400, &smithy.GenericAPIError{Code: "ValidationException"}), ErrRequest},
		{respErr(0, errors.New("dial tcp: connection refused")), ErrUnavailable},
		{errors.New("dial tcp: connection refused"), ErrUnavailable},
		{&smtypes.InvalidRequestException{}, ErrRequest},
	}
	for _, tc := range cases {
		if got := classify(tc.err); !errors.Is(got, tc.want) {
			t.Errorf("classify(%T %v) = %v, want %v", tc.err, tc.err, got, tc.want)
		}
	}
}

type reasoned struct{}

func (reasoned) Error() string         { return "bad value" }
func (reasoned) Reason() reason.Reason { return reason.InvalidValue }

func TestReason(t *testing.T) {
	cases := map[error]reason.Reason{
		nil:                             "",
		ErrNoRegion:                     reason.InvalidClass,
		&spc.InvalidError{}:             reason.InvalidClass,
		fmt.Errorf("x: %w", reasoned{}): reason.InvalidValue,
		&FetchError{Errs: []*ObjectError{{Kind: ErrThrottled}, {Kind: ErrNotFound}}}: reason.Throttled,
		fmt.Errorf("w: %w", &ObjectError{Kind: ErrDecryption}):                       reason.Decryption,
		context.DeadlineExceeded: reason.AWSUnavailable,
		errors.New("something"):  reason.Internal,
	}
	for err, want := range cases {
		if got := reason.Of(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
	for _, r := range reason.All {
		if r == "" {
			t.Fatal("empty reason in reason.All")
		}
	}
	// Every kind has a reason of the one vocabulary, and the errors are Reasoners.
	for kind, want := range kindReasons {
		fe := &FetchError{Errs: []*ObjectError{{Kind: kind}}}
		if got := reason.Of(fmt.Errorf("w: %w", fe)); got != want || !slices.Contains(reason.All, got) {
			t.Errorf("reason.Of(FetchError of %v) = %q, want %q", kind, got, want)
		}
	}
	if reason.Of(ErrNoRegion) != reason.InvalidClass {
		t.Errorf("ErrNoRegion reason %q", reason.Of(ErrNoRegion))
	}
}

type regionalClients map[string]*mockSM

func (c regionalClients) SecretsManager(region string, _ aws.CredentialsProvider) SecretsManagerAPI {
	return c[region]
}
func (c regionalClients) SSM(string, aws.CredentialsProvider) SSMAPI { return nil }

// An object whose primary read is a 4xx is never served from the failover
// region, even when another object with the same failover object fails over.
func TestFailoverOnlyForUnavailableObjects(t *testing.T) {
	east := newMock(0)
	east.batchErrs = map[string]string{"down": "InternalServiceError"}
	east.getErrs = map[string]error{"down": respErr(503, &smtypes.InternalServiceError{Message: aws.String("x")})}
	west := newMock(0)
	west.values["replica"] = "from-west"
	s := &spc.Spec{Region: "us-east-1", FailoverRegion: "us-west-2", Objects: []spc.Object{
		{Index: 0, Name: "missing", Type: spc.SecretsManager, Failover: &spc.Failover{Name: "replica"}},
		{Index: 1, Name: "down", Type: spc.SecretsManager, Failover: &spc.Failover{Name: "replica"}},
	}}
	f := New(aws.Config{}, Options{Clients: regionalClients{"us-east-1": east, "us-west-2": west}})
	_, err := f.Fetch(context.Background(), s, Identity{})
	var fe *FetchError
	if !errors.As(err, &fe) || len(fe.Errs) != 1 || fe.Errs[0].Index != 0 || !errors.Is(fe.Errs[0].Kind, ErrNotFound) {
		t.Fatalf("error %v, want only object 0 failing, not found", err)
	}
	if west.gets != 1 {
		t.Fatalf("failover region reads %d, want 1", west.gets)
	}

	// Without the not-found object, the unavailable one is served from the failover region.
	s.Objects = s.Objects[1:]
	vals, err := f.Fetch(context.Background(), s, Identity{})
	if err != nil || string(vals[0].Value.Bytes()) != "from-west" || vals[0].Region != "us-west-2" {
		t.Fatalf("vals %v, err %v", vals, err)
	}
}

// A huge object name (and an AWS error that echoes it) still makes a short error.
func TestHugeNameShortError(t *testing.T) {
	name := strings.Repeat("n", 10<<20)
	m := newMock(0)
	m.getErrs = map[string]error{name: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized on " + name}}
	s := &spc.Spec{Region: "us-east-1", Objects: []spc.Object{{Index: 0, Name: name, Type: spc.SecretsManager}}}
	_, err := New(aws.Config{}, Options{Clients: mockClients{m}}).Fetch(context.Background(), s, Identity{})
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("error %.200v", err)
	}
	if n := len(err.Error()); n > 2*maxCauseBytes {
		t.Fatalf("error of %d bytes for a 10 MiB name", n)
	}
	if !strings.Contains(err.Error(), "(10485760 bytes)") {
		t.Fatalf("error does not say the name's length: %.300s", err)
	}
}

// credsErr is an identity stage's failure, as the SDK wraps it.
type credsErr struct{ r reason.Reason }

func (e credsErr) Error() string         { return "credentials for test: " + string(e.r) }
func (e credsErr) Reason() reason.Reason { return e.r }

func TestClassifyGuardsAndCredentials(t *testing.T) {
	cases := []struct {
		err  error
		want error
	}{
		{respErr(200, &smithy.DeserializationError{Err: io.ErrUnexpectedEOF}), ErrUnavailable},
		{respErr(200, &awsguard.MalformedError{Problem: "empty"}), ErrUnavailable},
		{respErr(200, &smithy.DeserializationError{Err: &awsguard.LimitError{Limit: 1}}), ErrLimitExceeded},
		{&awsguard.AttemptTimeoutError{After: time.Second, Err: context.DeadlineExceeded}, ErrUnavailable},
		{fmt.Errorf("get identity: %w", credsErr{reason.AccessDenied}), ErrAccessDenied},
		{fmt.Errorf("get identity: %w", credsErr{reason.CredentialsUnavailable}), ErrCredentials},
		// The identity's error wins over the STS error inside it.
		{fmt.Errorf("get identity: %w", fmt.Errorf("%w: %w", credsErr{reason.CredentialsUnavailable}, respErr(503, errors.New("x")))), ErrCredentials},
	}
	for _, tc := range cases {
		if got := classify(tc.err); !errors.Is(got, tc.want) {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	// An ObjectError of a credentials failure has the identity's own reason.
	oe := &ObjectError{Kind: ErrCredentials, Err: credsErr{reason.NoIdentity}}
	if oe.Reason() != reason.NoIdentity {
		t.Errorf("reason %q, want NoIdentity", oe.Reason())
	}
	// The retry rules: credentials failures and oversized bodies are never retried.
	r := NewRetryer(5, time.Millisecond)
	for err, want := range map[error]bool{
		fmt.Errorf("get identity: %w", credsErr{reason.CredentialsUnavailable}):                                      false,
		respErr(200, &smithy.DeserializationError{Err: &awsguard.LimitError{Limit: 1}}):                              false,
		respErr(200, &smithy.DeserializationError{Err: io.ErrUnexpectedEOF}):                                         true,
		&awsguard.AttemptTimeoutError{After: time.Second, Err: &smithy.CanceledError{Err: context.DeadlineExceeded}}: true,
	} {
		if got := r.IsErrorRetryable(err); got != want {
			t.Errorf("retryable(%v) = %v, want %v", err, got, want)
		}
	}
}
