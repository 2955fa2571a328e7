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
