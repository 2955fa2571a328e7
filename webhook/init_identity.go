// This file gives the injector container the pod's AWS identity, as the EKS
// pod-identity webhook gives it to app containers: IRSA (env, projected token
// volume and mount) and EKS Pod Identity (env and token mount copied from an
// app container). Both webhook orders give the same pod.

package webhook

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// IRSA: what the EKS pod-identity webhook reads from the ServiceAccount and
// adds to a pod. Init mode adds the same to its container when that webhook
// has not (yet), so the injector has the pod's identity whatever the webhook
// order.
const (
	// IRSAAnnotationPrefix is the prefix of every ServiceAccount annotation
	// the webhook reads (the webhook's cache keeps only these).
	IRSAAnnotationPrefix          = "eks.amazonaws.com/"
	IRSARoleARNAnnotation         = "eks.amazonaws.com/role-arn"
	IRSAAudienceAnnotation        = "eks.amazonaws.com/audience"
	IRSATokenExpirationAnnotation = "eks.amazonaws.com/token-expiration" //nolint:gosec // an annotation key, not a credential
	IRSARegionalSTSAnnotation     = "eks.amazonaws.com/sts-regional-endpoints"
	IRSAVolumeName                = "aws-iam-token"
	IRSAMountPath                 = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
	IRSATokenPath                 = "token"
	IRSADefaultAudience           = "sts.amazonaws.com"
	IRSADefaultExpirationSeconds  = int64(86400)
	// irsaMinExpirationSeconds and irsaMaxExpirationSeconds are the API
	// server's bounds of a projected token's expirationSeconds.
	irsaMinExpirationSeconds = int64(600)
	irsaMaxExpirationSeconds = int64(1) << 32

	// PodIdentityVolumeName is the projected token volume the EKS Pod
	// Identity webhook adds, mounted at PodIdentityMountPath.
	PodIdentityVolumeName = "eks-pod-identity-token"
	PodIdentityMountPath  = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
)

// Environment variables of the AWS SDK that init mode sets on its container.
const (
	envAWSRegion            = "AWS_REGION"
	envAWSDefaultRegion     = "AWS_DEFAULT_REGION"
	envAWSEndpoint          = "AWS_ENDPOINT_URL"
	envAWSEndpointSTS       = "AWS_ENDPOINT_URL_STS"
	envAWSRoleARN           = "AWS_ROLE_ARN"
	envAWSTokenFile         = "AWS_WEB_IDENTITY_TOKEN_FILE" //nolint:gosec // a variable name, not a credential
	envAWSRegionalSTS       = "AWS_STS_REGIONAL_ENDPOINTS"
	envAWSContainerURI      = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	envAWSContainerAuthFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
)

// addIRSA gives c the pod's IRSA identity when its ServiceAccount has a role
// and c lacks it, as the EKS pod-identity webhook would: env, the projected
// token volume (added once per pod, reused when present) and its mount.
func addIRSA(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ns string, lk Lookups) error {
	if envIndex(c.Env, envAWSRoleARN) >= 0 || envIndex(c.Env, envAWSTokenFile) >= 0 {
		return nil
	}
	name := pod.Spec.ServiceAccountName
	if name == "" {
		name = pod.Spec.DeprecatedServiceAccount
	}
	if name == "" {
		name = "default"
	}
	sa, err := lk.ServiceAccount(ctx, ns, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil // no account, no role: the API server refuses the pod anyway
	case err != nil:
		return fmt.Errorf("get ServiceAccount %s/%s: %w", ns, name, err)
	}
	role := sa.Annotations[IRSARoleARNAnnotation]
	if role == "" {
		return nil
	}

	// The token volume: reuse the pod's (the EKS webhook ran first) at the
	// path its containers mount it, or add it.
	mountPath, tokenPath := IRSAMountPath, IRSATokenPath
	if i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == IRSAVolumeName }); i >= 0 {
		if p := pod.Spec.Volumes[i].Projected; p != nil {
			for _, s := range p.Sources {
				if s.ServiceAccountToken != nil && s.ServiceAccountToken.Path != "" {
					tokenPath = s.ServiceAccountToken.Path
					break
				}
			}
		}
		if p := existingMountPath(pod, IRSAVolumeName); p != "" {
			mountPath = p
		}
	} else {
		audience := sa.Annotations[IRSAAudienceAnnotation]
		if audience == "" {
			audience = IRSADefaultAudience
		}
		exp := tokenExpiration(pod.Annotations[IRSATokenExpirationAnnotation], sa.Annotations[IRSATokenExpirationAnnotation])
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name: IRSAVolumeName,
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
				ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: audience, ExpirationSeconds: &exp, Path: tokenPath},
			}}}},
		})
	}

	// What the EKS webhook gave the pod's containers besides the role (its
	// STS endpoint and region settings), c gets too, in that webhook's order;
	// when it runs after us it adds the same to c itself.
	peer := irsaPeer(pod)
	if envIndex(c.Env, envAWSRegionalSTS) < 0 {
		if peer != nil && envIndex(peer.Env, envAWSRegionalSTS) >= 0 {
			c.Env = append(c.Env, *peer.Env[envIndex(peer.Env, envAWSRegionalSTS)].DeepCopy())
		} else if sa.Annotations[IRSARegionalSTSAnnotation] == "true" {
			c.Env = append(c.Env, corev1.EnvVar{Name: envAWSRegionalSTS, Value: "regional"})
		}
	}
	if peer != nil && envIndex(c.Env, envAWSRegion) < 0 && envIndex(c.Env, envAWSDefaultRegion) < 0 {
		for _, name := range []string{envAWSDefaultRegion, envAWSRegion} {
			if i := envIndex(peer.Env, name); i >= 0 {
				c.Env = append(c.Env, *peer.Env[i].DeepCopy())
			}
		}
	}
	c.Env = append(c.Env,
		corev1.EnvVar{Name: envAWSRoleARN, Value: role},
		corev1.EnvVar{Name: envAWSTokenFile, Value: path.Join(mountPath, tokenPath)})
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == IRSAVolumeName }) {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: IRSAVolumeName, MountPath: mountPath, ReadOnly: true})
	}
	return nil
}

// irsaPeer is the first container of pod (init containers first) with
// AWS_ROLE_ARN and the IRSA token mount: one the EKS webhook mutated.
func irsaPeer(pod *corev1.Pod) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := &list[i]
			if envIndex(c.Env, envAWSRoleARN) >= 0 &&
				slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == IRSAVolumeName }) {
				return c
			}
		}
	}
	return nil
}

// inheritRegion gives c the region the pod's own containers declare
// (AWS_DEFAULT_REGION and AWS_REGION, as the first app container that sets
// either has them: EKS's pod identity webhook sets both on every container
// of a pod with an IRSA or Pod Identity account), when c has neither from
// --injector-aws-region or the IRSA peer. The pod is not scheduled at
// admission, so this and IMDS are the injector's only ways to a region for
// a class that names none.
func inheritRegion(pod *corev1.Pod, c *corev1.Container) {
	if envIndex(c.Env, envAWSRegion) >= 0 || envIndex(c.Env, envAWSDefaultRegion) >= 0 {
		return
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			src := &list[i]
			if src.Name == c.Name {
				continue
			}
			found := false
			for _, name := range []string{envAWSDefaultRegion, envAWSRegion} {
				if j := envIndex(src.Env, name); j >= 0 {
					c.Env = append(c.Env, *src.Env[j].DeepCopy())
					found = true
				}
			}
			if found {
				return
			}
		}
	}
}

// addPodIdentity copies EKS Pod Identity's credentials env and token mount
// from the first app container that has all three to c, when the pod has the
// token volume and c lacks the env.
func addPodIdentity(pod *corev1.Pod, c *corev1.Container) {
	if !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == PodIdentityVolumeName }) ||
		envIndex(c.Env, envAWSContainerURI) >= 0 || envIndex(c.Env, envAWSContainerAuthFile) >= 0 {
		return
	}
	for _, app := range pod.Spec.Containers {
		uri, file := envIndex(app.Env, envAWSContainerURI), envIndex(app.Env, envAWSContainerAuthFile)
		mount := slices.IndexFunc(app.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == PodIdentityVolumeName })
		if uri < 0 || file < 0 || mount < 0 {
			continue
		}
		c.Env = append(c.Env, *app.Env[uri].DeepCopy(), *app.Env[file].DeepCopy())
		m := app.VolumeMounts[mount]
		m.ReadOnly = true
		if !slices.ContainsFunc(c.VolumeMounts, func(x corev1.VolumeMount) bool { return x.Name == m.Name }) {
			c.VolumeMounts = append(c.VolumeMounts, m)
		}
		return
	}
}

// tokenExpiration is the projected token's lifetime: the pod's annotation,
// else the ServiceAccount's, else a day; clamped to the API server's bounds.
// A malformed value is ignored, as the EKS pod-identity webhook does.
func tokenExpiration(fromPod, fromSA string) int64 {
	exp := IRSADefaultExpirationSeconds
	for _, v := range []string{fromSA, fromPod} {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			exp = n
		}
	}
	return min(max(exp, irsaMinExpirationSeconds), irsaMaxExpirationSeconds)
}
