package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// initMutator implements ModeInit: a memory emptyDir filled by an init
// container (or native sidecar) running the injector image. Not implemented
// yet (issue 5): pods asking for it are denied with a clear message.
//
// This file is the seam. Mutate has already, before apply is called:
// skipped excluded namespaces, mirror pods, pods without inject: "true" and
// pods with status: injected; parsed every annotation (t.Annotations:
// MountPath, Containers, Refresh, RefreshInterval, InitFirst); read and
// validated the SecretProviderClass (t.Class, t.Spec — shared, do not
// modify); resolved the selected app containers (t.Containers) and checked
// the mount path against their mounts. It sets status: injected after apply
// succeeds. apply adds the volume (uniqueVolumeName), the read-only mounts,
// and the init container (cfg.InjectorImage; lk.ServiceAccount for the
// IRSA role annotation); present must recognise a pod that already carries
// it, so that reinvocation without the status annotation changes nothing.
// Errors the user can fix are deny(annErr(annotation, fix, problem)).
// Golden cases go in TestMutateGolden with the name prefix "init-", and
// FuzzMutate covers the mode once apply succeeds.
type initMutator struct{}

func (initMutator) present(*corev1.Pod, *Annotations, *Config) bool { return false }

func (initMutator) apply(context.Context, *corev1.Pod, *Target, *Config, Lookups) error {
	return deny(annErr(AnnotationMode, fmt.Sprintf("use %q until init mode is available", ModeCSI),
		"mode %q is not supported by this webhook version", ModeInit))
}
