package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

func TestParseExports(t *testing.T) {
	got := parseExports("noise\nexport A=1 B=x=y\n  export C=/p\nexportD=2\n")
	want := map[string]string{"A": "1", "B": "x=y", "C": "/p"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestClusterRunsPod brings the node up and runs a static-binary pod to
// completion.
func TestClusterRunsPod(t *testing.T) {
	c := Up(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	if c.Issuer != "https://"+c.NodeIP || !strings.Contains(string(c.JWKS), `"RS256"`) {
		t.Errorf("issuer %q, jwks %s", c.Issuer, c.JWKS)
	}
	node, err := c.Clientset.CoreV1().Nodes().Get(ctx, "asi-node", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := node.Status.NodeInfo.KubeletVersion; v != "v1.37.2" {
		t.Errorf("kubelet version %q, want v1.37.2", v)
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "c", Image: "localhost/asi-smoke:dev", ImagePullPolicy: corev1.PullNever,
				Command: []string{"/etcd", "--version"},
			}},
		},
	}
	if _, err := c.Clientset.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var phase corev1.PodPhase
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := c.Clientset.CoreV1().Pods("default").Get(ctx, "once", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	})
	if err != nil || phase != corev1.PodSucceeded {
		t.Fatalf("pod phase %s: %v", phase, err)
	}
	logs, err := c.Kubectl(ctx, "logs", "once")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(logs, "etcd Version: ") {
		t.Errorf("logs %q", logs)
	}
}
