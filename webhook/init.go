package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// initMutator implements ModeInit: a memory emptyDir filled by an init
// container (or native sidecar) running the injector image. Not implemented
// yet (issue 5): pods asking for it are denied with a clear message. This
// file is the seam: replace present and apply.
type initMutator struct{}

func (initMutator) present(*corev1.Pod, *Annotations, *Config) bool { return false }

func (initMutator) apply(context.Context, *corev1.Pod, *Target, *Config, Lookups) error {
	return deny(annErr(AnnotationMode, fmt.Sprintf("use %q until init mode is available", ModeCSI),
		"mode %q is not supported by this webhook version", ModeInit))
}
