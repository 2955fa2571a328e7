package chart_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/provider"
)

// providerValues installs the chart in provider mode, as ci/provider-mode-values.yaml does.
var providerValues = vals("mode", "provider")

// TestProviderModeRendersExactly pins the object list of a provider-mode
// install: the provider DaemonSet, its identity and the metrics Service; no
// CSIDriver, no webhook, no mounter.
func TestProviderModeRendersExactly(t *testing.T) {
	r := renderChart(t, providerValues)
	want := []string{
		"ClusterRole/aws-secrets-injector-provider",
		"ClusterRoleBinding/aws-secrets-injector-provider",
		"DaemonSet/aws-secrets-injector-provider",
		"Service/aws-secrets-injector-provider",
		"ServiceAccount/aws-secrets-injector-provider",
	}
	if got := kinds(r); !slices.Equal(got, want) {
		t.Errorf("objects:\n got %q\nwant %q", got, want)
	}
	// Without the shadow check there is one hostPath, the providers dir.
	r = renderChart(t, vals("mode", "provider", "provider", vals("shadowDir", "")))
	o := checkProviderMode(t, r, namesOf(r, t))
	if o.ShadowDir != "" || len(one[*appsv1.DaemonSet](t, r, "").Spec.Template.Spec.Volumes) != 1 {
		t.Errorf("shadowDir empty: --shadow-dir %q, volumes %+v", o.ShadowDir, one[*appsv1.DaemonSet](t, r, "").Spec.Template.Spec.Volumes)
	}
	// A shadow dir equal to the providers dir is not mounted twice.
	r = renderChart(t, vals("mode", "provider", "provider", vals("shadowDir", "/var/run/secrets-store-csi-providers")))
	if o := checkProviderMode(t, r, namesOf(r, t)); o.ShadowDir != "" {
		t.Errorf("shadowDir = providersDir: --shadow-dir %q", o.ShadowDir)
	}
}

// checkProviderMode checks a provider-mode rendering: nothing of driver
// mode, and the provider DaemonSet's flags (parsed and validated by the
// provider's own Options), host paths, security and RBAC. It returns the
// parsed options.
func checkProviderMode(t *testing.T, r *rendered, n names) *provider.Options {
	t.Helper()
	for _, k := range kinds(r) {
		kind, name, _ := strings.Cut(k, "/")
		switch {
		case kind == "CSIDriver", kind == "MutatingWebhookConfiguration", kind == "Deployment", kind == "PodDisruptionBudget",
			kind == "Role", kind == "RoleBinding", kind == "Certificate", kind == "Issuer":
			t.Errorf("provider mode renders %s", k)
		case name == n.mounter || name == n.webhook:
			t.Errorf("provider mode renders %s", k)
		}
	}
	ds := one[*appsv1.DaemonSet](t, r, n.provider)
	pod := ds.Spec.Template
	if !selects(t, ds.Spec.Selector, pod.Labels) || pod.Labels["app.kubernetes.io/component"] != "provider" {
		t.Errorf("DaemonSet selector %v, pod labels %v", ds.Spec.Selector, pod.Labels)
	}
	if got := pod.Spec.PriorityClassName; got != value(t, r, "provider.priorityClassName") {
		t.Errorf("priorityClassName %q", got)
	}
	if !slices.ContainsFunc(pod.Spec.Tolerations, func(tl corev1.Toleration) bool { return tl.Operator == corev1.TolerationOpExists && tl.Key == "" }) {
		t.Errorf("provider does not tolerate every taint (the driver runs on every node): %+v", pod.Spec.Tolerations)
	}
	c := &pod.Spec.Containers[0]
	o := provider.NewOptions()
	parseFlags(t, o.AddFlags, splitArgs(t, r, c.Args))
	if err := o.Validate(); err != nil {
		t.Fatalf("provider rejects the rendered flags: %v", err)
	}
	dir := strings.TrimSuffix(value(t, r, "provider.providersDir").(string), "/")
	if o.ProvidersDir != dir || o.SocketPath() != dir+"/"+provider.SocketName || provider.SocketName != "aws.sock" {
		t.Errorf("--providers-dir %q (socket %s), values %q", o.ProvidersDir, o.SocketPath(), dir)
	}
	shadow := strings.TrimSuffix(value(t, r, "provider.shadowDir").(string), "/")
	if shadow == dir {
		shadow = ""
	}
	if o.ShadowDir != shadow {
		t.Errorf("--shadow-dir %q, values %q", o.ShadowDir, shadow)
	}
	if o.NodeIdentity != value(t, r, "provider.nodeIdentity") || o.StrictClasses != value(t, r, "strictClasses") || int64(o.DriverMaxRecvMsgSize) != asInt(t, value(t, r, "provider.driverMaxRecvMsgSize")) {
		t.Errorf("provider options %+v do not follow the values", o)
	}
	for flag, key := range map[time.Duration]string{o.CacheTTL: "provider.cacheTTL", o.FetchTimeout: "provider.fetchTimeout"} {
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
	if imds, _ := value(t, r, "aws.regionFromIMDS").(bool); o.RegionFromIMDS != imds {
		t.Errorf("--region-from-imds %v, values %v", o.RegionFromIMDS, imds)
	}
	if fips, _ := value(t, r, "aws.useFIPS").(bool); (findEnv(c, "AWS_USE_FIPS_ENDPOINT") != nil) != fips {
		t.Errorf("AWS_USE_FIPS_ENDPOINT %+v, values aws.useFIPS %v", findEnv(c, "AWS_USE_FIPS_ENDPOINT"), fips)
	}

	// Host paths: the providers dir read-write at its own path (the socket's
	// path is the same inside and on the node), the shadow dir read-only;
	// nothing else, the kubelet's directory least of all.
	hostPaths := map[string]*corev1.HostPathVolumeSource{}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath == nil {
			t.Errorf("volume %s is not a hostPath", v.Name)
			continue
		}
		hostPaths[v.Name] = v.HostPath
	}
	wantMounts := map[string]bool{o.ProvidersDir: false} // path -> read-only
	if o.ShadowDir != "" {
		wantMounts[o.ShadowDir] = true
	}
	if len(c.VolumeMounts) != len(wantMounts) || len(pod.Spec.Volumes) != len(wantMounts) {
		t.Errorf("mounts %+v, want exactly %v", c.VolumeMounts, wantMounts)
	}
	for _, m := range c.VolumeMounts {
		ro, ok := wantMounts[m.MountPath]
		hp := hostPaths[m.Name]
		switch {
		case !ok || hp == nil:
			t.Errorf("unexpected mount %+v", m)
		case hp.Path != m.MountPath || m.ReadOnly != ro:
			t.Errorf("mount %s from host %s, read-only %v: want the same path, read-only %v", m.MountPath, hp.Path, m.ReadOnly, ro)
		case hp.Type == nil || *hp.Type != corev1.HostPathDirectoryOrCreate:
			t.Errorf("host path %s type %v, want DirectoryOrCreate", hp.Path, ptrString(hp.Type))
		case m.MountPropagation != nil && *m.MountPropagation != corev1.MountPropagationNone:
			t.Errorf("mount %s propagates: the provider mounts nothing", m.MountPath)
		case strings.HasPrefix(hp.Path, "/var/lib/kubelet"):
			t.Errorf("the provider mounts the kubelet's directory %s", hp.Path)
		}
	}

	// Security: root for the root-owned providers dir, nothing more.
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("provider container security context %+v", sc)
	}
	if psc := pod.Spec.SecurityContext; psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("provider pod security context %+v", psc)
	}

	// Health on the --http-address port; no readiness probe (a node plugin).
	port := addrPort(t, o.HTTPAddress)
	if containerPort(t, c, "http") != port {
		t.Errorf("http port %d, --http-address %s", containerPort(t, c, "http"), o.HTTPAddress)
	}
	checkHTTPProbe(t, "provider liveness", c.LivenessProbe, c, "/healthz", port)
	if c.ReadinessProbe != nil {
		t.Errorf("the provider needs no readiness probe")
	}

	// RBAC, exactly: get, list and watch serviceaccounts.
	if pod.Spec.ServiceAccountName != n.provider {
		t.Errorf("provider runs as %q", pod.Spec.ServiceAccountName)
	}
	checkRules(t, "ClusterRole "+n.provider, one[*rbacv1.ClusterRole](t, r, n.provider).Rules, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get", "list", "watch"}},
	})
	return o
}

// checkProviderNotes: the notes say how to switch from ASCP, and do not send
// the user to the webhook's namespace label (no webhook is installed).
func checkProviderNotes(t *testing.T, r *rendered) {
	t.Helper()
	dir := strings.TrimSuffix(value(t, r, "provider.providersDir").(string), "/")
	for _, s := range []string{dir + "/aws.sock", "Uninstall ASCP's DaemonSet", "provider: aws", "no CSIDriver, no webhook, no mounter", "tokenRequests"} {
		if !strings.Contains(r.Notes, s) {
			t.Errorf("NOTES.txt lacks %q:\n%s", s, r.Notes)
		}
	}
	if strings.Contains(r.Notes, "aws-secrets-injector.io/inject") {
		t.Errorf("provider-mode NOTES.txt tells the user about the webhook's annotations:\n%s", r.Notes)
	}
}

// asInt reads a number from the values (YAML gives float64, --set int64).
func asInt(t *testing.T, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case float64:
		return int64(n)
	case int64:
		return n
	case int:
		return int64(n)
	}
	t.Fatalf("value %v (%T) is not a number", v, v)
	return 0
}
