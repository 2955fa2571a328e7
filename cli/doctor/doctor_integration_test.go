//go:build integration

package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/seed-ddac166a/aws-secrets-injector/cli/doctor"
	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/webhook"
)

const (
	nsOn   = "doc-on"  // labelled for the webhook
	nsOff  = "doc-off" // not labelled
	role   = "arn:aws:iam::111122223333:role/app"
	driver = webhook.DefaultDriverName
)

type fixture struct {
	t    *testing.T
	env  *envtest.Env
	d    *doctor.Doctor
	stat map[string]*mounter.PodStatus // by pod UID; missing: the mounter serves none
}

func (f *fixture) class(ns, name, objects string) {
	f.t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"provider": "aws", "parameters": map[string]any{"objects": objects, "region": "us-east-1"}},
	}}
	if err := f.env.Client.Create(context.Background(), u); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sa(ns, name string, ann map[string]string) {
	f.t.Helper()
	if _, err := f.env.Clientset.CoreV1().ServiceAccounts(ns).Create(context.Background(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann}}, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// pod creates a pod as the webhook (or the user) left it.
func (f *fixture) pod(ns, name string, edit func(*corev1.Pod)) *corev1.Pod {
	f.t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{}},
		Spec: corev1.PodSpec{ServiceAccountName: "app", NodeName: "node-1",
			Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	edit(p)
	out, err := f.env.Clientset.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func annotated(class string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Annotations[webhook.AnnotationInject] = "true"
		p.Annotations[webhook.AnnotationSecretProviderClass] = class
	}
}

// mutatedCSI is a pod as the webhook's csi mode leaves it.
func mutatedCSI(class string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		annotated(class)(p)
		p.Annotations[webhook.AnnotationStatus] = webhook.StatusInjected
		csiVolume(class)(p)
	}
}

func csiVolume(class string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		ro := true
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "aws-secrets", VolumeSource: corev1.VolumeSource{
			CSI: &corev1.CSIVolumeSource{Driver: driver, ReadOnly: &ro, VolumeAttributes: map[string]string{mounter.AttrSecretProviderClass: class}}}})
	}
}

func mutatedInit(class string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		annotated(class)(p)
		p.Annotations[webhook.AnnotationMode] = "init"
		p.Annotations[webhook.AnnotationStatus] = webhook.StatusInjected
		p.Spec.InitContainers = []corev1.Container{{Name: webhook.InjectorContainerName, Image: "asi"}}
	}
}

func both(fs ...func(*corev1.Pod)) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		for _, f := range fs {
			f(p)
		}
	}
}

func (f *fixture) served(p *corev1.Pod, lastError string) {
	now := time.Now()
	f.stat[string(p.UID)] = &mounter.PodStatus{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Node: "node-1",
		Volumes: []mounter.VolumeStatus{{VolumeID: "csi-1", Class: "db", ServiceAccount: "app", Identity: "irsa:" + role,
			Interval: "2m0s", LastFetch: now.Add(-30 * time.Second), LastAttempt: now, LastChange: now.Add(-time.Hour), LastError: lastError, Bytes: 24}}}
}

func (f *fixture) initStatus(p *corev1.Pod, st corev1.ContainerState) {
	f.t.Helper()
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: webhook.InjectorContainerName, State: st, Image: "asi"}}
	if _, err := f.env.Clientset.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) event(p *corev1.Pod, reason, msg string, at time.Time) {
	f.t.Helper()
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: p.Name + "-", Namespace: p.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		Type:           corev1.EventTypeWarning, Reason: reason, Message: msg, Count: 2,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at), Source: corev1.EventSource{Component: "kubelet"}}
	if _, err := f.env.Clientset.CoreV1().Events(p.Namespace).Create(context.Background(), ev, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// mounterEvent records a warning Event as the mounter does (its component).
func (f *fixture) mounterEvent(p *corev1.Pod, reason, msg string) {
	f.t.Helper()
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: p.Name + "-", Namespace: p.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		Type:           corev1.EventTypeWarning, Reason: reason, Message: msg, Count: 1,
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Source: corev1.EventSource{Component: "aws-secrets-injector-mounter", Host: "node-1"}}
	if _, err := f.env.Clientset.CoreV1().Events(p.Namespace).Create(context.Background(), ev, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func step(r *doctor.Report, name string) *doctor.Step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// TestDoctorPod: against a real API server, each broken step of a pod's
// path gives its ✗ and the fix, and a working pod is ✓ throughout.
func TestDoctorPod(t *testing.T) {
	env := envtest.Start(t)
	ctx := context.Background()
	f := &fixture{t: t, env: env, stat: map[string]*mounter.PodStatus{}}
	kc, err := mounter.NewKubeCluster(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	f.d = &doctor.Doctor{Kube: env.Clientset, Classes: kc, Status: func(_ context.Context, p *corev1.Pod) (*mounter.PodStatus, error) {
		if ps, ok := f.stat[string(p.UID)]; ok {
			return ps, nil
		}
		return nil, errors.New("this node (node-1) serves no volume of pod " + string(p.UID))
	}}
	for ns, labels := range map[string]map[string]string{nsOn: {webhook.NamespaceLabel: webhook.NamespaceLabelValue}, nsOff: nil} {
		if _, err := env.CreateNamespace(ctx, ns, labels); err != nil {
			t.Fatal(err)
		}
		f.sa(ns, "app", map[string]string{identity.AnnotationRoleARN: role})
		f.sa(ns, "norole", nil)
		f.class(ns, "db", `[{"objectName": "my-app/db", "objectType": "secretsmanager"}]`)
	}
	f.class(nsOn, "typo", `[{"objectName": "my-app/db", "objectType": "secretsmanager", "objectAliass": "x"}]`)
	f.class(nsOn, "broken", `[{"objectName": "../etc/passwd", "objectType": "secretsmanager"}]`)

	good := f.pod(nsOn, "good", mutatedCSI("db"))
	f.served(good, "")
	typo := f.pod(nsOn, "typo", mutatedCSI("typo"))
	f.served(typo, "")
	failing := f.pod(nsOn, "failing", mutatedCSI("db"))
	f.served(failing, "AccessDenied: not authorized to perform secretsmanager:GetSecretValue on my-app/db")
	f.pod(nsOn, "unserved", mutatedCSI("db"))
	f.pod(nsOn, "pending", both(mutatedCSI("db"), func(p *corev1.Pod) { p.Spec.NodeName = "" }))
	mountFailed := f.pod(nsOn, "mount-failed", mutatedCSI("db"))
	f.event(mountFailed, "FailedMount", "MountVolume.SetUp failed for volume \"aws-secrets\": rpc error: AccessDenied", time.Now())
	f.served(mountFailed, "")
	// A FailedMount from before the pod became ready is history, not a failure.
	recovered := f.pod(nsOn, "recovered", mutatedCSI("db"))
	f.event(recovered, "FailedMount", "MountVolume.SetUp failed: driver not registered yet", time.Now().Add(-time.Hour))
	f.served(recovered, "")
	f.event(recovered, "MissingClusterDNS", "kubelet does not have ClusterDNS IP configured", time.Now())
	refused := f.pod(nsOn, "refused", mutatedCSI("db"))
	f.served(refused, "")
	f.mounterEvent(refused, "AccessDenied", "SecretProviderClass doc-on/db: access denied")
	recovered.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Add(-30 * time.Minute))}}
	if _, err := env.Clientset.CoreV1().Pods(nsOn).UpdateStatus(ctx, recovered, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.pod(nsOn, "no-role", both(mutatedCSI("db"), func(p *corev1.Pod) { p.Spec.ServiceAccountName = "norole" }))
	f.pod(nsOn, "no-class", mutatedCSI("nope"))
	f.pod(nsOn, "bad-class", mutatedCSI("broken"))
	f.pod(nsOn, "not-mutated", annotated("db"))
	f.pod(nsOff, "ns-off", annotated("db"))
	f.pod(nsOn, "bad-annotation", both(annotated("db"), func(p *corev1.Pod) { p.Annotations[webhook.AnnotationMode] = "sidecar" }))
	f.pod(nsOn, "plain", func(*corev1.Pod) {})
	byHand := f.pod(nsOff, "by-hand", csiVolume("db"))
	f.served(byHand, "")
	initOK := f.pod(nsOn, "init-ok", mutatedInit("db"))
	f.initStatus(initOK, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}})
	initBad := f.pod(nsOn, "init-bad", mutatedInit("db"))
	f.initStatus(initBad, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error",
		Message: "AccessDenied: role app may not read my-app/db"}})

	for _, tc := range []struct {
		ns, pod string
		failed  string // the step that fails; "" for all ✓
		want    string // in that step's detail or fix (or, all ✓, a warning)
	}{
		{nsOn, "good", "", ""},
		{nsOn, "typo", "", "objectAliass"},
		{nsOn, "recovered", "", "before the pod became ready"},
		{nsOff, "by-hand", "", ""},
		{nsOn, "init-ok", "", ""},
		{nsOn, "missing", "pod", "not found"},
		{nsOn, "plain", "request", "asks for no secrets"},
		{nsOn, "bad-annotation", "annotations", webhook.AnnotationMode},
		{nsOff, "ns-off", "namespace", "kubectl label namespace " + nsOff},
		{nsOn, "not-mutated", "mutated", "delete the pod"},
		{nsOn, "no-class", "class", "not found"},
		{nsOn, "bad-class", "class", "objects[0]"},
		{nsOn, "no-role", "identity", "kubectl annotate serviceaccount -n " + nsOn + " norole"},
		{nsOn, "pending", "volume", "not scheduled"},
		{nsOn, "unserved", "volume", "serves no volume"},
		{nsOn, "failing", "volume", "AccessDenied"},
		{nsOn, "mount-failed", "events", "FailedMount"},
		{nsOn, "refused", "events", "AccessDenied"},
		{nsOn, "init-bad", "injector", "exited 3: AccessDenied"},
	} {
		t.Run(tc.ns+"/"+tc.pod, func(t *testing.T) {
			r := f.d.Pod(ctx, tc.ns, tc.pod)
			var text bytes.Buffer
			if err := doctor.Write(&text, r, false); err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + text.String())
			if tc.failed == "" {
				if !r.OK {
					t.Fatalf("want all ✓:\n%s", text.String())
				}
				if !strings.Contains(text.String(), "✓ events") {
					t.Errorf("a working pod's report stops early:\n%s", text.String())
				}
				if tc.want != "" && (!strings.Contains(text.String(), "warning: ") || !strings.Contains(text.String(), tc.want)) {
					t.Errorf("want a warning naming %q:\n%s", tc.want, text.String())
				}
				return
			}
			s := step(r, tc.failed)
			if r.OK || s == nil || s.OK {
				t.Fatalf("want ✗ %s:\n%s", tc.failed, text.String())
			}
			if !strings.Contains(s.Detail+" "+s.Fix, tc.want) {
				t.Errorf("✗ %s does not say %q:\n%s", tc.failed, tc.want, text.String())
			}
			if !strings.Contains(text.String(), "✗ "+tc.failed+": ") {
				t.Errorf("the text has no ✗ line for %s:\n%s", tc.failed, text.String())
			}
			var js doctor.Report
			var buf bytes.Buffer
			if err := doctor.Write(&buf, r, true); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(buf.Bytes(), &js); err != nil || js.OK || len(js.Steps) != len(r.Steps) {
				t.Errorf("-o json: %v %s", err, buf.String())
			}
		})
	}

	t.Run("class", func(t *testing.T) {
		r := f.d.Class(ctx, nsOn, "db")
		s := step(r, "used by")
		if !r.OK || s == nil {
			t.Fatalf("%+v", r)
		}
		// Every pod of nsOn naming class db, in the annotation or a volume.
		for _, p := range []string{"good", "recovered", "refused", "failing", "unserved", "pending", "mount-failed", "no-role", "not-mutated", "init-ok", "init-bad", "bad-annotation"} {
			if !strings.Contains(s.Detail, p) {
				t.Errorf("used by %q lacks %s", s.Detail, p)
			}
		}
		if !strings.HasPrefix(s.Detail, "12 pods") {
			t.Errorf("used by %q, want 12 pods", s.Detail)
		}
		if r := f.d.Class(ctx, nsOn, "broken"); r.OK {
			t.Errorf("an invalid class reported ✓: %+v", r)
		}
	})
	// The chart's mounter.nodeIdentity: fallback lets the node's role serve a
	// CSI pod whose account has no role (read off the DaemonSet's args).
	t.Run("node identity", func(t *testing.T) {
		if _, err := env.CreateNamespace(ctx, "asi", nil); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"app.kubernetes.io/name": "aws-secrets-injector", "app.kubernetes.io/component": "mounter"}
		ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "asi-mounter", Labels: labels},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "mounter", Image: "asi", Args: []string{"mounter", "--node-identity=fallback"}}}}}}}
		if _, err := env.Clientset.AppsV1().DaemonSets("asi").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := f.d.Pod(ctx, nsOn, "no-role")
		if s := step(r, "identity"); s == nil || !s.OK || !strings.Contains(s.Detail, "mounter.nodeIdentity is fallback") {
			t.Errorf("no-role with nodeIdentity fallback: %+v", s)
		}
		// Init mode: the mounter's policy does not apply.
		f.pod(nsOn, "init-norole", both(mutatedInit("db"), func(p *corev1.Pod) { p.Spec.ServiceAccountName = "norole" }))
		if s := step(f.d.Pod(ctx, nsOn, "init-norole"), "identity"); s == nil || s.OK {
			t.Errorf("init mode without a role, nodeIdentity fallback: %+v, want ✗", s)
		}
	})
	// Anyone who may create pods may label a DaemonSet and its pod like the
	// mounter: the doctor then trusts neither (nor their node identity or
	// their status) until told the release namespace.
	t.Run("look-alike mounter", func(t *testing.T) {
		labels := map[string]string{"app.kubernetes.io/name": "aws-secrets-injector", "app.kubernetes.io/component": "mounter"}
		fake := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "asi-mounter", Labels: labels},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "mounter", Image: "evil", Args: []string{"mounter", "--node-identity=always"}}}}}}}
		fake, err := env.Clientset.AppsV1().DaemonSets(nsOn).Create(ctx, fake, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		real, err := env.Clientset.AppsV1().DaemonSets("asi").Get(ctx, "asi-mounter", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A running look-alike pod on node n1 in each namespace: one the fake
		// DaemonSet controls, one in the release namespace that nothing does.
		running := func(ns, name string, owner *appsv1.DaemonSet) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
				Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "mounter", Image: "evil",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
			if owner != nil {
				p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))}
			}
			p, err := env.Clientset.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Status.Phase = corev1.PodRunning
			if _, err := env.Clientset.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		running(nsOn, "fake-mounter", fake)
		running("asi", "stray-mounter", nil)

		if s := step(f.d.Pod(ctx, nsOn, "no-role"), "identity"); s == nil || s.OK {
			t.Errorf("two mounter DaemonSets: the identity step trusted one: %+v", s)
		}
		pinned := *f.d
		pinned.MounterNamespace = "asi"
		if s := step(pinned.Pod(ctx, nsOn, "no-role"), "identity"); s == nil || !s.OK || !strings.Contains(s.Detail, "mounter.nodeIdentity is fallback") {
			t.Errorf("--mounter-namespace asi: %+v, want the release's fallback", s)
		}
		onN1 := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1"}}
		if _, err := doctor.ProxyStatus(env.Clientset, "", "")(ctx, onN1); err == nil || !strings.Contains(err.Error(), "--mounter-namespace") {
			t.Errorf("two mounter DaemonSets, no namespace: %v, want the flag named", err)
		}
		_, err = doctor.ProxyStatus(env.Clientset, "", "asi")(ctx, onN1)
		if want := "no running pod of the mounter DaemonSet asi/" + real.Name; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("only look-alike pods on n1: %v, want %q", err, want)
		}
		if err := env.Clientset.AppsV1().DaemonSets(nsOn).Delete(ctx, fake.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("namespace", func(t *testing.T) {
		r := f.d.Namespace(ctx, nsOff)
		s := step(r, "pods")
		if r.OK || s == nil || !strings.Contains(s.Detail, "ns-off") || !strings.Contains(s.Fix, "kubectl label namespace "+nsOff) {
			t.Errorf("namespace %s: %+v", nsOff, r)
		}
	})
}
