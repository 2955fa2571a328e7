package webhook

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// DefaultVolumeName is the name of the volume the webhook adds (a suffix is
// appended when the pod already has a volume of that name).
const DefaultVolumeName = "aws-secrets"

// Config is what the mutation needs from the webhook's flags.
type Config struct {
	// DriverName is the CSI driver of the inline volume (csi mode).
	DriverName string
	// DefaultMode applies when a pod has no mode annotation.
	DefaultMode Mode
	// DefaultMountPath applies when a pod has no mount-path annotation.
	DefaultMountPath string
	// InjectorImage is the image of the init container (init mode) and of
	// the exec wrapper's copy container.
	InjectorImage string
	// Init is the rest of init mode's configuration (init.go).
	Init InitConfig
	// Namespace is the webhook's own namespace, never mutated.
	Namespace string
	// ExcludedNamespaces are never mutated either (kube-system and
	// kube-public always are, see IsExcludedNamespace).
	ExcludedNamespaces []string
	// DefaultRegion is passed to spc.Parse.
	DefaultRegion string
	// StrictClasses makes what the AWS provider accepts but is likely a
	// mistake (an unknown key in objects) a denial instead of a warning.
	StrictClasses bool
	// Specs, when set, caches validated classes across calls.
	Specs *SpecCache
}

// alwaysExcluded are namespaces no configuration can opt in.
var alwaysExcluded = []string{"kube-system", "kube-public"}

// IsExcludedNamespace reports whether pods in ns are never mutated.
func (c *Config) IsExcludedNamespace(ns string) bool {
	return ns == c.Namespace || slices.Contains(alwaysExcluded, ns) || slices.Contains(c.ExcludedNamespaces, ns)
}

// ErrNotFound is wrapped by Lookups when an object does not exist.
var ErrNotFound = errors.New("not found")

// Lookups reads the cluster objects a mutation depends on.
type Lookups interface {
	// SecretProviderClass returns the class namespace/name; an error wrapping
	// ErrNotFound when it does not exist.
	SecretProviderClass(ctx context.Context, namespace, name string) (*spc.Class, error)
	// ServiceAccount returns the service account namespace/name; an error
	// wrapping ErrNotFound when it does not exist.
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
}

// DeniedError is a reason to refuse the pod that the user can fix; its
// message names the annotation (or object) and the problem.
type DeniedError struct{ Err error }

// Error returns the underlying message.
func (e *DeniedError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *DeniedError) Unwrap() error { return e.Err }

func deny(err error) error { return &DeniedError{Err: err} }

// Outcome says what Mutate did, for responses, logs and metrics.
type Outcome string

// Outcomes of Mutate.
const (
	// Mutated: the pod was changed.
	Mutated Outcome = "mutated"
	// Skipped: the pod is not for this webhook (not annotated, excluded
	// namespace, mirror pod) or already injected; it is returned unchanged.
	Skipped Outcome = "skipped"
)

// Target is what a mode's mutator works from: the pod's namespace, its parsed
// annotations, the validated SecretProviderClass and the selected containers.
type Target struct {
	// Namespace is the pod's namespace.
	Namespace string
	// Annotations are the pod's parsed annotations.
	Annotations *Annotations
	// Class is the SecretProviderClass as read from the cluster.
	Class *spc.Class
	// Spec is Class's validated parameters (shared through SpecCache: do
	// not modify).
	Spec *spc.Spec
	// Containers are indexes into pod.Spec.Containers to mount into.
	Containers []int
}

// mutator adds one mode's delivery to a pod. Mutate dispatches on
// Annotations.Mode: csiMutator (csi.go) and initMutator (init.go).
type mutator interface {
	// present reports whether pod already carries this mode's delivery of
	// the class (then the pod is left alone).
	present(pod *corev1.Pod, a *Annotations, cfg *Config) bool
	// apply changes pod (owned by the caller), in the ways snapshot
	// (patch.go) allows: the handler's patch is the difference from it.
	// Errors the user can fix are *DeniedError.
	apply(ctx context.Context, pod *corev1.Pod, t *Target, cfg *Config, lk Lookups) error
}

func mutatorFor(m Mode) mutator {
	switch m {
	case ModeInit:
		return initMutator{}
	default:
		return csiMutator{}
	}
}

// Mutate returns a mutated deep copy of pod, which lives in namespace ns
// (pod.Namespace may be empty on CREATE), and what it did. pod itself is
// never changed. Errors the user can fix are *DeniedError; others (a failed
// lookup) are internal.
func Mutate(ctx context.Context, pod *corev1.Pod, ns string, cfg Config, lk Lookups) (*corev1.Pod, Outcome, error) {
	out, o, _, err := MutateWithWarnings(ctx, pod, ns, cfg, lk)
	return out, o, err
}

// MutateWithWarnings is Mutate, and the warnings the API server shows to
// whoever created the pod (kubectl prints them): what the pod's class
// declares that this webhook accepts but likely does not do what its author
// meant (see classWarnings).
func MutateWithWarnings(ctx context.Context, pod *corev1.Pod, ns string, cfg Config, lk Lookups) (*corev1.Pod, Outcome, []string, error) {
	return mutateOwned(ctx, pod.DeepCopy(), ns, cfg, lk)
}

// mutateOwned is MutateWithWarnings on a pod the caller owns and gives up:
// it changes out in place (the handler's freshly decoded pod, whose deep
// copy was a tenth of an admission's allocations) and returns it.
func mutateOwned(ctx context.Context, out *corev1.Pod, ns string, cfg Config, lk Lookups) (*corev1.Pod, Outcome, []string, error) {
	if ns == "" {
		ns = out.Namespace
	}
	// 1. Pods that are not ours, or already done: unchanged.
	if _, mirror := out.Annotations[MirrorPodAnnotation]; mirror || cfg.IsExcludedNamespace(ns) {
		return out, Skipped, nil, nil
	}
	if out.Annotations[AnnotationInject] != "true" || out.Annotations[AnnotationStatus] == StatusInjected {
		return out, Skipped, nil, nil
	}
	a, err := ParseAnnotations(out.Annotations, cfg.DefaultMode, cfg.DefaultMountPath)
	if err == nil {
		err = checkNotify(out, a)
	}
	if err != nil {
		return nil, "", nil, deny(err)
	}
	m := mutatorFor(a.Mode)
	if m.present(out, a, &cfg) {
		return out, Skipped, nil, nil
	}

	// 2. The SecretProviderClass must exist and be valid.
	class, err := lk.SecretProviderClass(ctx, ns, a.SecretProviderClass)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, "", nil, deny(annErr(AnnotationSecretProviderClass, "create it in this namespace or fix the name",
			"SecretProviderClass %q not found in namespace %q", a.SecretProviderClass, ns))
	case errors.As(err, new(*DeniedError)):
		return nil, "", nil, err
	case err != nil:
		return nil, "", nil, fmt.Errorf("get SecretProviderClass %s/%s: %w", ns, a.SecretProviderClass, err)
	}
	if class.Provider != spc.Provider {
		return nil, "", nil, deny(annErr(AnnotationSecretProviderClass, `set spec.provider: aws in the class`,
			"SecretProviderClass %q has provider %q, not %q", a.SecretProviderClass, class.Provider, spc.Provider))
	}
	spec, warns, err := cfg.Specs.parse(class, spc.Options{DefaultRegion: cfg.DefaultRegion, Strict: cfg.StrictClasses})
	if err != nil {
		// The class's issues carry their own fixes.
		return nil, "", nil, deny(annErr(AnnotationSecretProviderClass, "",
			"SecretProviderClass %q: %v", a.SecretProviderClass, err))
	}

	// 3. Containers and mount path.
	idx, err := selectContainers(out, a)
	if err != nil {
		return nil, "", nil, deny(err)
	}
	t := &Target{Namespace: ns, Annotations: a, Class: class, Spec: spec, Containers: idx}

	// 4. The mode's own changes, the exec wrapper, then the status annotation.
	if err := m.apply(ctx, out, t, &cfg, lk); err != nil {
		return nil, "", nil, err
	}
	if a.Exec != nil {
		if err := applyExec(out, t, &cfg); err != nil {
			return nil, "", nil, err
		}
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnotationStatus] = StatusInjected
	return out, Mutated, append(classWarnings(class, warns, a.Mode), execWarnings(a)...), nil
}

// selectContainers returns the indexes of the app containers named by the
// containers annotation (all when absent), and checks that none of them
// already mounts something at the mount path.
func selectContainers(pod *corev1.Pod, a *Annotations) ([]int, error) {
	var idx []int
	if a.Containers == nil {
		for i := range pod.Spec.Containers {
			idx = append(idx, i)
		}
	} else {
		for _, name := range a.Containers {
			i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == name })
			if i < 0 {
				names := make([]string, len(pod.Spec.Containers))
				for j, c := range pod.Spec.Containers {
					names[j] = c.Name
				}
				return nil, annErr(AnnotationContainers, fmt.Sprintf("use one of the pod's containers: %v", names),
					"no container named %q in the pod", name)
			}
			idx = append(idx, i)
		}
	}
	for _, i := range idx {
		c := &pod.Spec.Containers[i]
		for _, vm := range c.VolumeMounts {
			if path.Clean(vm.MountPath) == a.MountPath {
				return nil, annErr(AnnotationMountPath, "choose another mount path",
					"%q collides with volume %q already mounted there in container %q", a.MountPath, vm.Name, c.Name)
			}
		}
	}
	return idx, nil
}

// uniqueVolumeName returns base, or base-N for the smallest N ≥ 2 that no
// volume of pod uses.
func uniqueVolumeName(pod *corev1.Pod, base string) string {
	taken := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		taken[v.Name] = true
	}
	name := base
	for n := 2; taken[name]; n++ {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	return name
}
