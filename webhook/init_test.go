package webhook

import (
	"context"
	"encoding/json"
	"path"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
)

func ptr[T any](v T) *T { return &v }

func withoutInitContainers(p *corev1.Pod) *corev1.Pod {
	p.Spec.InitContainers = nil
	return p
}

func withServiceAccount(p *corev1.Pod, name string) *corev1.Pod {
	p.Spec.ServiceAccountName = name
	return p
}

func withPodSecurity(p *corev1.Pod, sc *corev1.PodSecurityContext) *corev1.Pod {
	p.Spec.SecurityContext = sc
	return p
}

func withInitContainer(p *corev1.Pod, name string) *corev1.Pod {
	p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: name, Image: "example.com/other:1"})
	return p
}

// eksWebhook does to p what the EKS pod-identity webhook does for a
// ServiceAccount with role: every container without AWS_ROLE_ARN or
// AWS_WEB_IDENTITY_TOKEN_FILE gets them, every container without the token
// mount gets it, and the token volume is inserted first unless present.
func eksWebhook(p *corev1.Pod, role, mountPath string) *corev1.Pod {
	return eksWebhookRegional(p, role, mountPath, false, "")
}

// eksWebhookRegional is eksWebhook with that webhook's regional STS and
// region settings: containers without AWS_STS_REGIONAL_ENDPOINTS get it when
// regional, containers without any region variable get both when region is
// set.
func eksWebhookRegional(p *corev1.Pod, role, mountPath string, regional bool, region string) *corev1.Pod {
	add := func(c *corev1.Container) {
		if regional && envIndex(c.Env, envAWSRegionalSTS) < 0 {
			c.Env = append(c.Env, corev1.EnvVar{Name: envAWSRegionalSTS, Value: "regional"})
		}
		if region != "" && envIndex(c.Env, envAWSRegion) < 0 && envIndex(c.Env, envAWSDefaultRegion) < 0 {
			c.Env = append(c.Env, corev1.EnvVar{Name: envAWSDefaultRegion, Value: region}, corev1.EnvVar{Name: envAWSRegion, Value: region})
		}
		if envIndex(c.Env, envAWSRoleARN) < 0 && envIndex(c.Env, envAWSTokenFile) < 0 {
			c.Env = append(c.Env, corev1.EnvVar{Name: envAWSRoleARN, Value: role},
				corev1.EnvVar{Name: envAWSTokenFile, Value: path.Join(mountPath, IRSATokenPath)})
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == IRSAVolumeName }) {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: IRSAVolumeName, ReadOnly: true, MountPath: mountPath})
		}
	}
	for i := range p.Spec.InitContainers {
		add(&p.Spec.InitContainers[i])
	}
	for i := range p.Spec.Containers {
		add(&p.Spec.Containers[i])
	}
	if !slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == IRSAVolumeName }) {
		exp := IRSADefaultExpirationSeconds
		p.Spec.Volumes = append([]corev1.Volume{{Name: IRSAVolumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: IRSADefaultAudience, ExpirationSeconds: &exp, Path: IRSATokenPath}}}}}}}, p.Spec.Volumes...)
	}
	return p
}

// withPodIdentity does what the EKS Pod Identity webhook does to the app
// containers.
func withPodIdentity(p *corev1.Pod) *corev1.Pod {
	exp := int64(86400)
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: PodIdentityVolumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience: "pods.eks.amazonaws.com", ExpirationSeconds: &exp, Path: PodIdentityVolumeName}}}}}})
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		c.Env = append(c.Env, corev1.EnvVar{Name: envAWSContainerURI, Value: "http://169.254.170.23/v1/credentials"},
			corev1.EnvVar{Name: envAWSContainerAuthFile, Value: PodIdentityMountPath + "/" + PodIdentityVolumeName})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: PodIdentityVolumeName, MountPath: PodIdentityMountPath, ReadOnly: true})
	}
	return p
}

// normalized sorts what admission order may permute: volumes, and each
// container's env and mounts.
func normalized(p *corev1.Pod) *corev1.Pod {
	p = p.DeepCopy()
	slices.SortFunc(p.Spec.Volumes, func(a, b corev1.Volume) int { return strings.Compare(a.Name, b.Name) })
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range list {
			slices.SortFunc(list[i].Env, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
			slices.SortFunc(list[i].VolumeMounts, func(a, b corev1.VolumeMount) int { return strings.Compare(a.Name, b.Name) })
		}
	}
	return p
}

func injectorContainer(t *testing.T, p *corev1.Pod) *corev1.Container {
	t.Helper()
	for i := range p.Spec.InitContainers {
		if envIndex(p.Spec.InitContainers[i].Env, contract.EnvSPC) >= 0 {
			return &p.Spec.InitContainers[i]
		}
	}
	t.Fatal("no injector container")
	return nil
}

// TestInitIRSAEitherWebhookOrder: whether the EKS pod-identity webhook runs
// before or after ours, the pod ends up the same (up to order), the injector
// container has the role exactly once, and the token volume exists once.
func TestInitIRSAEitherWebhookOrder(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		mountPath, region string
		regional          bool
	}{{IRSAMountPath, "", false}, {"/var/run/irsa", "", false}, {IRSAMountPath, "eu-west-1", true}} {
		mountPath := tc.mountPath
		eksWebhook := func(p *corev1.Pod, role, mountPath string) *corev1.Pod {
			return eksWebhookRegional(p, role, mountPath, tc.regional, tc.region)
		}
		base := withServiceAccount(testPod(map[string]string{AnnotationMode: "init"}), "irsa")
		ours, _, err := Mutate(ctx, base, "apps", testConfig(), testLookups())
		if err != nil {
			t.Fatal(err)
		}
		oursThenEKS := eksWebhook(ours.DeepCopy(), testRoleARN, mountPath)
		// Reinvocation after the EKS webhook changes nothing.
		again, outcome, err := Mutate(ctx, oursThenEKS, "apps", testConfig(), testLookups())
		if err != nil || outcome != Skipped || !equality.Semantic.DeepEqual(again, oursThenEKS) {
			t.Fatalf("reinvocation: %q %v", outcome, err)
		}
		eksThenOurs, _, err := Mutate(ctx, eksWebhook(base.DeepCopy(), testRoleARN, mountPath), "apps", testConfig(), testLookups())
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range map[string]*corev1.Pod{"ours then EKS": oursThenEKS, "EKS then ours": eksThenOurs} {
			n := 0
			for _, v := range p.Spec.Volumes {
				if v.Name == IRSAVolumeName {
					n++
				}
			}
			c := injectorContainer(t, p)
			roles, mounts := 0, 0
			for _, e := range c.Env {
				if e.Name == envAWSRoleARN {
					roles++
				}
			}
			for _, m := range c.VolumeMounts {
				if m.Name == IRSAVolumeName {
					mounts++
				}
			}
			if n != 1 || roles != 1 || mounts != 1 {
				t.Errorf("%s: %d token volumes, %d AWS_ROLE_ARN, %d token mounts in the injector", name, n, roles, mounts)
			}
		}
		// Only where the EKS webhook ran first can a custom mount path be
		// known to us; with its default both orders agree exactly.
		if mountPath == IRSAMountPath && !equality.Semantic.DeepEqual(normalized(oursThenEKS), normalized(eksThenOurs)) {
			t.Errorf("the two orders disagree:\n%s\n---\n%s", render(t, normalized(oursThenEKS), Mutated, nil), render(t, normalized(eksThenOurs), Mutated, nil))
		}
		c := injectorContainer(t, eksThenOurs)
		if f := c.Env[envIndex(c.Env, envAWSTokenFile)].Value; f != path.Join(mountPath, IRSATokenPath) {
			t.Errorf("EKS webhook first with mount path %s: token file %s", mountPath, f)
		}
	}
}

// TestInitNoRoleNoIRSA: a ServiceAccount without the role annotation, or
// none at all, gets no token volume and no IRSA env.
func TestInitNoRoleNoIRSA(t *testing.T) {
	for _, sa := range []string{"", "default", "absent"} {
		p := withServiceAccount(testPod(map[string]string{AnnotationMode: "init"}), sa)
		out, _, err := Mutate(context.Background(), p, "apps", testConfig(), testLookups())
		if err != nil {
			t.Fatal(err)
		}
		c := injectorContainer(t, out)
		if envIndex(c.Env, envAWSRoleARN) >= 0 || slices.ContainsFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == IRSAVolumeName }) {
			t.Errorf("service account %q: IRSA added", sa)
		}
	}
}

func TestInitIdempotent(t *testing.T) {
	for _, ann := range []map[string]string{
		{AnnotationMode: "init"},
		{AnnotationMode: "init", AnnotationRefresh: "true", AnnotationInitFirst: "true"},
	} {
		lk := testLookups()
		once, outcome, err := Mutate(context.Background(), withServiceAccount(testPod(ann), "irsa"), "apps", testConfig(), lk)
		if err != nil || outcome != Mutated {
			t.Fatalf("first pass: %q %v", outcome, err)
		}
		twice, outcome, err := Mutate(context.Background(), once, "apps", testConfig(), lk)
		if err != nil || outcome != Skipped || !equality.Semantic.DeepEqual(once, twice) {
			t.Fatalf("second pass changed the pod: %q %v", outcome, err)
		}
		delete(once.Annotations, AnnotationStatus)
		again, outcome, err := Mutate(context.Background(), once, "apps", testConfig(), lk)
		if err != nil || outcome != Skipped || len(again.Spec.InitContainers) != len(once.Spec.InitContainers) {
			t.Fatalf("pass without status: %q %v", outcome, err)
		}
	}
}

// TestInitLookupFailureIsInternal: a failed ServiceAccount read is not the
// user's fault.
func TestInitLookupFailureIsInternal(t *testing.T) {
	lk := &saErrLookups{fakeLookups: testLookups()}
	_, _, err := Mutate(context.Background(), testPod(map[string]string{AnnotationMode: "init"}), "apps", testConfig(), lk)
	if err == nil || strings.Contains(err.Error(), "annotation") || !strings.Contains(err.Error(), "ServiceAccount apps/default") {
		t.Fatalf("want an internal error naming the ServiceAccount, got %v", err)
	}
}

type saErrLookups struct{ *fakeLookups }

func (saErrLookups) ServiceAccount(context.Context, string, string) (*corev1.ServiceAccount, error) {
	return nil, context.DeadlineExceeded
}

func TestTokenExpiration(t *testing.T) {
	for _, tc := range []struct {
		pod, sa string
		want    int64
	}{
		{"", "", 86400}, {"", "3600", 3600}, {"7200", "3600", 7200}, {"x", "3600", 3600},
		{"60", "", 600}, {"", "99999999999", 1 << 32},
	} {
		if got := tokenExpiration(tc.pod, tc.sa); got != tc.want {
			t.Errorf("tokenExpiration(%q, %q) = %d, want %d", tc.pod, tc.sa, got, tc.want)
		}
	}
}

// BenchmarkHandleInit: the admission handler alone for an init-mode pod with
// an IRSA ServiceAccount (decode, mutate, patch), no HTTP.
func BenchmarkHandleInit(b *testing.B) {
	cfg := testConfig()
	cfg.Specs = NewSpecCache(16)
	h := &Handler{Config: cfg, Lookups: testLookups()}
	raw := review(b, admissionv1.Create, podKind, "apps", withServiceAccount(testPod(map[string]string{AnnotationMode: "init", AnnotationRefresh: "true"}), "irsa"))
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &ar); err != nil {
		b.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: *ar.Request}
	b.ReportAllocs()
	for b.Loop() {
		if resp := h.Handle(context.Background(), req); len(resp.Patch) == 0 {
			b.Fatal("no patch")
		}
	}
}

// TestInitInheritsTheAppsRegion: with no --injector-aws-region and no IRSA,
// the injector gets the AWS_REGION and AWS_DEFAULT_REGION an app container
// declares; the flag's region wins; a pod that declares none gives none.
func TestInitInheritsTheAppsRegion(t *testing.T) {
	withRegion := func(p *corev1.Pod, env ...corev1.EnvVar) *corev1.Pod {
		p = p.DeepCopy()
		p.Spec.Containers[len(p.Spec.Containers)-1].Env = append(p.Spec.Containers[len(p.Spec.Containers)-1].Env, env...)
		return p
	}
	region := func(c *corev1.Container, name string) string {
		if i := envIndex(c.Env, name); i >= 0 {
			return c.Env[i].Value
		}
		return ""
	}
	base := testPod(map[string]string{AnnotationMode: "init"})
	for _, tc := range []struct {
		name          string
		pod           *corev1.Pod
		flag          string
		region, deflt string
	}{
		{"app declares AWS_REGION", withRegion(base, corev1.EnvVar{Name: envAWSRegion, Value: "eu-west-1"}), "", "eu-west-1", ""},
		{"app declares both", withRegion(base, corev1.EnvVar{Name: envAWSDefaultRegion, Value: "eu-west-2"}, corev1.EnvVar{Name: envAWSRegion, Value: "eu-west-1"}), "", "eu-west-1", "eu-west-2"},
		{"the flag wins", withRegion(base, corev1.EnvVar{Name: envAWSRegion, Value: "eu-west-1"}), "us-west-2", "us-west-2", ""},
		{"none declared", base, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Init.Region = tc.flag
			out, _, err := Mutate(context.Background(), tc.pod, "apps", cfg, testLookups())
			if err != nil {
				t.Fatal(err)
			}
			c := injectorContainer(t, out)
			if got, got2 := region(c, envAWSRegion), region(c, envAWSDefaultRegion); got != tc.region || got2 != tc.deflt {
				t.Errorf("injector AWS_REGION %q AWS_DEFAULT_REGION %q, want %q %q", got, got2, tc.region, tc.deflt)
			}
		})
	}
}
