package observe

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

// Plan is a bounded load: Ticks rounds, one every Tick (a kubelet sync of
// every volume, a few admissions). Volumes ramp up to Volumes per node over
// the first third, a third of them go away in the last fifth; AWS throttles
// Secrets Manager for ThrottleTicks rounds from ThrottleAt; the secret
// changes every RotateEvery rounds.
type Plan struct {
	Ticks         int
	Tick          time.Duration
	Volumes       int
	ThrottleAt    int
	ThrottleTicks int
	RotateEvery   int
}

// Stats counts what the load did.
type Stats struct {
	Admissions, Denied atomic.Int64
	Publishes, Failed  atomic.Int64
	Unpublishes        atomic.Int64
	Rotations          atomic.Int64
}

func (s *Stats) String() string {
	return fmt.Sprintf("admissions %d (denied %d), publishes %d (failed %d), unpublishes %d, secret versions %d",
		s.Admissions.Load(), s.Denied.Load(), s.Publishes.Load(), s.Failed.Load(), s.Unpublishes.Load(), s.Rotations.Load())
}

// volume is one pod's CSI volume on one node.
type volume struct {
	pod, sa, class string
}

// Run drives the plan; it stops at the plan's end or when ctx ends, and
// returns the first setup error (a refused publish or pod is counted, not an
// error). Every call has its own time limit; at most 8 calls per node run at
// once.
func (s *Stack) Run(ctx context.Context, p Plan) (*Stats, error) {
	st := &Stats{}
	tokens := map[string]string{}
	for _, sa := range []string{SAApp, SAOther} {
		tok, err := s.Kube.MintToken(ctx, AppNamespace, sa, identity.STSAudience)
		if err != nil {
			return st, err
		}
		tokens[sa] = tok
	}
	live := make([][]volume, len(s.Mounters))
	next := 0
	throttle := ""
	defer func() {
		if throttle != "" {
			s.AWS.RemoveFault(throttle)
		}
	}()
	tick := time.NewTicker(p.Tick)
	defer tick.Stop()
	for k := range p.Ticks {
		// 1. AWS: throttling on and off; a new secret version.
		switch k {
		case p.ThrottleAt:
			throttle = s.AWS.SetFault(fakeaws.Fault{API: "secretsmanager:*", Throttle: true})
		case p.ThrottleAt + p.ThrottleTicks:
			s.AWS.RemoveFault(throttle)
			throttle = ""
		}
		if p.RotateEvery > 0 && k > 0 && k%p.RotateEvery == 0 {
			v := fmt.Sprintf(`{"username":"admin","password":"rotated-%d"}`, k)
			if _, err := s.AWS.PutSecret(SecretName, v); err != nil {
				return st, err
			}
			st.Rotations.Add(1)
		}
		// 2. Volumes: the shape of the plan, then every live volume republished.
		var wg sync.WaitGroup
		for i, m := range s.Mounters {
			want := p.Volumes
			if ramp := p.Ticks / 3; ramp > 0 && k < ramp {
				want = 1 + p.Volumes*k/ramp
			}
			if k >= p.Ticks*4/5 {
				want = p.Volumes - p.Volumes/3
			}
			for len(live[i]) > want {
				v := live[i][len(live[i])-1]
				live[i] = live[i][:len(live[i])-1]
				if err := unpublish(ctx, m, v); err != nil {
					return st, err
				}
				st.Unpublishes.Add(1)
			}
			for len(live[i]) < want {
				next++
				v := volume{pod: fmt.Sprintf("app-%d", next), sa: SAApp, class: SecretClass}
				if next%3 == 0 {
					v.class = ParamClass
				}
				live[i] = append(live[i], v)
			}
			vols := append([]volume(nil), live[i]...)
			// A pod whose role may not read the class: refused every round.
			if k%4 == 1 {
				vols = append(vols, volume{pod: fmt.Sprintf("denied-%d", k), sa: SAOther, class: SecretClass})
			}
			sem := make(chan struct{}, 8)
			for _, v := range vols {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					st.Publishes.Add(1)
					if err := publish(ctx, m, v, tokens[v.sa]); err != nil {
						st.Failed.Add(1)
					}
				}()
			}
		}
		// 3. Admissions: two pods the webhook mutates, one it denies.
		for j := range 3 {
			class := SecretClass
			if j == 2 {
				class = "missing"
			}
			st.Admissions.Add(1)
			if err := s.createPod(ctx, k, j, class); err != nil {
				st.Denied.Add(1)
			}
		}
		wg.Wait()
		if k == p.Ticks-1 {
			break
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
	return st, nil
}

// target is the kubelet's target path of pod's volume (the mounter acts only
// there), its parent created as the kubelet does.
func target(m *Mounter, pod string) string {
	return mountertest.KubeletTarget(filepath.Join(m.Dir, "kubelet"), mountertest.PodUID(pod), "secrets")
}

// publish is the kubelet's NodePublishVolume for v (a first publish or a
// republish).
func publish(ctx context.Context, m *Mounter, v volume, token string) error {
	tp := target(m, v.pod)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := m.CSI.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId:   "csi-" + v.pod,
		TargetPath: tp,
		VolumeCapability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY},
		},
		Readonly: true,
		VolumeContext: mountertest.VolumeContext(AppNamespace, v.pod, v.sa, v.class,
			map[string]string{identity.STSAudience: token}),
	})
	return err
}

func unpublish(ctx context.Context, m *Mounter, v volume) error {
	tp := target(m, v.pod)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := m.CSI.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-" + v.pod, TargetPath: tp}); err != nil {
		return fmt.Errorf("unpublish %s: %w", v.pod, err)
	}
	return nil
}

// createPod creates an annotated pod in the opted-in namespace: the API
// server calls the webhook, which mutates it or, for a missing class,
// denies it (the error returned).
func (s *Stack) createPod(ctx context.Context, k, j int, class string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("load-%d-%d", k, j), Annotations: map[string]string{
			"aws-secrets-injector.io/inject": "true", "aws-secrets-injector.io/secret-provider-class": class}},
		Spec: corev1.PodSpec{ServiceAccountName: SAApp, Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
	}
	_, err := s.Kube.Clientset.CoreV1().Pods(AppNamespace).Create(ctx, pod, metav1.CreateOptions{})
	return err
}
