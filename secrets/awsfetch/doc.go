// Package awsfetch reads the values a SecretProviderClass names from AWS
// Secrets Manager and SSM Parameter Store, with the caller's identity.
//
// One Fetch call reads every distinct spc.Ref once, batched where it pays:
// Secrets Manager BatchGetSecretValue (at most 20 ids a call) for plain
// "current" reads, GetSecretValue for pinned versions or labels and as the
// fallback when the batch API is refused or reports a per-id error that may be
// batch specific; SSM GetParameters (at most 10 names a call, decrypted, with
// name:version and name:label selectors). Calls are bounded in concurrency and
// retried by the SDK's standard retryer (jittered backoff on throttling, 5xx,
// network errors, malformed answers and timed-out attempts), bounded by the
// caller's context; each attempt also has a timeout of its own
// (Options.AttemptTimeout), so one hung connection costs one attempt. The
// failover region is used only for objects whose primary read failed as
// unavailable (5xx, network, malformed answer, timeouts).
//
// Every answer is bounded: a response body past secrets.MaxResponseBytes and a
// value past secrets.MaxValueBytes fail with ErrLimitExceeded (never retried),
// and a successful status that is not a real answer (no body, not awsJson, no
// value) is malformed, so it is retried and never taken for an empty value.
//
// An optional cache keyed by (Identity.Key, region, Ref) with a TTL and
// single-flight sharing of concurrent identical reads lets many mounts of one
// identity cost one AWS call. An identity only ever reads its own entries.
//
// AWS is reached through the narrow SecretsManagerAPI and SSMAPI interfaces,
// which list only the SDK calls this package makes. Errors are typed (ErrNotFound,
// ErrAccessDenied, ...), name the object (through secrets.Quote) and never contain a
// secret value; ObjectError and FetchError carry their reason of the one
// vocabulary (package reason), read with reason.Of.
package awsfetch
