package secrets

// Bounds on everything a tenant controls. Anyone who may create a
// SecretProviderClass or a pod is untrusted: these keep one volume's input
// from exhausting or ending the process that serves every other volume of the
// node. Each is checked where the input enters (spc for the class, awsfetch for
// responses, extract for results) and named in the error that reports it,
// with reason.LimitExceeded.
const (
	// MaxClassBytes bounds a SecretProviderClass's parameters, all values
	// together (Kubernetes itself stores objects of up to ~1.5 MiB).
	MaxClassBytes = 256 << 10
	// MaxObjects bounds the objects of one class.
	MaxObjects = 256
	// MaxFiles bounds the files of one set (objects, jmesPath entries and
	// allKeys keys together).
	MaxFiles = 1024
	// MaxObjectNameBytes bounds an objectName (an SSM parameter name or ARN
	// is at most 2048 characters, a Secrets Manager ARN far less).
	MaxObjectNameBytes = 2048
	// MaxValueBytes bounds one fetched value: Secrets Manager's own limit for
	// a SecretString or SecretBinary (64 KiB; SSM's advanced parameters hold 8 KiB).
	MaxValueBytes = 64 << 10
	// MaxResponseBytes bounds one AWS response body: a BatchGetSecretValue of
	// 20 secrets at MaxValueBytes, base64 for binaries, with room for the JSON.
	MaxResponseBytes = 4 << 20
	// MaxExpressionBytes bounds one JMESPath expression.
	MaxExpressionBytes = 4 << 10
	// MaxResultBytes bounds what one JMESPath evaluation may build, counted as
	// it runs (the result and every intermediate value).
	MaxResultBytes = 1 << 20
	// MaxSetBytes bounds a whole file set: the default tmpfs of a volume.
	MaxSetBytes = 8 << 20
)
