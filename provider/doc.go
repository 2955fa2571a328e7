// Package provider owns provider mode: aws-secrets-injector serving the
// Secrets Store CSI driver's provider API (package v1alpha1, service
// CSIDriverProvider: Version and Mount) on <providers dir>/aws.sock, as a
// drop-in for AWS's own provider (ASCP) under a driver that stays installed.
// It holds the server (Server, Run, Options), and the contract it keeps, read
// from the driver's source (sigs.k8s.io/secrets-store-csi-driver, v1.6-era
// files) and ASCP's (aws/secrets-store-csi-driver-provider-aws), with the
// constants that follow from it. Paths below are files of those
// repositories; "driver" is the upstream CSI driver, which is the gRPC
// client, and "provider" is us, the server. The driver's module is not served
// by the Go module proxy, so the tests dial the socket as the contract below
// says the driver does rather than run the driver's own client.
//
// # Socket and dialing
//
// The driver finds a provider by the SecretProviderClass's spec.provider
// ("aws"), which must match ^[a-zA-Z0-9_-]{0,30}$, and looks for
// <dir>/<provider>.sock in each providers directory in turn, taking the first
// that os.Stat finds: the --additional-provider-volume-paths
// (default /etc/kubernetes/secrets-store-csi-providers) first, then
// --provider-volume (default /var/run/secrets-store-csi-providers). So a stale
// socket in the old directory wins over a live one in the new.
// (pkg/secrets-store/provider_client.go: PluginClientBuilder.Get;
// cmd/secrets-store-csi-driver/main.go: the flags.) ASCP listens on
// <--provider-volume>/aws.sock, default /var/run/secrets-store-csi-providers,
// removing a leftover socket first (main.go).
//
// It dials grpc.Dial(socketPath) with insecure transport credentials ("the
// interface is only secured through filesystem ACLs"), a context dialer that
// dials "unix" whatever address it is given, a default service config for
// v1alpha1.CSIDriverProvider with waitForReady and a retry policy (3 attempts,
// 1s to 10s backoff, only UNAVAILABLE), and a default call option
// MaxCallRecvMsgSize(--max-call-recv-msg-size, default 4 MiB). There is no
// authority override, no dial timeout and no per-call timeout of its own: the
// call runs under the kubelet's NodePublishVolume deadline. The connection
// is kept per provider name for the driver's lifetime.
// (pkg/secrets-store/provider_client.go: NewPluginClientBuilder, Get;
// cmd/secrets-store-csi-driver/main.go.) Because the target is a bare path,
// gRPC resolves it with passthrough and sends the path itself as :authority,
// not "localhost" (kubernetes-sigs/secrets-store-csi-driver#1862, open); the
// grpc-go used here percent-encodes it ("%2Fvar%2Frun%2F...%2Faws.sock").
// A grpc-go server accepts any authority, so the provider must not look at it.
// A response over the receive limit fails on the driver's side with
// RESOURCE_EXHAUSTED (it logs a hint to raise the flag): the provider must
// keep a whole MountResponse under DriverMaxRecvMsgSize, which is smaller than
// the core's bound on a file set (secrets.MaxSetBytes).
//
// # Version
//
// The driver sends VersionRequest{version: "v1alpha1"} and reads only
// runtime_version, from its optional health check
// (--provider-health-check, default off, every
// --provider-health-check-interval, 5s timeout per call), which logs the
// result at V(4); nothing is gated on the answer
// (pkg/secrets-store/provider_client.go: Version, HealthCheck). ASCP answers
// version "v1alpha1", runtime_name "secrets-store-csi-driver-provider-aws"
// (auth.ProviderName) and runtime_version its build version from the
// Makefile (server/server.go: Version; auth/auth.go).
//
// # MountRequest
//
// attributes is the JSON of a map[string]string built in NodePublishVolume:
// the SecretProviderClass's spec.parameters (a class with none fails:
// "parameters not set"), then every key of the kubelet's volume context laid
// over them, so a key the pod's volumeAttributes set wins over the class's
// (pkg/secrets-store/nodeserver.go, utils.go: getParametersFromSPC). The
// volume context holds the pod's volumeAttributes (secretProviderClass among
// them), the kubelet's pod info (csi.storage.k8s.io/pod.name, pod.namespace,
// pod.uid, serviceAccount.name, csi.storage.k8s.io/ephemeral) and, when the
// CSIDriver has tokenRequests, csi.storage.k8s.io/serviceAccount.tokens (a
// JSON object: audience to {token, expirationTimestamp}). When the tokens key
// is still empty, the driver requests tokens itself for the CSIDriver's
// tokenRequests and adds them under the same key (pkg/k8s/token.go:
// PodServiceAccountTokenAttrs). Every one of these keys can come from the
// pod's author: validate them all, tokens included. The keys are the ones
// package mounter names too (AttrPodName and the rest here; a test keeps the
// two lists equal, so that the provider does not link the mounter) and the
// class parameters are package spc's.
//
// secrets is the JSON of the NodePublishVolume request's secrets map, passed
// through unchanged: the data of the Secret the volume's nodePublishSecretRef
// names, or "null" when there is none (a nil map). When the CSIDriver sets
// serviceAccountTokenInSecrets (Kubernetes 1.35+), the kubelet puts the
// tokens in that map under csi.storage.k8s.io/serviceAccount.tokens instead
// of the volume context, so in the driver source read here they reach the
// provider inside secrets, while attributes then lacks the key and the
// driver adds tokens it requested itself. The v1.6 driver change for this
// (kubernetes-sigs/secrets-store-csi-driver#1979) was not readable: accept
// the tokens from either field, as mounter does.
//
// permission is json.Marshal(os.FileMode(0644)), the driver's fixed
// FilePermission: the string "420", a decimal JSON number, never octal text
// (pkg/secrets-store/nodeserver.go). ASCP decodes it with json.Unmarshal into
// an os.FileMode and uses it as every File's mode (server/server.go: Mount;
// server/server_version_report_test.go sends "420").
//
// target_path is the kubelet's target directory
// (/var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~csi/<volume>/mount),
// on which the driver has mounted a tmpfs before calling Mount; the driver
// requires readOnly: true on the volume (pkg/secrets-store/nodeserver.go).
//
// current_object_version is empty on a first publish (MountContent is called
// with no old versions) and, on rotation, the objects and versions stored in
// the pod's SecretProviderClassPodStatus, which are what the provider
// returned last time (pkg/secrets-store/nodeserver.go;
// pkg/rotation/reconciler.go).
//
// # Rotation
//
// In the source read (pkg/rotation/reconciler.go, before v1.6) rotation is a
// controller of the driver (--enable-secret-rotation, every
// --rotation-poll-interval, default 2m) that calls Mount again for a volume
// already mounted, with: the same target_path (from the pod status, checked
// against the pod's UID and volume name); current_object_version filled in;
// attributes rebuilt from the class's parameters plus pod.name, namespace,
// uid and serviceAccount.name from the Pod object and tokens the driver
// requests itself, but without the pod's volumeAttributes, so without
// secretProviderClass and csi.storage.k8s.io/ephemeral; secrets re-read from
// the nodePublishSecretRef Secret through the driver's informer ("{}" when
// none). It compares the returned versions (trimmed strings) with the old
// ones to decide whether to update the pod status and emit
// MountRotationComplete; the files are written either way. Pods being deleted,
// Succeeded or Failed are skipped. NodePublishVolume on a target already
// mounted returns at once there without calling the provider. Driver v1.6.0
// (released 2026-04-29) replaces that controller with the kubelet's
// requiresRepublish: the kubelet calls NodePublishVolume periodically and the
// driver calls Mount again when rotation is enabled, at most once per
// --rotation-poll-interval (now a minimum cache duration) (the v1.6.0 release
// notes; kubernetes-sigs/secrets-store-csi-driver#1622). What that path puts
// in current_object_version could not be read; the provider must give the
// same answer with or without it.
//
// # MountResponse
//
// The driver reads the response in this order (pkg/secrets-store/
// provider_client.go: MountContent):
//
//  1. A gRPC error fails the mount with error type "GRPCProviderError"; its
//     text reaches the kubelet and the pod's events
//     ("failed to mount secrets store objects for pod NS/NAME, err: rpc
//     error: code = ... desc = ..."), so it must never hold a secret value.
//  2. A non-empty error.code fails the mount with that code as the error
//     type and "mount request failed with provider error code CODE"; the
//     rest of the response is ignored.
//  3. object_version missing (nil: protobuf decodes an empty list so) fails
//     the mount with "missing object versions"; the versions become the pod
//     status's objects, keyed by id.
//  4. files empty: the driver writes nothing and succeeds (it takes the
//     provider to have written the files itself, the old way).
//  5. Otherwise it writes the files (pkg/util/fileutil/writer.go:
//     WritePayloads): each path must pass validatePath (not empty, not
//     absolute, at most 4096 bytes, no ".." element, no element over 255
//     bytes, the first element not starting with "..") and equal its
//     filepath.Clean; top-level entries the files name that are not
//     symlinks (a provider's own old writes) are removed; then the kubelet's
//     atomic writer, vendored (pkg/util/fileutil/atomic_writer.go), writes a
//     new ..<timestamp> directory, swaps the ..data symlink and links each
//     top-level name to ..data/<name>, removing names no longer present. A
//     file's mode is os.FileMode(mode) as given, applied with chmod after
//     the write (so the umask does not apply, and 0 gives an unreadable
//     file); files are chowned to the volume's fsGroup when the kubelet sends
//     one. Two files with the same path collapse to the last one silently.
//     A write failure fails the mount as "FileWriteError".
//
// The error type is the error_type label of the driver's
// total_node_publish_error metric (and of its rotation error metric)
// (pkg/secrets-store/stats_reporter.go, pkg/errors/errors.go), so a code the
// provider sets must come from a small fixed set: package reason's.
// secrets.ValidatePath is at least as strict as the driver's validatePath,
// so every file set the core builds passes it.
//
// # ASCP's answers
//
// ASCP never sets error.code: every failure is a plain Go error, so gRPC
// code UNKNOWN (server/server.go: Mount). With --driver-writes-secrets it
// returns files (path = the object's file name, mode = the permission);
// without, it writes the files into target_path itself and returns none
// (server/server.go: writeFile). Its object versions
// (provider/secrets_manager_provider.go, provider/parameter_store_provider.go,
// provider/secret_descriptor.go: GetFileName):
//
//   - id is the object's file name: objectAlias when set, else objectName;
//     with pathTranslation (default "_") every "/" becomes that character,
//     with pathTranslation "False" leading slashes are trimmed. Each
//     jmesPath entry gets its own entry, id = its objectAlias.
//   - version is the Secrets Manager VersionId, or the SSM parameter's
//     Version number in decimal; jmesPath entries carry their parent's.
//   - On rotation, for Secrets Manager it calls DescribeSecret and treats the
//     object as current when the old VersionId still carries AWSCURRENT (or
//     the objectVersionLabel), or equals a pinned objectVersion, and then
//     reads the value back from the file in target_path instead of fetching
//     it; SSM parameters are fetched again every time.
//
// # The server
//
// Mount decodes the request (every field bounded and checked; a bad one is
// InvalidArgument naming the field, before any AWS or API server call),
// reads the ServiceAccount's annotations for IRSA (the one API server read:
// KubeServiceAccounts, package kube's core/v1-only client; after the first
// read of an account, from a watch of it, so the driver's rotation polls cost
// the API server nothing), runs the core's one pipeline
// as the pod (secrets/pipeline: parse, identity, batched fetch through the
// node cache keyed by identity, JMESPath and allKeys; the driver's permission
// is the mode of files without filePermission) and encodes the file set and
// one ObjectVersion per object (id = file name, version = VersionId or SSM
// version). It never writes to target_path: the driver writes the files with
// its own writer. It keeps no state between calls, so a rotation call is
// answered as a first one (fetched again, or from the node cache within
// --cache-ttl) and current_object_version only tells a rotation that changed
// something (logged, counted) from one that did not: ASCP's DescribeSecret
// short cut is not needed, batching already makes the fetch one call per 20
// secrets. Tokens are taken from secrets when present, else attributes, and
// each token's subject must be the pod's service account.
//
// Failures are gRPC errors whose text starts with the reason (package reason)
// and says the fix: the driver copies that text into the pod's events,
// whereas an error.code would reach the pod only as "provider error code
// CODE". Codes: InvalidArgument for the request, FailedPrecondition for the
// class, a value or a bound, PermissionDenied for identity and access,
// UNAVAILABLE (which the driver retries three times) for what may pass.
package provider
