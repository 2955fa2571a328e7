// Package doctor owns `aws-secrets-injector doctor`: it explains, one step
// per line, why a pod has its secrets or not, which pods use a class, and
// what a namespace is set up for. It is a kubeconfig client that reads
// metadata only: the pod, its namespace, its ServiceAccount, the
// SecretProviderClass, Events, and the mounter's per-volume status
// (mounter.StatusHandler, through the API server's pods/proxy). It reads
// no Secret and prints no secret value.
//
// The steps of `doctor pod`:
//
//  1. the pod exists (and where it runs);
//  2. how it asks for secrets: the webhook's annotations (parsed as the
//     webhook parses them), or a CSI volume of ours written by hand;
//  3. for the webhook: the namespace is opted in, and the pod was mutated
//     (status annotation, volume or init container present);
//  4. the SecretProviderClass exists and is valid, with its warnings;
//  5. the identity: Pod Identity, or the ServiceAccount's IRSA role, and the
//     class's assumeRoleArn chained after it;
//  6. delivery: in CSI mode the mounter on the pod's node serves the volume
//     (last fetch, last change, last refresh error); in init mode the
//     injector container's state and termination message;
//  7. the pod's warning Events.
//
// Any ✗ makes the command exit 1.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
	"github.com/seed-ddac166a/aws-secrets-injector/webhook"
)

// Step is one line of a report.
type Step struct {
	Name     string   `json:"step"`
	OK       bool     `json:"ok"`
	Detail   string   `json:"detail"`
	Fix      string   `json:"fix,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Report is what a doctor command found about one subject.
type Report struct {
	Subject string `json:"subject"`
	OK      bool   `json:"ok"`
	Steps   []Step `json:"steps"`
}

func (r *Report) pass(name, detail string, warnings ...string) {
	r.Steps = append(r.Steps, Step{Name: name, OK: true, Detail: detail, Warnings: warnings})
}

func (r *Report) fail(name, detail, fix string) {
	r.Steps = append(r.Steps, Step{Name: name, Detail: detail, Fix: fix})
}

func (r *Report) done() *Report {
	r.OK = !slices.ContainsFunc(r.Steps, func(s Step) bool { return !s.OK })
	return r
}

// Classes reads SecretProviderClasses (mounter.KubeCluster).
type Classes interface {
	SecretProviderClass(ctx context.Context, namespace, name string) (*spc.Class, error)
}

// StatusSource returns the mounter's status of pod's volumes on its node.
type StatusSource func(ctx context.Context, pod *corev1.Pod) (*mounter.PodStatus, error)

// Doctor holds the clients.
type Doctor struct {
	Kube    kubernetes.Interface
	Classes Classes
	Status  StatusSource
	// Drivers are the CSI driver names that are ours (the chart's driverName).
	Drivers []string
	// MounterSelector selects the chart's mounter DaemonSet (its
	// mounter.nodeIdentity); "" is DefaultMounterSelector. MounterNamespace
	// is its namespace; "" is the only one with a match (FindMounter).
	MounterSelector  string
	MounterNamespace string
	// Now is the clock for "ago" (tests); nil is time.Now.
	Now func() time.Time
}

// Limits of what a report lists.
const (
	maxEvents    = 5
	maxPodsNamed = 20
	maxPodsRead  = 5000
)

// DefaultDrivers are the driver names the chart may register.
var DefaultDrivers = []string{webhook.DefaultDriverName, "secrets-store.csi.k8s.io"}

// ownEventReasons are the Events of ours that are warnings, not failures.
var ownEventReasons = []string{mounter.EventClassWarning, mounter.EventSecretObjectsNotSynced}

func (d *Doctor) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// request is what the pod asks for.
type request struct {
	class  string
	mode   webhook.Mode
	viaCSI bool // a CSI volume of ours, by hand or by the webhook
}

// Pod explains namespace/name.
func (d *Doctor) Pod(ctx context.Context, namespace, name string) *Report {
	r := &Report{Subject: "pod " + namespace + "/" + name}
	pod, err := d.Kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		r.fail("pod", apiProblem("pod "+namespace+"/"+name, err), "check the namespace and the name (kubectl get pods -n "+namespace+")")
		return r.done()
	}
	where := "not scheduled yet"
	if pod.Spec.NodeName != "" {
		where = "on node " + pod.Spec.NodeName
	}
	r.pass("pod", fmt.Sprintf("%s, %s, uid %s", pod.Status.Phase, where, pod.UID))

	req, ok := d.request(ctx, r, pod)
	if !ok {
		return r.done()
	}
	spec := d.class(ctx, r, namespace, req.class)
	if spec != nil {
		d.identity(ctx, r, pod, spec, req.viaCSI)
	}
	if req.viaCSI {
		d.volume(ctx, r, pod)
	} else {
		initState(r, pod)
	}
	d.events(ctx, r, pod)
	return r.done()
}

// request reads how the pod asks for secrets; ok is false when it asks for none.
func (d *Doctor) request(ctx context.Context, r *Report, pod *corev1.Pod) (request, bool) {
	csiClass := ""
	for _, v := range pod.Spec.Volumes {
		if v.CSI != nil && slices.Contains(d.drivers(), v.CSI.Driver) && v.CSI.VolumeAttributes[mounter.AttrSecretProviderClass] != "" {
			csiClass = v.CSI.VolumeAttributes[mounter.AttrSecretProviderClass]
			break
		}
	}
	if pod.Annotations[webhook.AnnotationInject] != "true" {
		if csiClass == "" {
			r.fail("request", "the pod asks for no secrets: no "+webhook.AnnotationInject+` annotation and no CSI volume of driver `+strings.Join(d.drivers(), " or "),
				`annotate the pod template with `+webhook.AnnotationInject+`: "true" and `+webhook.AnnotationSecretProviderClass+`: CLASS, or add a CSI volume`)
			return request{}, false
		}
		r.pass("request", "a CSI volume of class "+csiClass+", written in the pod (the webhook is not involved)")
		return request{class: csiClass, viaCSI: true}, true
	}
	ann, err := webhook.ParseAnnotations(pod.Annotations, webhook.ModeCSI, webhook.DefaultMountPath)
	if err != nil {
		r.fail("annotations", err.Error(), "fix the annotation in the pod template; the webhook denies such pods, so this pod predates the webhook or the webhook failed open")
		return request{}, false
	}
	r.pass("annotations", fmt.Sprintf("class %s, mode %s, files at %s", ann.SecretProviderClass, ann.Mode, ann.MountPath))
	ns, err := d.Kube.CoreV1().Namespaces().Get(ctx, pod.Namespace, metav1.GetOptions{})
	switch {
	case err != nil:
		r.fail("namespace", apiProblem("namespace "+pod.Namespace, err), "")
	case ns.Labels[webhook.NamespaceLabel] != webhook.NamespaceLabelValue:
		r.fail("namespace", fmt.Sprintf("namespace %s is not opted in: it lacks the label %s=%s, so the webhook never sees its pods", pod.Namespace, webhook.NamespaceLabel, webhook.NamespaceLabelValue),
			fmt.Sprintf("kubectl label namespace %s %s=%s, then recreate the pod", pod.Namespace, webhook.NamespaceLabel, webhook.NamespaceLabelValue))
	default:
		r.pass("namespace", fmt.Sprintf("%s is opted in (%s=%s)", pod.Namespace, webhook.NamespaceLabel, webhook.NamespaceLabelValue))
	}
	mutated := pod.Annotations[webhook.AnnotationStatus] == webhook.StatusInjected
	hasInit := slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return isInjector(c.Name) })
	switch {
	case !mutated:
		r.fail("mutated", "the pod carries no "+webhook.AnnotationStatus+": "+webhook.StatusInjected+": the webhook did not mutate it",
			"the pod was created before the namespace was labelled, or while the webhook was down (failurePolicy Ignore): delete the pod so it is created again, and read the webhook's logs")
		return request{}, false
	case ann.Mode == webhook.ModeCSI && csiClass == "":
		r.fail("mutated", "marked injected but has no CSI volume of driver "+strings.Join(d.drivers(), " or "), "delete the pod so the webhook mutates it again")
		return request{}, false
	case ann.Mode == webhook.ModeInit && !hasInit:
		r.fail("mutated", "marked injected in init mode but has no injector init container", "delete the pod so the webhook mutates it again")
		return request{}, false
	case ann.Mode == webhook.ModeCSI:
		r.pass("mutated", "CSI volume of class "+csiClass+" added by the webhook")
	default:
		r.pass("mutated", "injector init container added by the webhook")
	}
	return request{class: ann.SecretProviderClass, mode: ann.Mode, viaCSI: ann.Mode == webhook.ModeCSI}, true
}

// class checks the SecretProviderClass and returns its Spec, nil when it is
// missing or invalid.
func (d *Doctor) class(ctx context.Context, r *Report, namespace, name string) *spc.Spec {
	c, err := d.Classes.SecretProviderClass(ctx, namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		r.fail("class", fmt.Sprintf("SecretProviderClass %s/%s not found", namespace, name), "create it in the pod's namespace (aws-secrets-injector validate FILE checks it first), or fix the class name")
		return nil
	case err != nil:
		r.fail("class", apiProblem("SecretProviderClass "+namespace+"/"+name, err), "")
		return nil
	}
	res := spc.Check(c.Parameters, spc.Options{})
	if err := res.Err(); err != nil {
		r.fail("class", fmt.Sprintf("SecretProviderClass %s/%s is invalid: %s", namespace, name, err), "fix the class; aws-secrets-injector validate FILE lists every problem")
		return nil
	}
	var warns []string
	for _, w := range spc.DeliveryWarnings(res.Warnings) {
		warns = append(warns, w.Error())
	}
	if len(c.SecretObjects) > 0 {
		warns = append(warns, "spec.secretObjects is synced into a Kubernetes Secret only where the chart's mounter.syncSecrets is on (never in init mode)")
	}
	region := res.Spec.Region
	if region == "" {
		region = "none: the node's topology.kubernetes.io/region label or the chart's aws.region"
	}
	r.pass("class", fmt.Sprintf("%s/%s is valid: %d objects, region %s", namespace, name, len(res.Spec.Objects), region), warns...)
	return res.Spec
}

// identity says who the pod reads as.
func (d *Doctor) identity(ctx context.Context, r *Report, pod *corev1.Pod, spec *spc.Spec, viaCSI bool) {
	chained := ""
	if spec.AssumeRole != nil {
		chained = ", then assumes " + spec.AssumeRole.ARN
	}
	if spec.UsePodIdentity {
		r.pass("identity", "EKS Pod Identity (usePodIdentity)"+chained+"; the association is on the AWS side: aws eks list-pod-identity-associations --cluster-name CLUSTER --namespace "+pod.Namespace)
		return
	}
	saName := pod.Spec.ServiceAccountName
	if saName == "" {
		saName = "default"
	}
	sa, err := d.Kube.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx, saName, metav1.GetOptions{})
	if err != nil {
		r.fail("identity", apiProblem("ServiceAccount "+pod.Namespace+"/"+saName, err), "")
		return
	}
	role := sa.Annotations[identity.AnnotationRoleARN]
	if role == "" && viaCSI {
		if policy := d.nodeIdentity(ctx); policy == "fallback" || policy == "always" {
			r.pass("identity", fmt.Sprintf("the node's own role: ServiceAccount %s/%s has no %s annotation, and the chart's mounter.nodeIdentity is %s%s",
				pod.Namespace, saName, identity.AnnotationRoleARN, policy, chained))
			return
		}
	}
	if role == "" {
		r.fail("identity", fmt.Sprintf("ServiceAccount %s/%s has no %s annotation and the class does not set usePodIdentity: the pod has no AWS identity of its own", pod.Namespace, saName, identity.AnnotationRoleARN),
			fmt.Sprintf("kubectl annotate serviceaccount -n %s %s %s=arn:aws:iam::ACCOUNT:role/ROLE (IRSA), or set usePodIdentity: \"true\" in the class; only an operator's mounter.nodeIdentity lets the node's role serve it", pod.Namespace, saName, identity.AnnotationRoleARN))
		return
	}
	r.pass("identity", fmt.Sprintf("IRSA: ServiceAccount %s/%s has role %s%s", pod.Namespace, saName, role, chained))
}

// nodeIdentity is the --node-identity of the chart's mounter DaemonSet
// (mounter.nodeIdentity): "never" when it has none, "" when it cannot be
// read (no mounter, or more than one: FindMounter).
func (d *Doctor) nodeIdentity(ctx context.Context) string {
	ds, err := FindMounter(ctx, d.Kube, d.MounterSelector, d.MounterNamespace)
	if err != nil {
		return ""
	}
	for _, c := range ds.Spec.Template.Spec.Containers {
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--node-identity="); ok {
				return v
			}
		}
	}
	return "never"
}

// volume asks the mounter on the pod's node about the pod's volumes.
func (d *Doctor) volume(ctx context.Context, r *Report, pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		r.fail("volume", "the pod is not scheduled: no node has published its volume", "kubectl describe pod -n "+pod.Namespace+" "+pod.Name+" (scheduling Events)")
		return
	}
	if d.Status == nil {
		r.fail("volume", "no way to ask the mounter (no status source)", "")
		return
	}
	ps, err := d.Status(ctx, pod)
	if err != nil {
		r.fail("volume", fmt.Sprintf("the mounter on node %s: %s", pod.Spec.NodeName, err),
			"the kubelet has not published the volume: the pod's Events (FailedMount) say why; kubectl logs of the mounter pod on that node")
		return
	}
	for _, v := range ps.Volumes {
		if v.LastError != "" {
			r.fail("volume", fmt.Sprintf("served on node %s, but the last refresh failed (%s ago): %s; the files are those read %s ago",
				ps.Node, d.ago(v.LastAttempt), v.LastError, d.ago(v.LastFetch)), "fix what the error names; the mounter keeps the files and retries")
			return
		}
	}
	v := ps.Volumes[0]
	r.pass("volume", fmt.Sprintf("served on node %s as %s: %d bytes read %s ago, files last changed %s ago, refresh every %s",
		ps.Node, v.Identity, v.Bytes, d.ago(v.LastFetch), d.ago(v.LastChange), v.Interval))
}

// isInjector reports whether an init container is the webhook's injector
// (webhook.InjectorContainerName, or it with the -N suffix of a name taken).
func isInjector(name string) bool {
	rest, ok := strings.CutPrefix(name, webhook.InjectorContainerName)
	if !ok {
		return false
	}
	n, ok := strings.CutPrefix(rest, "-")
	return rest == "" || (ok && n != "" && strings.Trim(n, "0123456789") == "")
}

// initState reads the injector init container's state.
func initState(r *Report, pod *corev1.Pod) {
	for _, st := range pod.Status.InitContainerStatuses {
		if !isInjector(st.Name) {
			continue
		}
		switch {
		case st.State.Terminated != nil && st.State.Terminated.ExitCode == 0:
			r.pass("injector", fmt.Sprintf("init container %s wrote the files (exited 0 at %s)", st.Name, st.State.Terminated.FinishedAt.UTC().Format(time.RFC3339)))
		case st.State.Terminated != nil:
			r.fail("injector", fmt.Sprintf("init container %s exited %d: %s", st.Name, st.State.Terminated.ExitCode, oneLine(st.State.Terminated.Message)),
				"fix what the message names; the kubelet retries the pod's init containers")
		case st.State.Running != nil:
			r.pass("injector", fmt.Sprintf("%s is running (native sidecar keeping the files current, or still fetching)", st.Name))
		case st.State.Waiting != nil:
			detail := fmt.Sprintf("init container %s is waiting: %s %s", st.Name, st.State.Waiting.Reason, oneLine(st.State.Waiting.Message))
			if t := st.LastTerminationState.Terminated; t != nil {
				detail += fmt.Sprintf("; it last exited %d: %s", t.ExitCode, oneLine(t.Message))
			}
			r.fail("injector", detail, "fix what the message names")
		default:
			r.fail("injector", "init container "+st.Name+" has not started", "kubectl describe pod -n "+pod.Namespace+" "+pod.Name)
		}
		return
	}
	r.fail("injector", "no status of the injector init container yet", "wait for the pod to start, then run doctor again")
}

// events lists the pod's warning Events: ours that are only warnings go
// with the step, any other fails it.
func (d *Doctor) events(ctx context.Context, r *Report, pod *corev1.Pod) {
	list, err := d.Kube.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.uid", string(pod.UID)).String(), Limit: 200})
	if err != nil {
		r.fail("events", apiProblem("Events of the pod", err), "")
		return
	}
	evs := slices.DeleteFunc(list.Items, func(e corev1.Event) bool { return e.Type != corev1.EventTypeWarning })
	slices.SortFunc(evs, func(a, b corev1.Event) int { return eventTime(b).Compare(eventTime(a)) })
	ready := readySince(pod)
	var warns, bad []string
	for _, e := range evs {
		line := fmt.Sprintf("%s (%s ago, ×%d): %s", e.Reason, d.ago(eventTime(e)), max(e.Count, 1), oneLine(e.Message))
		switch {
		case slices.Contains(ownEventReasons, e.Reason):
			warns = append(warns, line)
		case !aboutSecrets(e):
			if len(warns) < maxEvents {
				warns = append(warns, line+" (not about secrets)")
			}
		case !ready.IsZero() && eventTime(e).Before(ready):
			if len(warns) < maxEvents {
				warns = append(warns, line+" (before the pod became ready: recovered)")
			}
		case len(bad) < maxEvents:
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		r.fail("events", strings.Join(bad, "; "), "the newest first: fix what they name (kubectl describe pod -n "+pod.Namespace+" "+pod.Name+")")
		return
	}
	r.pass("events", "no warning Events", warns...)
}

// Class explains namespace/name and lists the pods that use it.
func (d *Doctor) Class(ctx context.Context, namespace, name string) *Report {
	r := &Report{Subject: "SecretProviderClass " + namespace + "/" + name}
	d.class(ctx, r, namespace, name)
	pods, truncated, err := d.pods(ctx, namespace)
	if err != nil {
		r.fail("used by", apiProblem("pods of "+namespace, err), "")
		return r.done()
	}
	var users []string
	for i := range pods {
		if classOf(&pods[i], d.drivers()) == name {
			users = append(users, pods[i].Name)
		}
	}
	detail := fmt.Sprintf("%d pods", len(users))
	if len(users) > 0 {
		detail += ": " + strings.Join(users[:min(len(users), maxPodsNamed)], ", ")
		if len(users) > maxPodsNamed {
			detail += fmt.Sprintf(" and %d more", len(users)-maxPodsNamed)
		}
	}
	if truncated {
		detail += fmt.Sprintf(" (among the first %d pods of the namespace)", maxPodsRead)
	}
	r.pass("used by", detail)
	return r.done()
}

// Namespace explains what a namespace is set up for.
func (d *Doctor) Namespace(ctx context.Context, name string) *Report {
	r := &Report{Subject: "namespace " + name}
	ns, err := d.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		r.fail("namespace", apiProblem("namespace "+name, err), "")
		return r.done()
	}
	optedIn := ns.Labels[webhook.NamespaceLabel] == webhook.NamespaceLabelValue
	if optedIn {
		r.pass("opted in", fmt.Sprintf("label %s=%s: the webhook mutates annotated pods", webhook.NamespaceLabel, webhook.NamespaceLabelValue))
	} else {
		r.pass("opted in", fmt.Sprintf("no label %s=%s: the webhook ignores this namespace; pods with a CSI volume of ours still get their files", webhook.NamespaceLabel, webhook.NamespaceLabelValue))
	}
	pods, _, err := d.pods(ctx, name)
	if err != nil {
		r.fail("pods", apiProblem("pods of "+name, err), "")
		return r.done()
	}
	var unmutated []string
	for _, p := range pods {
		if p.Annotations[webhook.AnnotationInject] == "true" && p.Annotations[webhook.AnnotationStatus] != webhook.StatusInjected {
			unmutated = append(unmutated, p.Name)
		}
	}
	switch {
	case len(unmutated) > 0:
		fix := "delete them so they are created again"
		if !optedIn {
			fix = fmt.Sprintf("kubectl label namespace %s %s=%s, then %s", name, webhook.NamespaceLabel, webhook.NamespaceLabelValue, fix)
		}
		r.fail("pods", fmt.Sprintf("%d annotated pods were not mutated: %s", len(unmutated), strings.Join(unmutated[:min(len(unmutated), maxPodsNamed)], ", ")), fix)
	default:
		r.pass("pods", "every annotated pod was mutated")
	}
	return r.done()
}

// pods lists up to maxPodsRead pods of namespace, in pages.
func (d *Doctor) pods(ctx context.Context, namespace string) (pods []corev1.Pod, truncated bool, err error) {
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := d.Kube.CoreV1().Pods(namespace).List(ctx, opts)
		if err != nil {
			return nil, false, err
		}
		pods = append(pods, list.Items...)
		if list.Continue == "" {
			return pods, false, nil
		}
		if len(pods) >= maxPodsRead {
			return pods, true, nil
		}
		opts.Continue = list.Continue
	}
}

// classOf is the class a pod uses: its annotation, else its CSI volume's.
func classOf(p *corev1.Pod, drivers []string) string {
	if p.Annotations[webhook.AnnotationInject] == "true" {
		return p.Annotations[webhook.AnnotationSecretProviderClass]
	}
	for _, v := range p.Spec.Volumes {
		if v.CSI != nil && slices.Contains(drivers, v.CSI.Driver) {
			return v.CSI.VolumeAttributes[mounter.AttrSecretProviderClass]
		}
	}
	return ""
}

func (d *Doctor) drivers() []string {
	if len(d.Drivers) > 0 {
		return d.Drivers
	}
	return DefaultDrivers
}

func (d *Doctor) ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return d.now().Sub(t).Round(time.Second).String()
}

// aboutSecrets reports whether a warning Event can explain missing
// secrets: one of ours (the mounter's component), or the kubelet's
// FailedMount. Others (MissingClusterDNS, an app's BackOff) are listed as
// warnings, not failures of this path.
func aboutSecrets(e corev1.Event) bool {
	src := e.Source.Component
	if src == "" {
		src = e.ReportingController
	}
	return strings.HasPrefix(src, "aws-secrets-injector") || e.Reason == "FailedMount"
}

// readySince is when the pod last became Ready, zero when it is not.
func readySince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// oneLine keeps a message to one bounded line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

func apiProblem(what string, err error) string {
	switch {
	case apierrors.IsNotFound(err):
		return what + " not found"
	case apierrors.IsForbidden(err):
		return what + ": forbidden for your kubeconfig's user (the doctor needs get on it)"
	}
	return fmt.Sprintf("%s: %v", what, err)
}

// Write prints r as text (one step per line, ✓ or ✗, the fix beneath) or,
// with asJSON, as one JSON object.
func Write(w io.Writer, r *Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	var b strings.Builder
	fmt.Fprintln(&b, r.Subject)
	for _, s := range r.Steps {
		mark := "✓"
		if !s.OK {
			mark = "✗"
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", mark, s.Name, s.Detail)
		for _, wn := range s.Warnings {
			fmt.Fprintf(&b, "      warning: %s\n", wn)
		}
		if s.Fix != "" {
			fmt.Fprintf(&b, "      fix: %s\n", s.Fix)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ErrProblems is returned by the command when a report has a ✗ (exit 1).
var ErrProblems = errors.New("doctor found problems")
