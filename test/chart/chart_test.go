package chart_test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/chartutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/webhook"
)

// names are the object names a value set must produce.
type names struct {
	full, mounter, provider, webhook, secret, config, issuer string
}

func namesOf(r *rendered, t testing.TB) names {
	full := releaseName
	if o, _ := value(t, r, "fullnameOverride").(string); o != "" {
		full = o
	}
	return names{full: full, mounter: full + "-mounter", provider: full + "-provider", webhook: full + "-webhook",
		secret: full + "-webhook-tls", config: full, issuer: full + "-selfsigned"}
}

func TestRenderInvariants(t *testing.T) {
	for _, vs := range valueSets(t) {
		t.Run(vs.name, func(t *testing.T) {
			r := renderChart(t, vs.values)
			n := namesOf(r, t)
			t.Logf("objects: %s", strings.Join(kinds(r), " "))
			checkNoWildcards(t, r)
			checkNamespaces(t, r)
			checkImages(t, r)
			checkBindings(t, r)
			if value(t, r, "mode") == "provider" {
				checkProviderMode(t, r, n)
			} else {
				checkDriverMode(t, r, n)
			}
			checkMetrics(t, r, n)
			checkMonitoring(t, r, n)
			checkNotes(t, r)
		})
	}
}

// checkDriverMode checks the webhook, its configuration and certificates,
// and the mounter and CSIDriver when enabled (mode: driver).
func checkDriverMode(t *testing.T, r *rendered, n names) {
	t.Helper()
	wh := checkWebhook(t, r, n)
	checkWebhookConfiguration(t, r, n, wh)
	checkCertificates(t, r, n)
	if value(t, r, "mounter.enabled").(bool) {
		m := checkMounter(t, r, n)
		checkCSIDriver(t, r, m)
		if m.DriverName != wh.DriverName {
			t.Errorf("mounter --driver-name %q, webhook --driver-name %q", m.DriverName, wh.DriverName)
		}
	} else {
		for _, kind := range []string{"DaemonSet", "CSIDriver"} {
			if slices.ContainsFunc(kinds(r), func(k string) bool { return strings.HasPrefix(k, kind+"/") }) {
				t.Errorf("mounter.enabled=false still renders a %s", kind)
			}
		}
	}
	if slices.ContainsFunc(kinds(r), func(k string) bool { return strings.HasSuffix(k, "/"+n.provider) }) {
		t.Errorf("mode driver renders provider objects: %q", kinds(r))
	}
}

// TestDefaultsRenderExactly pins the object list of a default install.
func TestDefaultsRenderExactly(t *testing.T) {
	r := renderChart(t, nil)
	want := []string{
		"CSIDriver/csi.aws-secrets-injector.io",
		"ClusterRole/aws-secrets-injector-mounter",
		"ClusterRole/aws-secrets-injector-webhook",
		"ClusterRoleBinding/aws-secrets-injector-mounter",
		"ClusterRoleBinding/aws-secrets-injector-webhook",
		"DaemonSet/aws-secrets-injector-mounter",
		"Deployment/aws-secrets-injector-webhook",
		"MutatingWebhookConfiguration/aws-secrets-injector",
		"PodDisruptionBudget/aws-secrets-injector-webhook",
		"Role/aws-secrets-injector-webhook",
		"RoleBinding/aws-secrets-injector-webhook",
		"Service/aws-secrets-injector-mounter",
		"Service/aws-secrets-injector-webhook",
		"ServiceAccount/aws-secrets-injector-mounter",
		"ServiceAccount/aws-secrets-injector-webhook",
	}
	if got := kinds(r); !slices.Equal(got, want) {
		t.Errorf("objects:\n got %q\nwant %q", got, want)
	}
	ds := one[*appsv1.DaemonSet](t, r, "")
	if got := ds.Spec.Template.Spec.PriorityClassName; got != "system-node-critical" {
		t.Errorf("mounter priorityClassName %q", got)
	}
	dep := one[*appsv1.Deployment](t, r, "")
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("webhook replicas %v, want 2", dep.Spec.Replicas)
	}
	mwc := one[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, "")
	if fp := mwc.Webhooks[0].FailurePolicy; fp == nil || *fp != admissionregistrationv1.Fail {
		t.Errorf("default failurePolicy %v, want Fail", fp)
	}
}

func TestRenderRefusesServiceMonitorWithoutMetrics(t *testing.T) {
	c := loadChart(t)
	v, err := renderValues(c, vals("metrics", vals("enabled", false, "serviceMonitor", vals("enabled", true))))
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	if _, err := renderFiles(c, v); err == nil || !strings.Contains(err.Error(), "metrics.serviceMonitor.enabled needs metrics.enabled") {
		t.Fatalf("render error %v, want the serviceMonitor/metrics message", err)
	}
}

// checkNoWildcards: no "*" in any RBAC rule, and no ClusterRole touches Secrets.
func checkNoWildcards(t *testing.T, r *rendered) {
	t.Helper()
	syncRole := mounterSyncRole(t, r)
	check := func(kind, name string, rules []rbacv1.PolicyRule) {
		for _, rule := range rules {
			for _, f := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs} {
				for _, s := range f {
					if strings.Contains(s, "*") {
						t.Errorf("%s %s: wildcard %q in %+v", kind, name, s, rule)
					}
				}
			}
			if kind == "ClusterRole" && slices.Contains(rule.Resources, "secrets") && (name != syncRole ||
				!slices.Equal(rule.Resources, secretsRule.Resources) || !slices.Equal(rule.Verbs, secretsRule.Verbs)) {
				t.Errorf("ClusterRole %s grants cluster-wide Secret access (only the mounter's may, with mounter.syncSecrets: %+v): %+v",
					name, secretsRule, rule)
			}
		}
	}
	for _, cr := range all[*rbacv1.ClusterRole](r) {
		if cr.AggregationRule != nil {
			t.Errorf("ClusterRole %s aggregates", cr.Name)
		}
		check("ClusterRole", cr.Name, cr.Rules)
	}
	for _, role := range all[*rbacv1.Role](r) {
		check("Role", role.Name, role.Rules)
	}
}

// secretsRule is the one cluster-wide Secret access the chart grants: the
// mounter's, with mounter.syncSecrets, for spec.secretObjects. Never list,
// watch, patch or delete.
var secretsRule = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}}

// mounterSyncRole is the name of the mounter's ClusterRole when the values
// turn mounter.syncSecrets on (mode driver, mounter enabled), else "".
func mounterSyncRole(t testing.TB, r *rendered) string {
	if value(t, r, "mounter.syncSecrets") != true || value(t, r, "mode") != "driver" || value(t, r, "mounter.enabled") != true {
		return ""
	}
	return namesOf(r, t).mounter
}

// checkNamespaces: namespaced objects live in the release namespace,
// cluster-scoped ones carry none.
func checkNamespaces(t *testing.T, r *rendered) {
	t.Helper()
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "CSIDriver": true, "MutatingWebhookConfiguration": true}
	for _, o := range r.Objects {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		want := releaseNS
		if clusterScoped[kind] {
			want = ""
		}
		// The dashboard goes where Grafana's sidecar looks, when the values say so.
		if _, ok := o.GetLabels()["grafana_dashboard"]; ok && kind == "ConfigMap" && optionalValue(r, "metrics.dashboard.namespace") != "" {
			want = optionalValue(r, "metrics.dashboard.namespace")
		}
		if o.GetNamespace() != want {
			t.Errorf("%s/%s in namespace %q, want %q", kind, o.GetName(), o.GetNamespace(), want)
		}
		if o.GetLabels()["app.kubernetes.io/part-of"] != "aws-secrets-injector" || o.GetLabels()["app.kubernetes.io/instance"] != releaseName {
			t.Errorf("%s/%s lacks the chart labels: %v", kind, o.GetName(), o.GetLabels())
		}
	}
}

func wantImage(t testing.TB, r *rendered) string {
	repo := value(t, r, "image.repository").(string)
	if d, _ := value(t, r, "image.digest").(string); d != "" {
		return repo + "@" + d
	}
	tag, _ := value(t, r, "image.tag").(string)
	if tag == "" {
		tag = "dev"
	}
	return repo + ":" + tag
}

// podSpecs returns the pod templates of the rendered workloads by component.
func podSpecs(r *rendered) map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for _, d := range all[*appsv1.Deployment](r) {
		out["webhook"] = &d.Spec.Template
	}
	for _, d := range all[*appsv1.DaemonSet](r) {
		out[d.Spec.Template.Labels["app.kubernetes.io/component"]] = &d.Spec.Template
	}
	return out
}

// checkImages: every container runs the one image with the chosen policy,
// and only the mounter is privileged.
func checkImages(t *testing.T, r *rendered) {
	t.Helper()
	img := wantImage(t, r)
	policy := corev1.PullPolicy(value(t, r, "image.pullPolicy").(string))
	for comp, pt := range podSpecs(r) {
		ps := pt.Spec
		if ps.HostNetwork || ps.HostPID || ps.HostIPC {
			t.Errorf("%s: host namespaces in use", comp)
		}
		if len(ps.Containers) != 1 || len(ps.InitContainers) != 0 {
			t.Errorf("%s: want exactly one container, have %d (+%d init)", comp, len(ps.Containers), len(ps.InitContainers))
		}
		for _, c := range ps.Containers {
			if c.Image != img || c.ImagePullPolicy != policy {
				t.Errorf("%s/%s: image %s (%s), want %s (%s)", comp, c.Name, c.Image, c.ImagePullPolicy, img, policy)
			}
			for _, e := range value(t, r, comp+".env").([]any) {
				m := e.(map[string]any)
				if got := findEnv(&c, m["name"].(string)); got == nil || got.Value != m["value"] {
					t.Errorf("%s/%s: env %v missing (have %+v)", comp, c.Name, m, c.Env)
				}
			}
			if c.Args[0] != comp {
				t.Errorf("%s/%s: subcommand %q", comp, c.Name, c.Args[0])
			}
			// The lean binary of the role (cmd/asi-<role>), not the image's entrypoint.
			if len(c.Command) != 1 || c.Command[0] != "/asi-"+comp {
				t.Errorf("%s/%s: command %q, want [/asi-%s]", comp, c.Name, c.Command, comp)
			}
			privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
			if privileged != (comp == "mounter") {
				t.Errorf("%s/%s: privileged=%v", comp, c.Name, privileged)
			}
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Errorf("%s/%s: root filesystem not read-only", comp, c.Name)
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s/%s: resources %v", comp, c.Name, c.Resources)
			}
		}
	}
}

// checkBindings: every binding names a rendered role and a rendered
// ServiceAccount that a workload runs as.
func checkBindings(t *testing.T, r *rendered) {
	t.Helper()
	used := map[string]bool{}
	for _, pt := range podSpecs(r) {
		used[pt.Spec.ServiceAccountName] = true
	}
	sas := map[string]bool{}
	for _, sa := range all[*corev1.ServiceAccount](r) {
		sas[sa.Name] = true
		if !used[sa.Name] {
			t.Errorf("ServiceAccount %s is used by no workload", sa.Name)
		}
	}
	for u := range used {
		if !sas[u] {
			t.Errorf("workload runs as ServiceAccount %s, which the chart does not create", u)
		}
	}
	checkSubjects := func(kind, name string, subjects []rbacv1.Subject) {
		if len(subjects) != 1 || subjects[0].Kind != "ServiceAccount" || !sas[subjects[0].Name] || subjects[0].Namespace != releaseNS {
			t.Errorf("%s %s subjects %+v", kind, name, subjects)
		}
	}
	for _, b := range all[*rbacv1.ClusterRoleBinding](r) {
		one[*rbacv1.ClusterRole](t, r, b.RoleRef.Name)
		if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != b.Name || b.Subjects[0].Name != b.Name {
			t.Errorf("ClusterRoleBinding %s: roleRef %+v subjects %+v", b.Name, b.RoleRef, b.Subjects)
		}
		checkSubjects("ClusterRoleBinding", b.Name, b.Subjects)
	}
	for _, b := range all[*rbacv1.RoleBinding](r) {
		one[*rbacv1.Role](t, r, b.RoleRef.Name)
		if b.RoleRef.Kind != "Role" || b.RoleRef.Name != b.Name || b.Subjects[0].Name != b.Name {
			t.Errorf("RoleBinding %s: roleRef %+v subjects %+v", b.Name, b.RoleRef, b.Subjects)
		}
		checkSubjects("RoleBinding", b.Name, b.Subjects)
	}
}

// splitArgs separates the root logging flags (registered in package main)
// from the subcommand's own flags, checking the former.
func splitArgs(t *testing.T, r *rendered, args []string) []string {
	t.Helper()
	var rest []string
	var format, verbosity string
	for _, a := range args[1:] {
		switch {
		case strings.HasPrefix(a, "--log-format="):
			format = strings.TrimPrefix(a, "--log-format=")
		case strings.HasPrefix(a, "--v="):
			verbosity = strings.TrimPrefix(a, "--v=")
		default:
			rest = append(rest, a)
		}
	}
	if format != value(t, r, "logging.format") || verbosity != fmt.Sprint(value(t, r, "logging.verbosity")) {
		t.Errorf("log flags --log-format=%q --v=%q, values %v %v", format, verbosity, value(t, r, "logging.format"), value(t, r, "logging.verbosity"))
	}
	return rest
}

// parseFlags parses args with the component's real flag set.
func parseFlags(t *testing.T, add func(*pflag.FlagSet), args []string) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	add(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("the binary would refuse the rendered flags %q: %v", args, err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("stray arguments %q", fs.Args())
	}
}

func containerPort(t *testing.T, c *corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %q", c.Name, name)
	return 0
}

func addrPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return int32(n)
}

func checkHTTPProbe(t *testing.T, what string, p *corev1.Probe, c *corev1.Container, path string, port int32) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no HTTP probe", what)
		return
	}
	got := p.HTTPGet.Port.IntVal
	if p.HTTPGet.Port.StrVal != "" {
		got = containerPort(t, c, p.HTTPGet.Port.StrVal)
	}
	if p.HTTPGet.Path != path || got != port {
		t.Errorf("%s: probe %s on port %d, want %s on %d", what, p.HTTPGet.Path, got, path, port)
	}
}

func selects(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	if s.Empty() {
		t.Fatalf("empty selector")
	}
	return s.Matches(labels.Set(set))
}

// checkWebhook checks the Deployment, Service and PodDisruptionBudget and
// returns the webhook's parsed options.
func checkWebhook(t *testing.T, r *rendered, n names) *webhook.Options {
	t.Helper()
	dep := one[*appsv1.Deployment](t, r, n.webhook)
	pod := dep.Spec.Template
	if !selects(t, dep.Spec.Selector, pod.Labels) {
		t.Errorf("Deployment selector %v does not select its pods %v", dep.Spec.Selector, pod.Labels)
	}
	if pod.Labels["app.kubernetes.io/component"] != "webhook" {
		t.Errorf("webhook pod labels %v", pod.Labels)
	}
	replicas := value(t, r, "webhook.replicas")
	if dep.Spec.Replicas == nil || fmt.Sprint(*dep.Spec.Replicas) != fmt.Sprint(replicas) {
		t.Errorf("replicas %v, values %v", dep.Spec.Replicas, replicas)
	}
	if dep.Spec.Strategy.RollingUpdate == nil || dep.Spec.Strategy.RollingUpdate.MaxUnavailable.IntVal != 0 {
		t.Errorf("rolling update may take a replica down before a new one is ready: %+v", dep.Spec.Strategy)
	}

	// Anti-affinity over the webhook's own pods.
	switch aa := value(t, r, "webhook.podAntiAffinity"); aa {
	case "soft":
		terms := pod.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
		if len(terms) != 1 || terms[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" || !selects(t, terms[0].PodAffinityTerm.LabelSelector, pod.Labels) {
			t.Errorf("soft anti-affinity %+v", pod.Spec.Affinity)
		}
	case "hard":
		terms := pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		if len(terms) != 1 || terms[0].TopologyKey != "kubernetes.io/hostname" || !selects(t, terms[0].LabelSelector, pod.Labels) {
			t.Errorf("hard anti-affinity %+v", pod.Spec.Affinity)
		}
	default:
		t.Fatalf("value set uses podAntiAffinity %v", aa)
	}

	// Restricted security context.
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("webhook pod security context %+v", psc)
	}
	c := &pod.Spec.Containers[0]
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("webhook container security context %+v", sc)
	}

	// The rendered flags are accepted by the webhook's own flag set and validation.
	o := webhook.NewOptions()
	parseFlags(t, o.AddFlags, splitArgs(t, r, c.Args))
	if err := o.Validate(); err != nil {
		t.Fatalf("webhook rejects the rendered flags: %v", err)
	}
	if o.Namespace != releaseNS || o.InjectorImage != c.Image || o.DriverName != value(t, r, "driverName") ||
		string(o.DefaultMode) != value(t, r, "webhook.defaultMode") || o.DefaultMountPath != value(t, r, "webhook.defaultMountPath") ||
		o.StrictClasses != value(t, r, "strictClasses") {
		t.Errorf("webhook options %+v do not follow the values", o)
	}
	if o.WebhookConfigName != n.config || o.ServiceName != n.webhook {
		t.Errorf("webhook --webhook-config-name %q --service-name %q, want %q %q", o.WebhookConfigName, o.ServiceName, n.config, n.webhook)
	}
	if region, _ := value(t, r, "aws.region").(string); o.DefaultRegion != region {
		t.Errorf("webhook --default-region %q, values %q", o.DefaultRegion, region)
	}
	// Init mode's injector container follows the values.
	if region, _ := value(t, r, "aws.region").(string); o.InjectorAWSRegion != region {
		t.Errorf("webhook --injector-aws-region %q, values %q", o.InjectorAWSRegion, region)
	}
	if ep, _ := value(t, r, "aws.endpoint").(string); o.InjectorAWSEndpoint != ep {
		t.Errorf("webhook --injector-aws-endpoint %q, values %q", o.InjectorAWSEndpoint, ep)
	}
	if o.InjectorImagePullPolicy != value(t, r, "image.pullPolicy") {
		t.Errorf("webhook --injector-image-pull-policy %q, values %v", o.InjectorImagePullPolicy, value(t, r, "image.pullPolicy"))
	}
	ic := o.Config().Init
	for _, q := range []struct {
		key string
		got *resource.Quantity
	}{
		{"webhook.injector.resources.requests.cpu", quantityOf(ic.Resources.Requests, corev1.ResourceCPU)},
		{"webhook.injector.resources.limits.cpu", quantityOf(ic.Resources.Limits, corev1.ResourceCPU)},
		{"webhook.injector.resources.requests.memory", quantityOf(ic.Resources.Requests, corev1.ResourceMemory)},
		{"webhook.injector.resources.limits.memory", quantityOf(ic.Resources.Limits, corev1.ResourceMemory)},
		{"webhook.injector.volumeSizeLimit", ic.VolumeSizeLimit},
	} {
		want := optionalValue(r, q.key)
		switch {
		case want == "" && q.got != nil:
			t.Errorf("%s unset, the injector gets %s", q.key, q.got.String())
		case want != "" && (q.got == nil || q.got.Cmp(resource.MustParse(want)) != 0):
			t.Errorf("%s %s, the injector gets %v", q.key, want, q.got)
		}
	}
	if d := value(t, r, "webhook.injector.refreshInterval"); ic.RefreshInterval.String() != mustDuration(t, d).String() {
		t.Errorf("webhook.injector.refreshInterval %v, --injector-refresh-interval %s", d, ic.RefreshInterval)
	}
	if d, _ := value(t, r, "webhook.injector.deadline").(string); (d == "" && ic.Deadline != 0) || (d != "" && ic.Deadline != mustDuration(t, d)) {
		t.Errorf("webhook.injector.deadline %q, --injector-deadline %s", d, ic.Deadline)
	}
	for _, ns := range toStrings(value(t, r, "webhook.excludeNamespaces")) {
		if !slices.Contains(o.ExcludeNamespaces, ns) {
			t.Errorf("webhook --exclude-namespaces %q lacks %q", o.ExcludeNamespaces, ns)
		}
	}
	if env := findEnv(c, "POD_NAMESPACE"); env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE env %+v", env)
	}

	// Ports and probes agree with the flags.
	if containerPort(t, c, "webhook") != int32(o.Port) {
		t.Errorf("webhook port %d, --port %d", containerPort(t, c, "webhook"), o.Port)
	}
	health := addrPort(t, o.HealthAddr)
	if containerPort(t, c, "health") != health {
		t.Errorf("health port %d, --health-addr %s", containerPort(t, c, "health"), o.HealthAddr)
	}
	checkHTTPProbe(t, "webhook liveness", c.LivenessProbe, c, webhook.HealthzPath, health)
	checkHTTPProbe(t, "webhook readiness", c.ReadinessProbe, c, webhook.ReadyzPath, health)
	if value(t, r, "metrics.enabled").(bool) {
		if containerPort(t, c, "metrics") != addrPort(t, o.MetricsAddr) {
			t.Errorf("metrics port %d, --metrics-addr %s", containerPort(t, c, "metrics"), o.MetricsAddr)
		}
	} else if o.MetricsAddr != "0" {
		t.Errorf("metrics disabled but --metrics-addr %q", o.MetricsAddr)
	}

	// Service: selects the webhook pods only, 443 to the webhook port.
	svc := one[*corev1.Service](t, r, n.webhook)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("Service selector %v does not select the webhook pods %v", svc.Spec.Selector, pod.Labels)
	}
	for _, ds := range all[*appsv1.DaemonSet](r) {
		if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)) {
			t.Errorf("webhook Service selects the mounter pods")
		}
		if selects(t, ds.Spec.Selector, pod.Labels) || selects(t, dep.Spec.Selector, ds.Spec.Template.Labels) {
			t.Errorf("mounter and webhook selectors overlap")
		}
	}
	https := svc.Spec.Ports[0]
	if https.Port != 443 || https.TargetPort.StrVal != "webhook" {
		t.Errorf("Service port %+v", https)
	}

	// PodDisruptionBudget over the webhook pods.
	if value(t, r, "webhook.podDisruptionBudget.enabled").(bool) {
		pdb := one[*policyv1.PodDisruptionBudget](t, r, n.webhook)
		if !selects(t, pdb.Spec.Selector, pod.Labels) || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntVal != 1 {
			t.Errorf("PodDisruptionBudget %+v", pdb.Spec)
		}
	}

	// RBAC, exactly.
	sa := pod.Spec.ServiceAccountName
	if sa != n.webhook {
		t.Errorf("webhook runs as %q", sa)
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"secrets-store.csi.x-k8s.io"}, Resources: []string{"secretproviderclasses"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get", "list", "watch"}},
	}
	selfManaged := o.Certs.Mode == certs.ModeSelfManaged
	if selfManaged {
		want = append(want, rbacv1.PolicyRule{APIGroups: []string{"admissionregistration.k8s.io"},
			Resources: []string{"mutatingwebhookconfigurations"}, ResourceNames: []string{n.config}, Verbs: []string{"get", "watch", "patch"}})
	}
	checkRules(t, "ClusterRole "+n.webhook, one[*rbacv1.ClusterRole](t, r, n.webhook).Rules, want)
	roles := all[*rbacv1.Role](r)
	if selfManaged {
		if len(roles) != 1 {
			t.Fatalf("want one Role, have %d", len(roles))
		}
		checkRules(t, "Role "+roles[0].Name, roles[0].Rules, []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{o.Certs.SecretName}, Verbs: []string{"get", "update"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		})
		if o.Certs.SecretName != n.secret {
			t.Errorf("--cert-secret-name %q", o.Certs.SecretName)
		}
	} else if len(roles) != 0 {
		t.Errorf("cert-manager mode needs no Role, have %d", len(roles))
	}
	return o
}

func checkRules(t *testing.T, what string, got, want []rbacv1.PolicyRule) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rules, want %d:\n got %+v\nwant %+v", what, len(got), len(want), got, want)
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if !slices.Equal(g.APIGroups, w.APIGroups) || !slices.Equal(g.Resources, w.Resources) || !slices.Equal(g.Verbs, w.Verbs) ||
			!slices.Equal(g.ResourceNames, w.ResourceNames) || len(g.NonResourceURLs) != 0 {
			t.Errorf("%s rule %d:\n got %+v\nwant %+v", what, i, g, w)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, s := range l {
			out = append(out, s.(string))
		}
	}
	return out
}

func findEnv(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func checkWebhookConfiguration(t *testing.T, r *rendered, n names, o *webhook.Options) {
	t.Helper()
	mwc := one[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, n.config)
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("%d webhooks", len(mwc.Webhooks))
	}
	w := mwc.Webhooks[0]
	svc := w.ClientConfig.Service
	if svc == nil || svc.Name != n.webhook || svc.Namespace != releaseNS || svc.Path == nil || *svc.Path != webhook.MutatePath ||
		svc.Port == nil || *svc.Port != 443 || w.ClientConfig.URL != nil {
		t.Errorf("clientConfig %+v", w.ClientConfig)
	}
	if len(w.ClientConfig.CABundle) != 0 {
		t.Errorf("the chart must leave caBundle to the webhook or cainjector")
	}
	if !slices.Equal(w.AdmissionReviewVersions, []string{"v1"}) || w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone ||
		w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
		t.Errorf("webhook %s: reviewVersions %v sideEffects %v reinvocation %v", w.Name, w.AdmissionReviewVersions, w.SideEffects, w.ReinvocationPolicy)
	}
	if w.FailurePolicy == nil || string(*w.FailurePolicy) != value(t, r, "webhook.failurePolicy") {
		t.Errorf("failurePolicy %v, values %v", w.FailurePolicy, value(t, r, "webhook.failurePolicy"))
	}
	if w.TimeoutSeconds == nil || fmt.Sprint(*w.TimeoutSeconds) != fmt.Sprint(value(t, r, "webhook.timeoutSeconds")) {
		t.Errorf("timeoutSeconds %v", w.TimeoutSeconds)
	}
	if len(w.Rules) != 1 {
		t.Fatalf("rules %+v", w.Rules)
	}
	rule := w.Rules[0]
	if !slices.Equal(rule.Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}) ||
		!slices.Equal(rule.APIGroups, []string{""}) || !slices.Equal(rule.APIVersions, []string{"v1"}) || !slices.Equal(rule.Resources, []string{"pods"}) {
		t.Errorf("rule %+v", rule)
	}
	if w.ObjectSelector != nil && (len(w.ObjectSelector.MatchLabels) != 0 || len(w.ObjectSelector.MatchExpressions) != 0) {
		t.Errorf("objectSelector %+v", w.ObjectSelector)
	}
	// The namespace selector: opted in, and never the excluded namespaces.
	wantExcluded := append([]string{releaseNS, "kube-system", "kube-public"}, o.ExcludeNamespaces...)
	ns := func(name string, lbl map[string]string) map[string]string {
		m := map[string]string{"kubernetes.io/metadata.name": name}
		for k, v := range lbl {
			m[k] = v
		}
		return m
	}
	optIn := map[string]string{"aws-secrets-injector.io/inject": "enabled"}
	if !selects(t, w.NamespaceSelector, ns("team-a", optIn)) {
		t.Errorf("namespaceSelector %+v does not select an opted-in namespace", w.NamespaceSelector)
	}
	for _, n := range []map[string]string{ns("team-a", nil), ns("team-a", map[string]string{"aws-secrets-injector.io/inject": "true"})} {
		if selects(t, w.NamespaceSelector, n) {
			t.Errorf("namespaceSelector selects namespace %v", n)
		}
	}
	for _, ex := range wantExcluded {
		if selects(t, w.NamespaceSelector, ns(ex, optIn)) {
			t.Errorf("namespaceSelector selects the excluded namespace %s even when labelled", ex)
		}
	}
	// Match conditions (their evaluation is checked by the API server test).
	var exprs []string
	for _, mc := range w.MatchConditions {
		exprs = append(exprs, mc.Expression)
	}
	if !slices.ContainsFunc(exprs, func(e string) bool {
		return strings.Contains(e, "object.metadata.annotations['aws-secrets-injector.io/inject'] == 'true'")
	}) {
		t.Errorf("no match condition on the inject annotation: %q", exprs)
	}
}

func checkCertificates(t *testing.T, r *rendered, n names) {
	t.Helper()
	mode := value(t, r, "webhook.certificates.mode")
	mwc := one[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, n.config)
	dep := one[*appsv1.Deployment](t, r, n.webhook)
	var certsU, issuers []*unstructured.Unstructured
	for _, u := range all[*unstructured.Unstructured](r) {
		switch u.GetKind() {
		case "Certificate":
			certsU = append(certsU, u)
		case "Issuer":
			issuers = append(issuers, u)
		}
	}
	if mode == "self-managed" {
		if len(certsU)+len(issuers) != 0 || len(mwc.Annotations) != 0 || len(dep.Spec.Template.Spec.Volumes) != 0 {
			t.Errorf("self-managed mode renders cert-manager objects, annotations or volumes")
		}
		return
	}
	if len(certsU) != 1 {
		t.Fatalf("cert-manager mode: %d Certificates", len(certsU))
	}
	cert := certsU[0]
	if got, want := mwc.Annotations["cert-manager.io/inject-ca-from"], releaseNS+"/"+cert.GetName(); got != want {
		t.Errorf("inject-ca-from %q, want %q", got, want)
	}
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	vols := dep.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].Secret == nil || vols[0].Secret.SecretName != secretName {
		t.Errorf("webhook volumes %+v, want the Certificate's Secret %q", vols, secretName)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	o := webhook.NewOptions()
	parseFlags(t, o.AddFlags, splitArgs(t, r, c.Args))
	if o.Certs.Mode != certs.ModeFiles || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != o.Certs.Dir || !c.VolumeMounts[0].ReadOnly {
		t.Errorf("cert-manager mode: --cert-mode %s --cert-dir %s, mounts %+v", o.Certs.Mode, o.Certs.Dir, c.VolumeMounts)
	}
	dns, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	for _, h := range certs.ServiceHosts(n.webhook, releaseNS) {
		if !slices.Contains(dns, h) {
			t.Errorf("Certificate dnsNames %q lack %q", dns, h)
		}
	}
	issuer, _, _ := unstructured.NestedStringMap(cert.Object, "spec", "issuerRef")
	if want, _ := value(t, r, "webhook.certificates.certManager.issuerRef.name").(string); want != "" {
		if issuer["name"] != want || len(issuers) != 0 {
			t.Errorf("issuerRef %v with %d chart Issuers, want %q and none", issuer, len(issuers), want)
		}
	} else if len(issuers) != 1 || issuer["name"] != issuers[0].GetName() || issuer["kind"] != "Issuer" {
		t.Errorf("issuerRef %v, Issuers %d", issuer, len(issuers))
	}
}

// checkMounter checks the DaemonSet and the mounter's RBAC and returns its
// parsed, validated options.
func checkMounter(t *testing.T, r *rendered, n names) *mounter.Options {
	t.Helper()
	ds := one[*appsv1.DaemonSet](t, r, n.mounter)
	pod := ds.Spec.Template
	if !selects(t, ds.Spec.Selector, pod.Labels) || pod.Labels["app.kubernetes.io/component"] != "mounter" {
		t.Errorf("DaemonSet selector %v, pod labels %v", ds.Spec.Selector, pod.Labels)
	}
	if got := pod.Spec.PriorityClassName; got != value(t, r, "mounter.priorityClassName") {
		t.Errorf("priorityClassName %q", got)
	}
	if !slices.ContainsFunc(pod.Spec.Tolerations, func(tl corev1.Toleration) bool { return tl.Operator == corev1.TolerationOpExists && tl.Key == "" }) {
		t.Errorf("mounter does not tolerate every taint: %+v", pod.Spec.Tolerations)
	}
	c := &pod.Spec.Containers[0]
	o := mounter.NewOptions()
	parseFlags(t, o.AddFlags, splitArgs(t, r, c.Args))
	if err := o.Validate(); err != nil {
		t.Fatalf("mounter rejects the rendered flags: %v", err)
	}
	if o.NodeName != "$(NODE_NAME)" {
		t.Errorf("--node-name %q", o.NodeName)
	}
	if env := findEnv(c, "NODE_NAME"); env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME env %+v", env)
	}
	kubeletDir := strings.TrimSuffix(value(t, r, "mounter.kubeletDir").(string), "/")
	if o.KubeletDir != kubeletDir || o.DriverName != value(t, r, "driverName") || o.NodeIdentity != value(t, r, "mounter.nodeIdentity") ||
		o.StrictClasses != value(t, r, "strictClasses") || o.SyncSecrets != value(t, r, "mounter.syncSecrets") {
		t.Errorf("mounter options %+v do not follow the values", o)
	}
	for flag, key := range map[time.Duration]string{o.RefreshInterval: "mounter.refreshInterval", o.CacheTTL: "mounter.cacheTTL"} {
		want, err := time.ParseDuration(fmt.Sprint(value(t, r, key)))
		if err != nil || flag != want {
			t.Errorf("%s: flag %s, values %v (%v)", key, flag, value(t, r, key), err)
		}
	}
	if region, _ := value(t, r, "aws.region").(string); o.Region != region {
		t.Errorf("--region %q, values %q", o.Region, region)
	}
	if ep, _ := value(t, r, "aws.endpoint").(string); o.AWSEndpoint != ep {
		t.Errorf("--aws-endpoint %q, values %q", o.AWSEndpoint, ep)
	}

	// Mounts: the kubelet dir at its own path with Bidirectional propagation;
	// the CSI socket's directory is the plugin dir on the host, under the
	// kubelet dir, and the registration path is that socket as the host sees it.
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	hostPaths := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath == nil {
			t.Errorf("volume %s is not a hostPath", v.Name)
			continue
		}
		hostPaths[v.Name] = v.HostPath.Path
	}
	km, ok := mounts[o.KubeletDir]
	if !ok || hostPaths[km.Name] != o.KubeletDir || km.MountPropagation == nil || *km.MountPropagation != corev1.MountPropagationBidirectional {
		t.Errorf("kubelet dir mount %+v (host %q)", km, hostPaths[km.Name])
	}
	sock, err := mounter.ParseEndpoint(o.Endpoint)
	if err != nil {
		t.Fatalf("endpoint: %v", err)
	}
	// The socket is in the plugin dir as seen through the kubelet-dir mount, the
	// one and only host mount: a second view of the plugin dir would copy the
	// staging tmpfs mounts into it after a restart, and unpublish could then no
	// longer remove their directories (EBUSY).
	if sock != o.PluginDir+"/csi.sock" || o.RegistrationEndpoint != sock {
		t.Errorf("socket %s, plugin dir %s, registration %s: want the socket at <plugin dir>/csi.sock for both", sock, o.PluginDir, o.RegistrationEndpoint)
	}
	if len(pod.Spec.Volumes) != 1 || len(c.VolumeMounts) != 1 {
		t.Errorf("mounter has %d volumes and %d mounts: want only the kubelet dir", len(pod.Spec.Volumes), len(c.VolumeMounts))
	}
	if !strings.HasPrefix(o.PluginDir, o.KubeletDir+"/plugins/") || !strings.HasSuffix(o.PluginDir, "/"+o.DriverName) {
		t.Errorf("plugin dir %s outside %s/plugins or not named for the driver", o.PluginDir, o.KubeletDir)
	}
	for p, m := range mounts {
		if p != o.KubeletDir && m.MountPropagation != nil && *m.MountPropagation != corev1.MountPropagationNone {
			t.Errorf("mount %s propagates (%s): only the kubelet dir must", p, *m.MountPropagation)
		}
	}

	// Health: liveness on /healthz at the --http-address port.
	port := addrPort(t, o.HTTPAddress)
	if containerPort(t, c, "http") != port {
		t.Errorf("http port %d, --http-address %s", containerPort(t, c, "http"), o.HTTPAddress)
	}
	checkHTTPProbe(t, "mounter liveness", c.LivenessProbe, c, "/healthz", port)
	if c.ReadinessProbe != nil {
		t.Errorf("a DaemonSet of a node plugin needs no readiness probe")
	}
	sc := c.SecurityContext
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("mounter must run as root (the image's user is 65532): %+v", sc)
	}

	// RBAC, exactly.
	if pod.Spec.ServiceAccountName != n.mounter {
		t.Errorf("mounter runs as %q", pod.Spec.ServiceAccountName)
	}
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"secrets-store.csi.x-k8s.io"}, Resources: []string{"secretproviderclasses"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if value(t, r, "mounter.syncSecrets") == true {
		rules = append(rules, secretsRule)
	}
	checkRules(t, "ClusterRole "+n.mounter, one[*rbacv1.ClusterRole](t, r, n.mounter).Rules, rules)
	return o
}

func checkCSIDriver(t *testing.T, r *rendered, o *mounter.Options) {
	t.Helper()
	d := one[*storagev1.CSIDriver](t, r, o.DriverName)
	s := d.Spec
	if s.AttachRequired == nil || *s.AttachRequired || s.PodInfoOnMount == nil || !*s.PodInfoOnMount ||
		s.RequiresRepublish == nil || !*s.RequiresRepublish {
		t.Errorf("CSIDriver attachRequired %v podInfoOnMount %v requiresRepublish %v", s.AttachRequired, s.PodInfoOnMount, s.RequiresRepublish)
	}
	if !slices.Equal(s.VolumeLifecycleModes, []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecycleEphemeral}) {
		t.Errorf("volumeLifecycleModes %v", s.VolumeLifecycleModes)
	}
	var auds []string
	for _, tr := range s.TokenRequests {
		auds = append(auds, tr.Audience)
		if tr.ExpirationSeconds != nil {
			t.Errorf("token %s: expirationSeconds set", tr.Audience)
		}
	}
	if !slices.Equal(auds, []string{"sts.amazonaws.com", "pods.eks.amazonaws.com"}) {
		t.Errorf("tokenRequests %v", auds)
	}
	// The mounter advertises VOLUME_MOUNT_GROUP and applies the pod's fsGroup
	// itself: fsGroupPolicy File hands it the fsGroup.
	if s.FSGroupPolicy == nil || *s.FSGroupPolicy != storagev1.FileFSGroupPolicy {
		t.Errorf("fsGroupPolicy %s, want File", ptrString(s.FSGroupPolicy))
	}
	// On the tests' cluster version (1.35 or later) the tokens travel in the
	// secrets field, which gRPC logging strips.
	if s.ServiceAccountTokenInSecrets == nil || !*s.ServiceAccountTokenInSecrets {
		t.Errorf("serviceAccountTokenInSecrets %s on Kubernetes %s, want true", ptrString(s.ServiceAccountTokenInSecrets), kubeVersion)
	}
}

// TestCSIDriverTokensInSecrets: serviceAccountTokenInSecrets is set where the
// cluster knows it (Kubernetes 1.35 and later, EKS version strings too) and
// left out before, unless the value forces it either way.
func TestCSIDriverTokensInSecrets(t *testing.T) {
	for _, tc := range []struct {
		kube  string
		value any // nil: the default ("auto")
		want  bool
	}{
		{"v1.37.2", nil, true},
		{"v1.35.0", nil, true},
		{"v1.35.2-eks-a5f3b2c", nil, true},
		{"v1.36.0", "auto", true},
		{"v1.34.9", nil, false},
		{"v1.34.1-eks-113cf36", nil, false},
		{"v1.30.0", nil, false},
		{"v1.37.2", false, false},
		{"v1.34.9", true, true},
		{"v1.30.0", true, true},
	} {
		var user map[string]any
		if tc.value != nil {
			user = vals("mounter", vals("serviceAccountTokenInSecrets", tc.value))
		}
		r := renderChartAt(t, tc.kube, user)
		s := one[*storagev1.CSIDriver](t, r, "").Spec
		got := s.ServiceAccountTokenInSecrets != nil && *s.ServiceAccountTokenInSecrets
		if got != tc.want {
			t.Errorf("Kubernetes %s, value %v: serviceAccountTokenInSecrets %s, want %v", tc.kube, tc.value, ptrString(s.ServiceAccountTokenInSecrets), tc.want)
		}
		if !tc.want && s.ServiceAccountTokenInSecrets != nil {
			t.Errorf("Kubernetes %s, value %v: the field is rendered (%v); an older API server does not know it", tc.kube, tc.value, *s.ServiceAccountTokenInSecrets)
		}
		if len(s.TokenRequests) != 2 {
			t.Errorf("Kubernetes %s: %d token requests", tc.kube, len(s.TokenRequests))
		}
	}
}

func checkMetrics(t *testing.T, r *rendered, n names) {
	t.Helper()
	var monitors []*unstructured.Unstructured
	for _, u := range all[*unstructured.Unstructured](r) {
		if u.GetKind() == "ServiceMonitor" {
			monitors = append(monitors, u)
		}
	}
	enabled := value(t, r, "metrics.enabled").(bool)
	sm := value(t, r, "metrics.serviceMonitor.enabled").(bool)
	providerMode := value(t, r, "mode") == "provider"
	mounterOn := !providerMode && value(t, r, "mounter.enabled").(bool)
	want := 0
	if enabled && sm {
		want = 1 // the webhook's, or in provider mode the provider's
		if mounterOn {
			want = 2
		}
	}
	if len(monitors) != want {
		t.Fatalf("%d ServiceMonitors, want %d", len(monitors), want)
	}
	for _, m := range monitors {
		sel, _, _ := unstructured.NestedStringMap(m.Object, "spec", "selector", "matchLabels")
		var target *corev1.Service
		for _, svc := range all[*corev1.Service](r) {
			if labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
				if target != nil {
					t.Errorf("ServiceMonitor %s selects several Services", m.GetName())
				}
				target = svc
			}
		}
		if target == nil || !slices.ContainsFunc(target.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" }) {
			t.Errorf("ServiceMonitor %s selects no Service with a metrics port", m.GetName())
		}
		for k, v := range toStringMap(value(t, r, "metrics.serviceMonitor.labels")) {
			if m.GetLabels()[k] != v {
				t.Errorf("ServiceMonitor %s lacks label %s=%s", m.GetName(), k, v)
			}
		}
	}
	for _, svc := range all[*corev1.Service](r) {
		hasMetrics := slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" })
		if hasMetrics != enabled {
			t.Errorf("Service %s metrics port %v with metrics.enabled %v", svc.Name, hasMetrics, enabled)
		}
	}
	if mounterOn {
		_, ok := one[*appsv1.DaemonSet](t, r, n.mounter).Spec.Template.Annotations["prometheus.io/scrape"]
		if ok != enabled {
			t.Errorf("mounter scrape annotation %v with metrics.enabled %v", ok, enabled)
		}
	}
	if providerMode {
		_, ok := one[*appsv1.DaemonSet](t, r, n.provider).Spec.Template.Annotations["prometheus.io/scrape"]
		if ok != enabled {
			t.Errorf("provider scrape annotation %v with metrics.enabled %v", ok, enabled)
		}
	}
}

func toStringMap(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(map[string]any); ok {
		for k, s := range m {
			out[k] = fmt.Sprint(s)
		}
	}
	return out
}

func checkNotes(t *testing.T, r *rendered) {
	t.Helper()
	if value(t, r, "mode") == "provider" {
		checkProviderNotes(t, r)
		return
	}
	for _, s := range []string{
		"kubectl label namespace NAMESPACE aws-secrets-injector.io/inject=enabled",
		`aws-secrets-injector.io/inject: "true"`,
		"aws-secrets-injector.io/secret-provider-class: ",
	} {
		if !strings.Contains(r.Notes, s) {
			t.Errorf("NOTES.txt lacks %q:\n%s", s, r.Notes)
		}
	}
	direct := "driver: " + value(t, r, "driverName").(string)
	if strings.Contains(r.Notes, direct) != value(t, r, "mounter.enabled").(bool) {
		t.Errorf("NOTES.txt shows the direct CSI volume (%q) iff the mounter is installed:\n%s", direct, r.Notes)
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

// TestValueSetsCoverModes: the ci/ value sets cover every non-default mode
// the chart offers.
func TestValueSetsCoverModes(t *testing.T) {
	seen := map[string]bool{}
	for _, vs := range valueSets(t) {
		r := renderChart(t, vs.values)
		for _, k := range []string{"mode", "webhook.certificates.mode", "webhook.defaultMode", "mounter.nodeIdentity", "driverName",
			"metrics.enabled", "metrics.serviceMonitor.enabled", "metrics.dashboard.enabled", "metrics.prometheusRule.enabled", "webhook.failurePolicy", "mounter.enabled", "logging.format", "webhook.podAntiAffinity", "mounter.syncSecrets"} {
			seen[k+"="+fmt.Sprint(value(t, r, k))] = true
		}
		if value(t, r, "aws.endpoint") != "" {
			seen["aws.endpoint"] = true
		}
		if value(t, r, "image.digest") != "" {
			seen["image.digest"] = true
		}
	}
	for _, want := range []string{
		"webhook.certificates.mode=cert-manager", "webhook.defaultMode=init", "mounter.nodeIdentity=fallback",
		"driverName=secrets-store.csi.k8s.io", "metrics.serviceMonitor.enabled=true", "metrics.enabled=false",
		"metrics.dashboard.enabled=true", "metrics.prometheusRule.enabled=true",
		"webhook.failurePolicy=Ignore", "mounter.enabled=false", "logging.format=text", "webhook.podAntiAffinity=hard",
		"aws.endpoint", "image.digest", "mode=provider", "mounter.syncSecrets=true",
	} {
		if !seen[want] {
			t.Errorf("no value set in ci/ renders %s", want)
		}
	}
}

func quantityOf(l corev1.ResourceList, name corev1.ResourceName) *resource.Quantity {
	if q, ok := l[name]; ok {
		return &q
	}
	return nil
}

// optionalValue is the value at the dotted path as a string, "" when absent
// or null.
func optionalValue(r *rendered, p string) string {
	cur := any(r.Values["Values"])
	for _, k := range strings.Split(p, ".") {
		switch m := cur.(type) {
		case chartutil.Values:
			cur = m[k]
		case map[string]any:
			cur = m[k]
		default:
			return ""
		}
	}
	if cur == nil {
		return ""
	}
	return fmt.Sprint(cur)
}

func mustDuration(t *testing.T, v any) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(fmt.Sprint(v))
	if err != nil {
		t.Fatalf("value %v: %v", v, err)
	}
	return d
}

// TestSyncSecretsValue: mounter.syncSecrets is off by default; the mounter's
// --sync-secrets follows it, and the mounter's ClusterRole has a rule on
// secrets (get, create, update: never list, watch or delete) only when it is on.
func TestSyncSecretsValue(t *testing.T) {
	for _, on := range []bool{false, true} {
		var user map[string]any
		if on {
			user = vals("mounter", vals("syncSecrets", true))
		}
		r := renderChart(t, user)
		if got := value(t, r, "mounter.syncSecrets"); got != on {
			t.Fatalf("mounter.syncSecrets = %v, want %v (the default must be false)", got, on)
		}
		ds := one[*appsv1.DaemonSet](t, r, releaseName+"-mounter")
		o := mounter.NewOptions()
		args := splitArgs(t, r, ds.Spec.Template.Spec.Containers[0].Args)
		parseFlags(t, o.AddFlags, args)
		if o.SyncSecrets != on || !slices.Contains(args, fmt.Sprintf("--sync-secrets=%t", on)) {
			t.Errorf("syncSecrets %v: --sync-secrets parsed as %v, args %q", on, o.SyncSecrets, args)
		}
		var secretRules []rbacv1.PolicyRule
		for _, rule := range one[*rbacv1.ClusterRole](t, r, releaseName+"-mounter").Rules {
			if slices.Contains(rule.Resources, "secrets") {
				secretRules = append(secretRules, rule)
			}
		}
		switch {
		case !on && len(secretRules) != 0:
			t.Errorf("syncSecrets off, yet the mounter may %+v", secretRules)
		case on && (len(secretRules) != 1 || !slices.Equal(secretRules[0].Verbs, []string{"get", "create", "update"}) ||
			!slices.Equal(secretRules[0].Resources, []string{"secrets"}) || len(secretRules[0].ResourceNames) != 0):
			t.Errorf("syncSecrets on: secrets rules %+v, want one: get, create, update", secretRules)
		}
	}
}
