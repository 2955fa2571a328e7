package secrets

import "time"

// Fetched is one value read from AWS for one object of a SecretProviderClass.
type Fetched struct {
	// Value is the secret bytes: the SecretString, the SecretBinary, or the parameter value.
	Value Value
	// Binary is true when the value came from SecretBinary (written raw, never re-encoded).
	Binary bool
	// VersionID is the Secrets Manager VersionId or the SSM parameter version number.
	VersionID string
	// Region is the region that served the value (the failover region after a failover).
	Region string
	// ReadAt is when the AWS call that returned the value began: the value is
	// AWS's as of then or later. A value shared from the node cache keeps the
	// time of the read that filled the entry.
	ReadAt time.Time
}
