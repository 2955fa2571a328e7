package observe

import (
	"strings"
	"testing"
)

const sample = `# TYPE aws_secrets_injector_mounter_publishes_total counter
aws_secrets_injector_mounter_publishes_total{outcome="mounted"} 3
# TYPE aws_secrets_injector_mounter_publish_failures_total counter
aws_secrets_injector_mounter_publish_failures_total{reason="AccessDenied"} 1
# TYPE aws_secrets_injector_mounter_fetch_duration_seconds histogram
aws_secrets_injector_mounter_fetch_duration_seconds_bucket{le="0.1"} 1
aws_secrets_injector_mounter_fetch_duration_seconds_bucket{le="+Inf"} 1
aws_secrets_injector_mounter_fetch_duration_seconds_sum 0.05
aws_secrets_injector_mounter_fetch_duration_seconds_count 1
`

// TestCheck: Check accepts what a scrape has and names each thing it lacks.
func TestCheck(t *testing.T) {
	f, err := ParseFamilies(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr string
		want string // "" = no error
	}{
		{`sum by (outcome) (rate(aws_secrets_injector_mounter_publishes_total{namespace=~".*",outcome="mounted"}[5m]))`, ""},
		{`histogram_quantile(0.9, sum by (le) (rate(aws_secrets_injector_mounter_fetch_duration_seconds_bucket[5m])))`, ""},
		{`aws_secrets_injector_mounter_fetch_duration_seconds_sum / aws_secrets_injector_mounter_fetch_duration_seconds_count`, ""},
		{`rate(aws_secrets_injector_mounter_publish_failures_total{reason=~"Throttled|MountFailed"}[5m])`, ""},
		{`rate(aws_secrets_injector_mounter_aws_call_duration_seconds_bucket[5m])`, "aws_call_duration_seconds_bucket is not exported"},
		{`aws_secrets_injector_mounter_publishes_total{outcome="cached"}`, `outcome="cached"`},
		{`aws_secrets_injector_mounter_publishes_total{result="mounted"}`, "has no label result"},
		{`sum by (api) (aws_secrets_injector_mounter_publishes_total)`, "label api"},
		{`aws_secrets_injector_mounter_publish_failures_total{reason="Throtled"}`, `reason="Throtled"`},
		{`sum by (le) (aws_secrets_injector_mounter_fetch_duration_seconds_count)`, "label le"},
		{`aws_secrets_injector_mounter_publishes_total_bucket`, "is not exported"},
	} {
		p, err := Parse(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		errs := Check(f, p)
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s: %v", tc.expr, errs)
		case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want)):
			t.Errorf("%s: errors %v, want one naming %q", tc.expr, errs, tc.want)
		}
	}
}
