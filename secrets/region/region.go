// Package region decides the AWS region a SecretProviderClass is read in
// when the class names none, the way a stock install on EKS needs it: the
// class's parameters.region first (spc), then, in the order a delivery path
// gives them, places that name the region of the node or the pod, e.g.
//
//   - the mounter: the chart's aws.region (--region), its own Node's
//     topology.kubernetes.io/region label (what AWS's provider reads), the
//     instance metadata service (IMDS) where the operator allows it;
//   - the injector: AWS_REGION / AWS_DEFAULT_REGION (the EKS webhooks set
//     them), the instance metadata service.
//
// Resolve asks each source in turn and remembers where it looked, so that a
// class that cannot be read for want of a region gets an error naming every
// place (NoRegion).
package region

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// NodeLabel is the well-known label of a node's region.
const NodeLabel = "topology.kubernetes.io/region"

// IMDSTimeout bounds the instance metadata lookup (off EC2 it never answers).
const IMDSTimeout = 2 * time.Second

// Source is one place that may name the region.
type Source struct {
	// Name says where it looked, for messages ("the chart's aws.region (--region)").
	Name string
	// Get returns the region, "" when the place names none.
	Get func(ctx context.Context) (string, error)
}

// Fixed is a source with a known value ("" when unset).
func Fixed(name, value string) Source {
	return Source{Name: name, Get: func(context.Context) (string, error) { return value, nil }}
}

// IMDS asks the instance metadata service (IMDSv2) with client, within
// IMDSTimeout. A nil client stands for "not allowed" and says so.
func IMDS(client *imds.Client) Source {
	if client == nil {
		return Source{Name: "the instance metadata service (not allowed)", Get: func(context.Context) (string, error) { return "", nil }}
	}
	return Source{Name: "the instance metadata service", Get: func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, IMDSTimeout)
		defer cancel()
		out, err := client.GetRegion(ctx, &imds.GetRegionInput{})
		if err != nil {
			return "", err
		}
		return out.Region, nil
	}}
}

var codeRE = regexp.MustCompile(`^[a-z]{2,}(-[a-z]+)+-[0-9]+$`)

// Result is where Resolve found the region, and everywhere it looked.
type Result struct {
	// Region is the region found, "" when none.
	Region string
	// From names the source that gave it.
	From string
	// Looked lists each place asked, with what it said when it had no region.
	Looked []string
}

// Resolve asks each source in order and returns the first valid region code.
// A source that fails or answers something that is not a region code is
// noted and skipped; the context bounds the whole.
func Resolve(ctx context.Context, sources ...Source) Result {
	var r Result
	for _, s := range sources {
		v, err := s.Get(ctx)
		v = strings.TrimSpace(v)
		switch {
		case err != nil:
			r.Looked = append(r.Looked, fmt.Sprintf("%s (%s)", s.Name, firstLine(err.Error())))
		case v == "":
			r.Looked = append(r.Looked, s.Name+" (not set)")
		case !codeRE.MatchString(v):
			r.Looked = append(r.Looked, fmt.Sprintf("%s (%s is not a region code)", s.Name, secrets.Quote(v)))
		default:
			r.Region, r.From = v, s.Name
			r.Looked = append(r.Looked, s.Name)
			return r
		}
	}
	return r
}

// NoRegion is the error of a class that names no region when none of looked
// gave one: reason InvalidClass, naming the class's parameter and every place.
func NoRegion(looked []string) error {
	places := "parameters.region of the SecretProviderClass (not set)"
	if len(looked) > 0 {
		places += ", " + strings.Join(looked, ", ")
	}
	return &secrets.Problem{Object: -1, Field: "parameters.region", Kind: reason.InvalidClass,
		Problem: "no AWS region: looked at " + places,
		Fix:     "set parameters.region in the SecretProviderClass, or the chart's aws.region"}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
