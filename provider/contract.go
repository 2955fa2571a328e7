package provider

// Where and as what the driver finds the provider (see the package doc).
const (
	// Name is the SecretProviderClass spec.provider value this provider
	// answers for: ASCP's, so existing classes work unchanged.
	Name = "aws"
	// SocketName is the socket's file name in the providers directory: the
	// driver dials <dir>/<spec.provider>.sock.
	SocketName = Name + ".sock"
	// DefaultProvidersDir is the driver's default --provider-volume and
	// ASCP's default socket directory.
	DefaultProvidersDir = "/var/run/secrets-store-csi-providers"
	// LegacyProvidersDir is the driver's default
	// --additional-provider-volume-paths, searched before
	// DefaultProvidersDir: a socket left there shadows ours.
	LegacyProvidersDir = "/etc/kubernetes/secrets-store-csi-providers"
)

// What the driver sends and accepts.
const (
	// APIVersion is the version the driver sends in VersionRequest and the
	// one the provider answers with.
	APIVersion = "v1alpha1"
	// RuntimeName is the runtime_name this provider reports in Version (ASCP
	// reports "secrets-store-csi-driver-provider-aws"; the driver only logs
	// the answer, so ours can be our own name).
	RuntimeName = "aws-secrets-injector"
	// DriverPermission is MountRequest.permission as the driver always sends
	// it: the JSON of os.FileMode(0644), a decimal number.
	DriverPermission = "420"
	// DriverMaxRecvMsgSize is the driver's default --max-call-recv-msg-size:
	// a MountResponse at or over it fails on the driver's side with
	// RESOURCE_EXHAUSTED, so the provider refuses to send one that large.
	DriverMaxRecvMsgSize = 4 << 20
)

// Keys of MountRequest.attributes that are not class parameters: the
// kubelet's pod info (podInfoOnMount) and tokens (tokenRequests), and the
// pod's own volume attribute naming the class. They are the volume-context
// keys package mounter reads too (TestKeysMatchMounter keeps the two in step
// without making the provider link the mounter).
const (
	AttrPodName        = "csi.storage.k8s.io/pod.name"
	AttrPodNamespace   = "csi.storage.k8s.io/pod.namespace"
	AttrPodUID         = "csi.storage.k8s.io/pod.uid"
	AttrServiceAccount = "csi.storage.k8s.io/serviceAccount.name"
	AttrEphemeral      = "csi.storage.k8s.io/ephemeral"
	// AttrTokens holds the pod's service-account tokens (audience to
	// {token, expirationTimestamp}), in attributes or, with
	// serviceAccountTokenInSecrets, in secrets. Never logged.
	AttrTokens = "csi.storage.k8s.io/serviceAccount.tokens" //nolint:gosec // a key name, not a credential
	// AttrSecretProviderClass is the class's name (the pod's volume
	// attribute): present on a first publish, absent on the rotation path.
	AttrSecretProviderClass = "secretProviderClass"
	// kubeletPrefix starts every key the kubelet adds.
	kubeletPrefix = "csi.storage.k8s.io/"
)
