package spc

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// Parameters of a cross-account role (our addition): after getting the pod's
// own credentials, assume this role and read the class's objects with it.
const (
	// ParamAssumeRoleARN is the IAM role to assume.
	ParamAssumeRoleARN = "assumeRoleArn"
	// ParamAssumeRoleExternalID is the sts:ExternalId the role's trust policy asks for.
	ParamAssumeRoleExternalID = "assumeRoleExternalId"
	// ParamAssumeRoleDurationSeconds is the role session's lifetime in seconds.
	ParamAssumeRoleDurationSeconds = "assumeRoleDurationSeconds"
)

// The bounds of assumeRoleDurationSeconds: STS's minimum, and its cap on a
// chained role session (the pod's credentials already come from a role).
const (
	MinAssumeRoleDuration = 900 * time.Second
	MaxAssumeRoleDuration = time.Hour
)

// MaxExternalIDLen is the longest sts:ExternalId AWS accepts.
const MaxExternalIDLen = 1224

// AssumeRole is a role to assume with the pod's credentials (parameters
// assumeRoleArn, assumeRoleExternalId, assumeRoleDurationSeconds).
type AssumeRole struct {
	// ARN is the role: arn:PARTITION:iam::ACCOUNT:role/PATH/NAME.
	ARN string
	// ExternalID is passed as sts:ExternalId when set. It is not a secret
	// for AWS, but it is never printed in a message either.
	ExternalID string
	// Duration is the session's lifetime; zero means STS's default.
	Duration time.Duration
}

var (
	// roleARNRE: partition aws, aws-cn, aws-us-gov...; no region; a 12-digit
	// account; role/ then an optional path of printable ASCII and a name of
	// IAM's characters, at most 64 of them.
	roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/(?:[\x21-\x7e]+/)?[\w+=,.@-]{1,64}$`)
	// externalIDRE is AWS's rule for sts:ExternalId.
	externalIDRE = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// maxRoleARNLen bounds a role ARN: the 512-character path and the 64-character
// name with the prefix.
const maxRoleARNLen = 640

// parseAssumeRole reads the assumeRole* parameters; nil when none is set.
func parseAssumeRole(c *collector, params map[string]string) *AssumeRole {
	arn := strings.TrimSpace(params[ParamAssumeRoleARN])
	ext, hasExt := params[ParamAssumeRoleExternalID]
	dur, hasDur := params[ParamAssumeRoleDurationSeconds]
	hasExt, hasDur = hasExt && ext != "", hasDur && dur != ""
	if arn == "" {
		for _, f := range []struct {
			set  bool
			name string
		}{{hasExt, ParamAssumeRoleExternalID}, {hasDur, ParamAssumeRoleDurationSeconds}} {
			if f.set {
				c.errorf(-1, "", "parameters."+f.name, "set parameters."+ParamAssumeRoleARN+" to the role to assume, or remove "+f.name,
					"only used with %s", ParamAssumeRoleARN)
			}
		}
		return nil
	}
	r := &AssumeRole{ARN: arn}
	ok := true
	if len(arn) > maxRoleARNLen || !roleARNRE.MatchString(arn) {
		c.errorf(-1, "", "parameters."+ParamAssumeRoleARN, "use an IAM role ARN such as arn:aws:iam::111122223333:role/reader",
			"%s is not an IAM role ARN", secrets.Quote(arn))
		ok = false
	}
	if hasExt {
		// The value is not printed: only what is wrong with it.
		switch {
		case len(ext) > MaxExternalIDLen:
			c.errorf(-1, "", "parameters."+ParamAssumeRoleExternalID, fmt.Sprintf("use at most %d characters", MaxExternalIDLen),
				"is %d characters long, at most %d allowed", len(ext), MaxExternalIDLen)
			ok = false
		case !externalIDRE.MatchString(ext):
			c.errorf(-1, "", "parameters."+ParamAssumeRoleExternalID, "use only letters, digits and + = , . @ : / - _",
				"holds a character AWS does not accept in an external ID")
			ok = false
		default:
			r.ExternalID = ext
		}
	}
	if hasDur {
		n, err := strconv.Atoi(strings.TrimSpace(dur))
		switch {
		case err != nil:
			c.errorf(-1, "", "parameters."+ParamAssumeRoleDurationSeconds, `use a whole number of seconds, e.g. "3600"`,
				"%s is not a number of seconds", secrets.Quote(dur))
			ok = false
		case n < int(MinAssumeRoleDuration/time.Second) || n > int(MaxAssumeRoleDuration/time.Second):
			c.errorf(-1, "", "parameters."+ParamAssumeRoleDurationSeconds,
				fmt.Sprintf("use %d to %d (AWS caps a chained role session at one hour)", int(MinAssumeRoleDuration.Seconds()), int(MaxAssumeRoleDuration.Seconds())),
				"%d is out of range", n)
			ok = false
		default:
			r.Duration = time.Duration(n) * time.Second
		}
	}
	if !ok {
		return nil
	}
	return r
}
