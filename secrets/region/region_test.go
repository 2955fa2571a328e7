package region_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/region"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

func TestResolveOrderAndWhereItLooked(t *testing.T) {
	ctx := context.Background()
	failing := region.Source{Name: "the node's label", Get: func(context.Context) (string, error) { return "", errors.New("forbidden") }}
	r := region.Resolve(ctx, region.Fixed("the chart's aws.region", ""), failing,
		region.Fixed("AWS_REGION", "Mars 1"), region.Fixed("last", "eu-west-1"), region.Fixed("after", "us-east-2"))
	if r.Region != "eu-west-1" || r.From != "last" {
		t.Fatalf("got %+v, want eu-west-1 from the first valid source", r)
	}
	want := []string{`the chart's aws.region (not set)`, `the node's label (forbidden)`, `AWS_REGION ("Mars 1" is not a region code)`, `last`}
	if strings.Join(r.Looked, "|") != strings.Join(want, "|") {
		t.Errorf("looked %q, want %q", r.Looked, want)
	}
}

func TestIMDSRegion(t *testing.T) {
	srv, err := fakeaws.New(fakeaws.State{Region: "ap-southeast-2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	r := region.Resolve(context.Background(), region.Fixed("AWS_REGION", ""), region.IMDS(imds.New(imds.Options{Endpoint: srv.URL()})))
	if r.Region != "ap-southeast-2" || r.From != "the instance metadata service" {
		t.Fatalf("got %+v", r)
	}
	// Not allowed: never asked, and said so.
	r = region.Resolve(context.Background(), region.IMDS(nil))
	if r.Region != "" || len(r.Looked) != 1 || !strings.Contains(r.Looked[0], "not allowed") {
		t.Fatalf("got %+v", r)
	}
}

func TestNoRegionNamesEveryPlace(t *testing.T) {
	err := region.NoRegion([]string{"the chart's aws.region (not set)", "the node's topology.kubernetes.io/region label (not set)"})
	msg := err.Error()
	for _, want := range []string{"parameters.region", "aws.region", "topology.kubernetes.io/region", "fix:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if reason.Of(err) != reason.InvalidClass {
		t.Errorf("reason %s", reason.Of(err))
	}
}
