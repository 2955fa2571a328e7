package simulate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

func TestQuotaThrottlesPastTheRate(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	a := NewAWS(start, 1, 0.001, 10) // BatchGetSecretValue: max(1, 0.1) = 1 a second; GetSecretValue 10
	if q := a.Quota(GetSecretValue); q != 10 {
		t.Fatalf("GetSecretValue quota scaled by 0.001: %d, want 10", q)
	}
	admitted := 0
	for range 15 {
		if a.admit(GetSecretValue, start.Add(500*time.Millisecond)) {
			admitted++
		}
	}
	if !a.admit(GetSecretValue, start.Add(time.Second)) {
		t.Error("the next second throttled too")
	}
	adm, thr, peak := a.Window(GetSecretValue, 0, 2)
	if admitted != 10 || adm != 11 || thr != 5 || peak != 10 {
		t.Fatalf("15 calls in a second at 10/s, then 1: admitted %d (window %d), throttled %d, peak %d; want 10 (11), 5, 10", admitted, adm, thr, peak)
	}
}

func TestRetrierBacksOffOnTheVirtualClock(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	a := NewAWS(start, 1, 0.0001, 60) // BatchGetSecretValue 1 call a second
	r := NewRetrier(5, 5*time.Second, 1)
	if ok, at := r.Call(a, BatchGetSecretValue, start); !ok || !at.Equal(start) {
		t.Fatalf("first call: %v at %s", ok, at)
	}
	ok, at := r.Call(a, BatchGetSecretValue, start)
	if !ok || !at.After(start) || at.Sub(start) > 2*time.Second+4*time.Second+5*time.Second+5*time.Second {
		t.Fatalf("a call throttled at first: got through %v after %s; want through, later, within the backoff caps", ok, at.Sub(start))
	}
	if _, thr, _ := a.Window(BatchGetSecretValue, 0, 60); thr == 0 {
		t.Fatal("no throttled attempt counted")
	}
}

// TestFetcherOnTheModel: the real Fetcher through the model's clients gets
// every value and a throttle it cannot retry past as ErrThrottled.
func TestFetcherOnTheModel(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	clock := &Clock{}
	clock.set(start)
	a := NewAWS(start, 3, 0.0001, 60)
	f := awsfetch.New(awsBase, awsfetch.Options{Clients: &Clients{AWS: a, Clock: clock, Retrier: NewRetrier(1, time.Second, 1)}, Now: clock.Now})
	s := &spc.Spec{Region: "us-east-1"}
	for j := range 3 {
		s.Objects = append(s.Objects, spc.Object{Index: j, Name: secretName(j), Type: spc.SecretsManager})
	}
	a.Rotate(1, start)
	vals, err := f.Fetch(context.Background(), s, awsfetch.Identity{Key: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if Version(vals[0].VersionID) != 1 || Version(vals[1].VersionID) != 2 || string(vals[1].Value.Bytes()) != "value-v2" {
		t.Fatalf("values %q %q, versions %s %s", vals[0].Value.Bytes(), vals[1].Value.Bytes(), vals[0].VersionID, vals[1].VersionID)
	}
	// The batch quota (1 a second) is spent: the second batch is throttled,
	// and so are the one-by-one reads past GetSecretValue's 1 a second.
	_, err = f.Fetch(context.Background(), s, awsfetch.Identity{Key: "app"})
	if !errors.Is(err, awsfetch.ErrThrottled) {
		t.Fatalf("over every quota: %v, want ErrThrottled", err)
	}
	var ae smithy.APIError
	_, err = (sm{&Clients{AWS: a, Clock: clock, Retrier: NewRetrier(1, time.Second, 1)}}).GetSecretValue(context.Background(),
		&secretsmanager.GetSecretValueInput{SecretId: aws.String(secretName(0))})
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Fatalf("throttled GetSecretValue: %v", err)
	}
}
