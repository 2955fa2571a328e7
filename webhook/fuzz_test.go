package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

func FuzzParseAnnotations(f *testing.F) {
	f.Add("true", "db", "csi", "/mnt/x", "app,sidecar", "true", "1m", "false")
	f.Add("true", "", "init", "rel", ",", "yes", "1s", "1")
	f.Add("true", "Bad_Name", "", "/a/../b", "a,a", "", "-5m", "")
	f.Add("false", "db", "csi", "/", "  app ", "false", "9999999h", "true")
	f.Fuzz(func(t *testing.T, inject, class, mode, mountPath, containers, refresh, interval, initFirst string) {
		ann := map[string]string{
			AnnotationInject: inject, AnnotationSecretProviderClass: class, AnnotationMode: mode,
			AnnotationMountPath: mountPath, AnnotationContainers: containers, AnnotationRefresh: refresh,
			AnnotationRefreshInterval: interval, AnnotationInitFirst: initFirst,
		}
		for k, v := range ann {
			if v == "" && len(k)%2 == 0 { // vary presence as well as value
				delete(ann, k)
			}
		}
		a, err := ParseAnnotations(ann, ModeCSI, DefaultMountPath)
		if err != nil {
			var ae *AnnotationError
			if !errors.As(err, &ae) || !strings.HasPrefix(ae.Annotation, AnnotationPrefix) || ae.Problem == "" {
				t.Fatalf("error %v does not name an annotation and a problem", err)
			}
			if !strings.Contains(err.Error(), ae.Annotation) {
				t.Fatalf("message %q does not name %s", err, ae.Annotation)
			}
			return
		}
		if !a.Inject {
			return
		}
		if !path.IsAbs(a.MountPath) || path.Clean(a.MountPath) != a.MountPath || a.MountPath == "/" {
			t.Fatalf("accepted mount path %q", a.MountPath)
		}
		if a.Mode != ModeCSI && a.Mode != ModeInit {
			t.Fatalf("accepted mode %q", a.Mode)
		}
		if a.SecretProviderClass == "" {
			t.Fatal("accepted an empty class name")
		}
		for _, c := range a.Containers {
			if c == "" || strings.ContainsAny(c, ", ") {
				t.Fatalf("accepted container name %q", c)
			}
		}
	})
}

// FuzzMutate: the mutation never panics, never changes its input, and is
// idempotent: mutate(mutate(p)) == mutate(p).
func FuzzMutate(f *testing.F) {
	f.Add("apps", "db", "", "", "", "/cache", "app", false, false, false, false, "", "", "")
	f.Add("apps", "db", "csi", "/etc/s", "sidecar", "/etc/s", "sidecar", true, false, true, false, "", "", "1m")
	f.Add("apps", "nope", "init", "x", "app,app", "", "", false, true, false, false, "", "", "")
	f.Add("kube-system", "db", "csi", "/mnt/secrets-store", "", "/mnt/secrets-store", "aws-secrets", true, true, false, false, "", "", "")
	// Init mode: IRSA (before and after the EKS webhook), refresh, init-first, names taken, resources.
	f.Add("apps", "db", "init", "", "", "", "", false, false, false, false, "", "", "")
	f.Add("apps", "db", "init", "/etc/s", "sidecar", "", "aws-iam-token", false, false, true, true, "irsa", "64Mi", "")
	f.Add("apps", "db", "init", "", "", "", "aws-secrets", false, false, true, false, "irsa-custom", "1Gi", "30s")
	f.Add("apps", "db", "init", "/var/run/secrets/eks.amazonaws.com/serviceaccount", "", "", "", false, false, false, true, "irsa", "x", "0")
	f.Fuzz(func(t *testing.T, ns, class, mode, mountPath, containers, existingMount, existingVolume string, withStatus, mirror,
		refresh, initFirst bool, serviceAccount, memoryRequest, interval string) {
		p := testPod(map[string]string{AnnotationSecretProviderClass: class})
		for k, v := range map[string]string{AnnotationMode: mode, AnnotationMountPath: mountPath, AnnotationContainers: containers,
			AnnotationInjectorMemoryRequest: memoryRequest, AnnotationRefreshInterval: interval} {
			if v != "" {
				p.Annotations[k] = v
			}
		}
		if refresh {
			p.Annotations[AnnotationRefresh] = "true"
		}
		if initFirst {
			p.Annotations[AnnotationInitFirst] = "true"
		}
		p.Spec.ServiceAccountName = serviceAccount
		if existingVolume == IRSAVolumeName {
			eksWebhook(p, testRoleARN, IRSAMountPath)
			existingVolume = ""
		}
		if withStatus {
			p.Annotations[AnnotationStatus] = StatusInjected
		}
		if mirror {
			p.Annotations[MirrorPodAnnotation] = "x"
		}
		if existingMount != "" {
			p.Spec.Containers[1].VolumeMounts = append(p.Spec.Containers[1].VolumeMounts, corev1.VolumeMount{Name: "cache", MountPath: existingMount})
		}
		if existingVolume != "" {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: existingVolume})
		}
		in := p.DeepCopy()
		cfg, lk := testConfig(), testLookups()
		once, outcome, err := Mutate(context.Background(), p, ns, cfg, lk)
		if !equality.Semantic.DeepEqual(in, p) {
			t.Fatal("Mutate changed its input")
		}
		if err != nil {
			if !errors.As(err, new(*DeniedError)) {
				t.Fatalf("unexpected internal error: %v", err)
			}
			return
		}
		if outcome == Skipped && !equality.Semantic.DeepEqual(once, in) {
			t.Fatal("skipped but changed")
		}
		twice, outcome2, err := Mutate(context.Background(), once, ns, cfg, lk)
		if err != nil || outcome2 != Skipped || !equality.Semantic.DeepEqual(once, twice) {
			t.Fatalf("not idempotent: second pass %q, %v", outcome2, err)
		}
		if outcome == Mutated && once.Annotations[AnnotationStatus] != StatusInjected {
			t.Fatal("mutated pod lacks the status annotation")
		}
		if outcome == Mutated {
			checkHandlerPatch(t, in, ns, cfg, lk)
		}
	})
}

// checkHandlerPatch mutates a copy of pod as the handler does, in place
// after a snapshot, and checks that the patch turns pod into the mutated
// pod: no mutator wrote where the snapshot shares memory with the pod.
func checkHandlerPatch(t *testing.T, pod *corev1.Pod, ns string, cfg Config, lk Lookups) {
	t.Helper()
	owned := pod.DeepCopy()
	before := takeSnapshot(owned)
	defer before.release()
	out, _, _, err := mutateOwned(context.Background(), owned, ns, cfg, lk)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := typedPatch(&before.pod, out)
	if err != nil {
		t.Fatal(err)
	}
	from, _ := json.Marshal(pod)
	want, _ := json.Marshal(out)
	got := applyPatch(t, from, raw)
	if !jsonEqual(t, got, want) {
		t.Fatalf("the patch %s gives\n%s\nwant\n%s", raw, got, want)
	}
}
