package webhook

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// VolumeAttributeSecretProviderClass is the CSI volume attribute naming the class.
const VolumeAttributeSecretProviderClass = "secretProviderClass"

// VolumeAttributeRefreshInterval is the CSI volume attribute carrying the
// pod's refresh-interval annotation (a Go duration), set only when the pod
// has one, for the mounter to honour.
const VolumeAttributeRefreshInterval = "refreshInterval"

// csiMutator implements ModeCSI: an inline CSI volume of the configured
// driver, mounted read-only in the selected containers.
type csiMutator struct{}

// present: the pod already has an inline volume of our driver for the class.
func (csiMutator) present(pod *corev1.Pod, a *Annotations, cfg *Config) bool {
	for _, v := range pod.Spec.Volumes {
		if v.CSI != nil && v.CSI.Driver == cfg.DriverName &&
			v.CSI.VolumeAttributes[VolumeAttributeSecretProviderClass] == a.SecretProviderClass {
			return true
		}
	}
	return false
}

func (csiMutator) apply(_ context.Context, pod *corev1.Pod, t *Target, cfg *Config, _ Lookups) error {
	name := uniqueVolumeName(pod, DefaultVolumeName)
	readOnly := true
	attrs := map[string]string{VolumeAttributeSecretProviderClass: t.Annotations.SecretProviderClass}
	if t.Annotations.RefreshInterval > 0 {
		attrs[VolumeAttributeRefreshInterval] = t.Annotations.RefreshInterval.String()
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
		Name: name,
		VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
			Driver:           cfg.DriverName,
			ReadOnly:         &readOnly,
			VolumeAttributes: attrs,
		}},
	})
	for _, i := range t.Containers {
		c := &pod.Spec.Containers[i]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{
			Name:      name,
			MountPath: t.Annotations.MountPath,
			ReadOnly:  true,
		})
	}
	return nil
}
