package simulate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
)

// The APIs the simulated AWS serves and their default per-account quotas
// (calls per second; BatchGetSecretValue's is not adjustable).
const (
	GetSecretValue      = "GetSecretValue"
	BatchGetSecretValue = "BatchGetSecretValue"
	DescribeSecret      = "DescribeSecret"
	GetParameters       = "GetParameters"
)

// APIs lists the APIs in report order.
var APIs = []string{GetSecretValue, BatchGetSecretValue, DescribeSecret, GetParameters}

// Quotas are AWS's default per-account rates.
var Quotas = map[string]float64{
	GetSecretValue:      10000,
	BatchGetSecretValue: 100,
	DescribeSecret:      40000,
	GetParameters:       40,
}

// Clock is the virtual clock. The event loop sets it; the Fetchers read it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the virtual time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *Clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// AWS is an in-memory Secrets Manager of one account with per-second quotas.
// Every attempt counts against its API's quota in the second it is made;
// one past the quota is answered with ThrottlingException.
type AWS struct {
	start    time.Time
	quota    map[string]int // calls a second
	mu       sync.Mutex
	versions []int       // secret index → current version (1-based)
	changed  [][]float64 // secret index → change time of version v+1 (seconds since start)
	bins     map[string][]int
	thrBins  map[string][]int
}

// NewAWS returns an account with n secrets (version 1 at start), quotas
// scaled by scale, counting calls for seconds seconds.
func NewAWS(start time.Time, n int, scale float64, seconds int) *AWS {
	a := &AWS{start: start, quota: map[string]int{}, versions: make([]int, n), changed: make([][]float64, n),
		bins: map[string][]int{}, thrBins: map[string][]int{}}
	for i := range a.versions {
		a.versions[i] = 1
		a.changed[i] = []float64{0}
	}
	for api, q := range Quotas {
		a.quota[api] = max(1, int(q*scale))
		a.bins[api] = make([]int, seconds+120)
		a.thrBins[api] = make([]int, seconds+120)
	}
	return a
}

// Rotate makes a new version of secret i at t.
func (a *AWS) Rotate(i int, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.versions[i]++
	a.changed[i] = append(a.changed[i], t.Sub(a.start).Seconds())
}

// ChangedAt is when version v of secret i was made (seconds since start).
func (a *AWS) ChangedAt(i, v int) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed[i][v-1]
}

// admit counts one attempt of api at t and says whether the quota let it through.
func (a *AWS) admit(api string, t time.Time) bool {
	s := int(t.Sub(a.start) / time.Second)
	a.mu.Lock()
	defer a.mu.Unlock()
	bins := a.bins[api]
	if s < 0 || s >= len(bins) {
		return true
	}
	if bins[s] >= a.quota[api] {
		a.thrBins[api][s]++
		return false
	}
	bins[s]++
	return true
}

// Window sums the admitted and throttled attempts of api in [from, to)
// seconds, and the busiest second's admitted attempts.
func (a *AWS) Window(api string, from, to int) (admitted, throttled, peak int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for s := from; s < to && s < len(a.bins[api]); s++ {
		admitted += a.bins[api][s]
		throttled += a.thrBins[api][s]
		peak = max(peak, a.bins[api][s])
	}
	return admitted, throttled, peak
}

// Quota is the scaled quota of api (calls a second).
func (a *AWS) Quota(api string) int { return a.quota[api] }

// secretName and secretIndex map a secret's index to its name and back.
func secretName(i int) string { return "s" + strconv.Itoa(i) }

func secretIndex(name string) int {
	i, err := strconv.Atoi(name[1:])
	if err != nil {
		panic(fmt.Sprintf("simulate: secret name %q", name))
	}
	return i
}

func versionID(v int) string { return "v" + strconv.Itoa(v) }

// Version parses a VersionId of this AWS.
func Version(id string) int {
	v, _ := strconv.Atoi(id[1:])
	return v
}

var errThrottled = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}

// Retrier models the SDK's standard retryer on the virtual clock: up to
// MaxAttempts attempts of a throttled call, the i-th retry after a delay drawn
// uniformly from [0, 2^i s), or MaxBackoff once 2^i s reaches it (the SDK's
// ExponentialJitterBackoff).
type Retrier struct {
	MaxAttempts int
	MaxBackoff  time.Duration
	mu          sync.Mutex
	rng         *rand.Rand
}

// NewRetrier returns a retrier with a seeded random source.
func NewRetrier(attempts int, maxBackoff time.Duration, seed uint64) *Retrier {
	return &Retrier{MaxAttempts: attempts, MaxBackoff: maxBackoff, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Call makes api's attempts from t on: true when one got through, and when.
func (r *Retrier) Call(a *AWS, api string, t time.Time) (bool, time.Time) {
	for attempt := 1; ; attempt++ {
		if a.admit(api, t) {
			return true, t
		}
		if attempt == r.MaxAttempts {
			return false, t
		}
		d := r.MaxBackoff
		if ceiling := time.Duration(1<<attempt) * time.Second; ceiling < r.MaxBackoff {
			r.mu.Lock()
			d = time.Duration(r.rng.Float64() * float64(ceiling))
			r.mu.Unlock()
		}
		t = t.Add(d)
	}
}

// Clients serves the Fetchers of the fleet: every client is the one account.
type Clients struct {
	AWS     *AWS
	Clock   *Clock
	Retrier *Retrier
}

var _ awsfetch.Clients = (*Clients)(nil)

// SecretsManager implements awsfetch.Clients.
func (c *Clients) SecretsManager(string, aws.CredentialsProvider) awsfetch.SecretsManagerAPI {
	return sm{c}
}

// SSM implements awsfetch.Clients: the model has no parameters.
func (c *Clients) SSM(string, aws.CredentialsProvider) awsfetch.SSMAPI { return nil }

type sm struct{ c *Clients }

func (s sm) call(api string) bool {
	ok, _ := s.c.Retrier.Call(s.c.AWS, api, s.c.Clock.Now())
	return ok
}

// version is the current VersionId of the secret name.
func (s sm) version(name string) string {
	i := secretIndex(name)
	s.c.AWS.mu.Lock()
	v := s.c.AWS.versions[i]
	s.c.AWS.mu.Unlock()
	return versionID(v)
}

func (s sm) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if !s.call(GetSecretValue) {
		return nil, errThrottled
	}
	id := s.version(aws.ToString(in.SecretId))
	return &secretsmanager.GetSecretValueOutput{Name: in.SecretId, SecretString: aws.String("value-" + id), VersionId: aws.String(id)}, nil
}

func (s sm) BatchGetSecretValue(_ context.Context, in *secretsmanager.BatchGetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error) {
	if !s.call(BatchGetSecretValue) {
		return nil, errThrottled
	}
	out := &secretsmanager.BatchGetSecretValueOutput{}
	for _, name := range in.SecretIdList {
		id := s.version(name)
		out.SecretValues = append(out.SecretValues, smtypes.SecretValueEntry{Name: aws.String(name), SecretString: aws.String("value-" + id), VersionId: aws.String(id)})
	}
	return out, nil
}

func (s sm) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	if !s.call(DescribeSecret) {
		return nil, errThrottled
	}
	id := s.version(aws.ToString(in.SecretId))
	return &secretsmanager.DescribeSecretOutput{Name: in.SecretId, VersionIdsToStages: map[string][]string{id: {"AWSCURRENT"}}}, nil
}

// awsBase is the base config of the fleet's Fetchers (clients come from Clients).
var awsBase = aws.Config{Region: "us-east-1"}
