package mounter

import (
	"strings"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

func podContext(extra map[string]string) map[string]string {
	vc := map[string]string{
		CtxPodNamespace: "ns", CtxPodName: "p", CtxPodUID: "uid", CtxServiceAccount: "sa",
		AttrSecretProviderClass: "db",
	}
	for k, v := range extra {
		vc[k] = v
	}
	return vc
}

// TestRefreshIntervalPrecedence: the pod's volume attribute beats the class's
// refreshInterval, which beats the flag.
func TestRefreshIntervalPrecedence(t *testing.T) {
	d := &Driver{cfg: Config{RefreshInterval: 2 * time.Minute}}
	class := &spc.Spec{RefreshInterval: 45 * time.Second}

	p, err := parsePodInfo(podContext(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.interval(p, nil); got != 2*time.Minute {
		t.Errorf("no pod or class interval: %s, want the flag's 2m", got)
	}
	if got := d.interval(p, class); got != 45*time.Second {
		t.Errorf("class interval: %s, want 45s", got)
	}
	p, err = parsePodInfo(podContext(map[string]string{AttrRefreshInterval: "1m0s"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.interval(p, class); got != time.Minute {
		t.Errorf("pod interval: %s, want 1m", got)
	}
}

func TestRefreshIntervalAttributeRejected(t *testing.T) {
	for _, bad := range []string{"soon", "1s", "-5m"} {
		_, err := parsePodInfo(podContext(map[string]string{AttrRefreshInterval: bad}), nil)
		if err == nil || !strings.Contains(err.Error(), AttrRefreshInterval) || !strings.Contains(err.Error(), "refresh-interval annotation") {
			t.Errorf("%q: error %v does not name the attribute and the annotation", bad, err)
		}
	}
}
