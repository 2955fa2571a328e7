// Package mounter is the CSI node plugin behind `aws-secrets-injector mounter`:
// it serves inline ephemeral CSI volumes whose files are a pod's AWS secrets.
//
// On NodePublishVolume it reads the pod's SecretProviderClass and
// ServiceAccount from the API server, picks the pod's AWS identity from the
// tokens the kubelet sends (package identity), fetches through the shared core
// (node cache keyed by identity), mounts a size-limited tmpfs in a private
// staging directory under the plugin directory, writes the file set with the
// atomic writer and bind-mounts the staging tmpfs read-only at the kubelet's
// target path. The pod sees a read-only tmpfs; rotation writes into the
// staging mount, so the swap shows up in the pod atomically. Secret bytes
// never touch disk: the per-volume state file holds pod and class names only.
//
// The mounter mounts only where the kubelet puts a pod's CSI volume,
// <kubelet-dir>/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume-name>/mount
// (absolute, clean, the pod UID the volume context's), and unpublishes only
// volumes it serves or paths of that layout; every other target path is
// InvalidArgument and nothing on disk changes. On start (Restore) it repairs
// each restored volume's staging directory, so what a killed write left is
// gone before anything is served.
//
// The kubelet calls NodePublishVolume again periodically (requiresRepublish):
// the mounter re-fetches when the volume's refresh interval has passed, writes
// only when the content changed, and keeps the old files when AWS fails. The
// class and ServiceAccount of a refresh come from watches: the first read of
// each is a GET and starts a watch of that one object (package objcache),
// which answers the later reads until the object goes unread for
// --kube-cache-idle, so the API server's load does not grow with refreshes.
//
// With --sync-secrets (off by default: the values then sit in etcd) the
// class's spec.secretObjects become Kubernetes Secrets in the pod's namespace,
// written after the files on first publish and on a refresh that changed them
// (secretsync.go); off, such a class gets a SecretObjectsNotSynced Event.
//
// Files: driver.go (state and dependencies), node.go (the CSI node service),
// publish.go (the publish/refresh/unpublish steps), volume.go (paths and
// state files), target.go (the kubelet's target path layout), mount.go (the
// mount interface), server.go (the CSI identity service, gRPC with redacting
// logs), kube.go (API server access, its watch caches, and events), secretsync.go (secretObjects
// into Secrets), metrics.go, run.go.
package mounter
