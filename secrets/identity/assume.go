package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// KindAssumed is a role assumed with STS AssumeRole, signed by another
// identity (a pod's IRSA or Pod Identity role, or the process's own).
const KindAssumed Kind = "assumed-role"

// DefaultAssumeDuration is the session length of an assumed role when the
// class sets none: AWS caps a chained role session at one hour.
const DefaultAssumeDuration = time.Hour

// AssumeRole is a role to chain into after the pod's own identity: the
// SecretProviderClass's assumeRoleArn, assumeRoleExternalId and
// assumeRoleDurationSeconds (secrets in a central account, workloads in
// others).
type AssumeRole struct {
	// ARN is the role to assume.
	ARN string
	// ExternalID is passed to AssumeRole when set (the target's trust policy
	// may require it). It is never printed.
	ExternalID string
	// Duration is the session length (0: DefaultAssumeDuration).
	Duration time.Duration
}

// Assume chains base into ar: STS AssumeRole signed with base's credentials,
// session named after the pod's service account (session, visible in
// CloudTrail), in region (the class's). No AWS call is made until the
// credentials are used.
//
// Keys. The credentials are cached per base identity and role, so a pod
// whose own role may not assume the target gets its own AssumeRole call and
// its own AccessDenied, naming both roles. The returned identity's Key, which
// scopes the fetcher's node cache, is the final role: every identity allowed
// to assume it may read what it reads, and the pipeline checks an identity's
// credentials before any fetch, so a pod that may not assume the role never
// reaches the cache. A base with an empty Key (the process's own chain, one
// pod per process) keeps the empty Key: no cache.
func (r *Resolver) Assume(base Identity, ar AssumeRole, session, region string) (Identity, error) {
	if !roleARNRE().MatchString(ar.ARN) {
		return Identity{}, noIdentity("assumeRoleArn %s is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", secrets.Quote(ar.ARN))
	}
	if base.Credentials == nil {
		return Identity{}, noIdentity("assumeRoleArn %s: no identity to assume it with", secrets.Quote(ar.ARN))
	}
	dur := ar.Duration
	if dur <= 0 {
		dur = DefaultAssumeDuration
	}
	from := base.Key
	if from == "" {
		from = "this container's own credentials"
	}
	who := fmt.Sprintf("role %s (assumeRoleArn) assumed by %s", ar.ARN, from)
	ckey := fmt.Sprintf("assume %s %s|%s|%s", ar.ARN, dur, base.Key, hashed(ar.ExternalID))
	if region == "" {
		region = r.base.Region
	}
	if region == "" {
		region = "us-east-1"
	}
	e := r.entry(ckey, who, KindAssumed, "", func(*tokenHolder) aws.CredentialsProvider {
		client := sts.NewFromConfig(r.base, func(o *sts.Options) {
			o.Region = region
			o.Credentials = base.Credentials
			o.Retryer = aws.NopRetryer{} // retried by retryingProvider, inside the caller's context
			o.APIOptions = r.guard(o.APIOptions, []string{"text/xml", "application/xml"})
		})
		return stscreds.NewAssumeRoleProvider(client, ar.ARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			o.Duration = dur
			if ar.ExternalID != "" {
				o.ExternalID = aws.String(ar.ExternalID)
			}
		})
	})
	key := ""
	if base.Key != "" {
		key = "assume:" + ar.ARN
	}
	return Identity{Key: key, Kind: KindAssumed, Credentials: e.creds}, nil
}

// SessionName is the STS role session name for a pod's service account (at
// most 64 characters, only the characters STS accepts).
func SessionName(namespace, serviceAccount string) string {
	return sessionName(namespace, serviceAccount)
}

// hashed stands for s in a cache key without holding it (an external id is
// a shared secret of sorts).
func hashed(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
