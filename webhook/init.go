package webhook

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
)

// Pod annotations of init mode (besides the shared ones in annotations.go).
// They are read only when the pod is in init mode.
const (
	// AnnotationInjectorCPURequest overrides the injector container's CPU
	// request (a Kubernetes quantity, e.g. "20m").
	AnnotationInjectorCPURequest = AnnotationPrefix + "injector-cpu-request"
	// AnnotationInjectorCPULimit sets the injector container's CPU limit.
	AnnotationInjectorCPULimit = AnnotationPrefix + "injector-cpu-limit"
	// AnnotationInjectorMemoryRequest overrides the injector container's
	// memory request (e.g. "64Mi").
	AnnotationInjectorMemoryRequest = AnnotationPrefix + "injector-memory-request"
	// AnnotationInjectorMemoryLimit overrides the injector container's memory
	// limit (e.g. "128Mi").
	AnnotationInjectorMemoryLimit = AnnotationPrefix + "injector-memory-limit"
	// AnnotationInjectorDeadline bounds the first fill (a Go duration):
	// transient AWS errors are retried within it (contract.EnvDeadline).
	AnnotationInjectorDeadline = AnnotationPrefix + "injector-deadline"
)

// InjectorContainerName is the name of the init container (native sidecar
// with refresh) that init mode adds; a suffix is appended when the pod already
// has a container of that name.
const InjectorContainerName = "aws-secrets-injector"

// Defaults of init mode (the webhook's --injector-* flags).
const (
	DefaultInjectorCPURequest      = "10m"
	DefaultInjectorMemoryRequest   = "64Mi"
	DefaultInjectorMemoryLimit     = "128Mi"
	DefaultInjectorVolumeSizeLimit = "8Mi"
	DefaultInjectorRefreshInterval = 2 * time.Minute
	// DefaultInjectorUser is the user (and group) the injector runs as when
	// the pod's securityContext sets neither: the image's nonroot user.
	DefaultInjectorUser int64 = 65532
)

// InitConfig is init mode's part of Config (the --injector-* flags).
type InitConfig struct {
	// PullPolicy is the injector container's imagePullPolicy; empty leaves
	// the API server's default.
	PullPolicy corev1.PullPolicy
	// Region, when set, becomes AWS_REGION of the injector container.
	Region string
	// Endpoint, when set, becomes AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_STS
	// of the injector container (the SDK's web identity provider builds its
	// STS client before it applies AWS_ENDPOINT_URL, so IRSA needs the
	// STS-specific variable too).
	Endpoint string
	// Resources are the injector container's default requests and limits;
	// pods override them by annotation.
	Resources corev1.ResourceRequirements
	// VolumeSizeLimit is the sizeLimit of the memory emptyDir (nil: none).
	VolumeSizeLimit *resource.Quantity
	// RefreshInterval is the refresh period of a pod with refresh: "true"
	// and no refresh-interval annotation (the class's refreshInterval, when
	// set, takes precedence in the injector).
	RefreshInterval time.Duration
	// Deadline bounds the first fill when the pod has no injector-deadline
	// annotation; 0 leaves the injector's default (contract.DefaultDeadline).
	Deadline time.Duration
}

// DefaultInitConfig returns init mode's defaults.
func DefaultInitConfig() InitConfig {
	size := resource.MustParse(DefaultInjectorVolumeSizeLimit)
	return InitConfig{
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(DefaultInjectorCPURequest),
				corev1.ResourceMemory: resource.MustParse(DefaultInjectorMemoryRequest),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(DefaultInjectorMemoryLimit)},
		},
		VolumeSizeLimit: &size,
		RefreshInterval: DefaultInjectorRefreshInterval,
	}
}

// initMutator implements ModeInit: a memory emptyDir, mounted read-only in
// the selected app containers and filled by an init container running the
// webhook's own image with `inject` (injector package), or a native sidecar
// (restartPolicy: Always, startupProbe) that keeps it fresh with refresh.
//
// The injector container gets:
//   - the env contract (contract.Env.Vars: the class's parameters resolved at
//     admission, so the pod needs no RBAC; its name; the mount path; the
//     refresh interval; the deadline), AWS_REGION and AWS_ENDPOINT_URL(_STS)
//     when configured;
//   - IRSA when the ServiceAccount has eks.amazonaws.com/role-arn and the
//     container lacks it: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE,
//     AWS_STS_REGIONAL_ENDPOINTS=regional when the ServiceAccount asks, and
//     the projected token volume aws-iam-token (reused when the EKS
//     pod-identity webhook added it already), exactly as that webhook does.
//     When it runs after us it skips our container's env (AWS_ROLE_ARN is
//     set) and mount (the volume is mounted), so both orders agree;
//   - EKS Pod Identity: the credentials env and token mount copied from an
//     app container that has them;
//   - small resources (InitConfig.Resources, annotations override), a
//     restricted security context that respects the pod's runAsUser and
//     runAsGroup, and terminationMessagePolicy FallbackToLogsOnError so the
//     injector's one error line shows in the pod's status.
type initMutator struct{}

// present: the pod already has an injector container (one carrying the env
// contract), whatever its name.
func (initMutator) present(pod *corev1.Pod, _ *Annotations, _ *Config) bool {
	return slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool {
		return envIndex(c.Env, contract.EnvSPC) >= 0
	})
}

func (initMutator) apply(ctx context.Context, pod *corev1.Pod, t *Target, cfg *Config, lk Lookups) error {
	a := t.Annotations
	if cfg.InjectorImage == "" {
		return deny(annErr(AnnotationMode, fmt.Sprintf("use %q, or ask the operator to set the webhook's --injector-image", ModeCSI),
			"mode %q is not enabled on this webhook (no injector image configured)", ModeInit))
	}
	for _, p := range []string{IRSAMountPath, PodIdentityMountPath} {
		if a.MountPath == p {
			return deny(annErr(AnnotationMountPath, "choose another mount path",
				"%q is where the AWS identity token is mounted", a.MountPath))
		}
	}
	res, err := injectorResources(pod.Annotations, cfg.Init.Resources)
	if err != nil {
		return deny(err)
	}
	deadline, err := injectorDeadline(pod.Annotations, cfg.Init.Deadline)
	if err != nil {
		return deny(err)
	}
	var interval time.Duration
	if a.Refresh {
		interval = a.RefreshInterval
		if interval == 0 {
			interval = cfg.Init.RefreshInterval
		}
		if interval <= 0 {
			interval = DefaultInjectorRefreshInterval
		}
	}

	// 1. The memory emptyDir and the read-only mounts in the app containers.
	vol := uniqueVolumeName(pod, DefaultVolumeName)
	var size *resource.Quantity
	if cfg.Init.VolumeSizeLimit != nil {
		q := cfg.Init.VolumeSizeLimit.DeepCopy()
		size = &q
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
		Name: vol,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: size,
		}},
	})
	for _, i := range t.Containers {
		c := &pod.Spec.Containers[i]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vol, MountPath: a.MountPath, ReadOnly: true})
	}

	// 2. The injector container.
	vars, err := contract.Env{
		Params:          t.Class.Parameters,
		ClassName:       t.Namespace + "/" + a.SecretProviderClass,
		MountPath:       a.MountPath,
		RefreshInterval: interval,
		Deadline:        deadline,
	}.Vars()
	if err != nil {
		return fmt.Errorf("render the injector environment: %w", err)
	}
	c := corev1.Container{
		Name:                     uniqueContainerName(pod, InjectorContainerName),
		Image:                    cfg.InjectorImage,
		ImagePullPolicy:          cfg.Init.PullPolicy,
		Args:                     []string{contract.Subcommand},
		Resources:                res,
		VolumeMounts:             []corev1.VolumeMount{{Name: vol, MountPath: a.MountPath}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          injectorSecurityContext(pod.Spec.SecurityContext),
	}
	for _, v := range vars {
		c.Env = append(c.Env, corev1.EnvVar{Name: v.Name, Value: v.Value})
	}
	if cfg.Init.Region != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: envAWSRegion, Value: cfg.Init.Region})
	}
	if cfg.Init.Endpoint != "" {
		c.Env = append(c.Env,
			corev1.EnvVar{Name: envAWSEndpoint, Value: cfg.Init.Endpoint},
			corev1.EnvVar{Name: envAWSEndpointSTS, Value: cfg.Init.Endpoint})
	}
	c.Env = append(c.Env, notifyEnv(a)...)
	if a.Refresh {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
		c.StartupProbe = &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: contract.ProbeCommand(contract.DefaultBinary)}},
			PeriodSeconds:    1,
			FailureThreshold: contract.ProbeFailureThreshold(deadline, 1),
		}
	}

	// 3. The pod's AWS identity.
	if err := addIRSA(ctx, pod, &c, t.Namespace, lk); err != nil {
		return err
	}
	addPodIdentity(pod, &c)
	inheritRegion(pod, &c)

	// 4. After the pod's own init containers, or first when asked.
	if a.InitFirst {
		pod.Spec.InitContainers = append([]corev1.Container{c}, pod.Spec.InitContainers...)
	} else {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
	}
	return nil
}

// injectorResources returns def overridden by the resource annotations; a
// malformed or non-positive quantity, or a request above its limit, is an
// *AnnotationError.
func injectorResources(ann map[string]string, def corev1.ResourceRequirements) (corev1.ResourceRequirements, error) {
	res := *def.DeepCopy()
	set := func(list *corev1.ResourceList, name corev1.ResourceName, key, example string) error {
		v, ok := ann[key]
		if !ok {
			return nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return annErr(key, fmt.Sprintf("use a positive Kubernetes quantity such as %q", example), "%s is not a positive quantity", quote(v))
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
		return nil
	}
	for _, s := range []struct {
		list    *corev1.ResourceList
		name    corev1.ResourceName
		key     string
		example string
	}{
		{&res.Requests, corev1.ResourceCPU, AnnotationInjectorCPURequest, "10m"},
		{&res.Limits, corev1.ResourceCPU, AnnotationInjectorCPULimit, "100m"},
		{&res.Requests, corev1.ResourceMemory, AnnotationInjectorMemoryRequest, "64Mi"},
		{&res.Limits, corev1.ResourceMemory, AnnotationInjectorMemoryLimit, "128Mi"},
	} {
		if err := set(s.list, s.name, s.key, s.example); err != nil {
			return res, err
		}
	}
	for _, p := range []struct {
		name           corev1.ResourceName
		request, limit string
		what           string
	}{
		{corev1.ResourceCPU, AnnotationInjectorCPURequest, AnnotationInjectorCPULimit, "CPU"},
		{corev1.ResourceMemory, AnnotationInjectorMemoryRequest, AnnotationInjectorMemoryLimit, "memory"},
	} {
		req, hasReq := res.Requests[p.name]
		lim, hasLim := res.Limits[p.name]
		if !hasReq || !hasLim || req.Cmp(lim) <= 0 {
			continue
		}
		key := p.request // blame the annotation the pod set
		if _, ok := ann[key]; !ok {
			key = p.limit
		}
		return res, annErr(key, fmt.Sprintf("keep %s at or below %s", p.request, p.limit),
			"the injector's %s request %s exceeds its limit %s", p.what, req.String(), lim.String())
	}
	return res, nil
}

// injectorDeadline returns the injector-deadline annotation, or def.
func injectorDeadline(ann map[string]string, def time.Duration) (time.Duration, error) {
	v, ok := ann[AnnotationInjectorDeadline]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, annErr(AnnotationInjectorDeadline, `use a Go duration such as "2m"`, "%s is not a duration", quote(v))
	case d < time.Second:
		return 0, annErr(AnnotationInjectorDeadline, `use 1s or more, e.g. "2m"`, "%s is too short", d)
	}
	return d, nil
}

// injectorSecurityContext is the restricted context of the injector
// container. It runs as DefaultInjectorUser unless the pod sets runAsUser
// (then the pod's user and group apply, unless that user is root) and never
// touches the pod's fsGroup, so the files belong to the pod's users.
func injectorSecurityContext(psc *corev1.PodSecurityContext) *corev1.SecurityContext {
	yes, no := true, false
	sc := &corev1.SecurityContext{
		RunAsNonRoot:             &yes,
		ReadOnlyRootFilesystem:   &yes,
		AllowPrivilegeEscalation: &no,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	var podUser, podGroup *int64
	if psc != nil {
		podUser, podGroup = psc.RunAsUser, psc.RunAsGroup
	}
	if podUser == nil || *podUser == 0 {
		// The pod's user is the image's (ours is nonroot) or root: run as
		// the nonroot user; keep a group the pod chose.
		uid := DefaultInjectorUser
		sc.RunAsUser = &uid
		if podGroup == nil || *podGroup == 0 {
			gid := DefaultInjectorUser
			sc.RunAsGroup = &gid
		}
	}
	return sc
}

// existingMountPath returns where some container of pod mounts volume.
func existingMountPath(pod *corev1.Pod, volume string) string {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, m := range c.VolumeMounts {
				if m.Name == volume {
					return m.MountPath
				}
			}
		}
	}
	return ""
}

// uniqueContainerName returns base, or base-N for the smallest N ≥ 2 that no
// container, init container or ephemeral container of pod uses.
func uniqueContainerName(pod *corev1.Pod, base string) string {
	taken := map[string]bool{}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			taken[c.Name] = true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		taken[c.Name] = true
	}
	name := base
	for n := 2; taken[name]; n++ {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	return name
}

func envIndex(env []corev1.EnvVar, name string) int {
	return slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
}
