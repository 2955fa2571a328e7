package fakeaws

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// DefaultAccountID is the account every ARN uses unless State.AccountID says otherwise.
const DefaultAccountID = "111122223333"

// DefaultRegion is the region used when State.Region is empty.
const DefaultRegion = "us-east-1"

// State is the whole configuration of a fake: principals, their policies, the trusted token issuers
// and the data. It is read from YAML (see Load) with the field names given in the json tags; unknown
// fields are rejected.
type State struct {
	// Region is the default region: the region of IMDS, of unsigned STS calls, and of admin calls
	// that name none. Default us-east-1.
	Region string `json:"region,omitempty"`
	// AccountID is the 12-digit account of every ARN. Default 111122223333.
	AccountID string `json:"accountId,omitempty"`
	// CredentialTTL is how long credentials issued by Pod Identity and IMDS (and STS calls without
	// DurationSeconds) live. Default 1h.
	CredentialTTL Duration `json:"credentialTTL,omitempty"`
	// Users are IAM users with long-term access keys.
	Users []User `json:"users,omitempty"`
	// Roles are IAM roles that STS, Pod Identity and IMDS issue session credentials for.
	Roles []Role `json:"roles,omitempty"`
	// Secrets are the Secrets Manager secrets.
	Secrets []Secret `json:"secrets,omitempty"`
	// Parameters are the SSM parameters.
	Parameters []Parameter `json:"parameters,omitempty"`
	// Issuers are the OIDC token issuers STS and the Pod Identity agent trust.
	Issuers []Issuer `json:"issuers,omitempty"`
	// PodIdentityAssociations map a Kubernetes service account to a role for EKS Pod Identity.
	PodIdentityAssociations []PodIdentityAssociation `json:"podIdentityAssociations,omitempty"`
	// NodeRole is the instance-profile role IMDS hands out; nil disables IMDS credentials.
	NodeRole *NodeRole `json:"nodeRole,omitempty"`
}

// User is an IAM user with a static access key.
type User struct {
	// Name is the user name in the ARN; default derived from the access key id.
	Name string `json:"name,omitempty"`
	// AccessKeyID is the key id the SDK signs with (AKIA... by convention, any string works).
	AccessKeyID string `json:"accessKeyId"`
	// SecretAccessKey is the signing secret.
	SecretAccessKey string `json:"secretAccessKey"`
	// Allow lists the globs of secret names and parameter names (or ARNs) this user may read and
	// write. See the package doc for the glob rules.
	Allow []string `json:"allow,omitempty"`
}

// Role is an IAM role.
type Role struct {
	// ARN is arn:aws:iam::ACCOUNT:role/[PATH/]NAME.
	ARN string `json:"arn"`
	// Allow lists the globs of secret names and parameter names (or ARNs) the role may read and write.
	Allow []string `json:"allow,omitempty"`
	// Trust restricts who may assume the role; nil trusts every configured issuer and principal.
	Trust *RoleTrust `json:"trust,omitempty"`
	// MaxSessionDuration caps DurationSeconds in AssumeRole*; default 1h like IAM.
	MaxSessionDuration Duration `json:"maxSessionDuration,omitempty"`
}

// RoleTrust is the role's trust policy, reduced to what the tests need.
type RoleTrust struct {
	// Issuers lists the token issuers (iss) allowed for AssumeRoleWithWebIdentity; empty = any trusted.
	Issuers []string `json:"issuers,omitempty"`
	// Subjects lists globs the token's sub must match (e.g. system:serviceaccount:ns:sa); empty = any.
	Subjects []string `json:"subjects,omitempty"`
	// Principals lists globs of caller ARNs (user ARN, role ARN or assumed-role ARN) allowed to call
	// AssumeRole; empty = any authenticated caller.
	Principals []string `json:"principals,omitempty"`
	// ExternalID, when set, must equal the ExternalId of an AssumeRole call (the
	// sts:ExternalId condition of a cross-account trust policy).
	ExternalID string `json:"externalId,omitempty"`
}

// Secret is a Secrets Manager secret. Value/Binary is the AWSCURRENT version; Versions may add
// older or labelled versions.
type Secret struct {
	// Name is the secret name (may contain '/').
	Name string `json:"name"`
	// Value is the SecretString of the current version.
	Value string `json:"value,omitempty"`
	// Binary is the SecretBinary of the current version (base64 in YAML/JSON).
	Binary []byte `json:"binary,omitempty"`
	// VersionID of the current version; default a UUID derived from the name.
	VersionID string `json:"versionId,omitempty"`
	// Description is returned by DescribeSecret.
	Description string `json:"description,omitempty"`
	// Regions limits the regions the secret exists in; empty = every region. The same name may
	// appear twice with disjoint regions to hold different values per region.
	Regions []string `json:"regions,omitempty"`
	// ARNSuffix is the 6 characters after the name in the ARN; default derived from the name.
	ARNSuffix string `json:"arnSuffix,omitempty"`
	// Versions are extra versions. When Value and Binary are both empty one of them must carry
	// the AWSCURRENT stage.
	Versions []SecretVersion `json:"versions,omitempty"`
}

// SecretVersion is one version of a secret.
type SecretVersion struct {
	// ID is the VersionId (a UUID in AWS; any string here).
	ID string `json:"id"`
	// Value is the SecretString.
	Value string `json:"value,omitempty"`
	// Binary is the SecretBinary (base64 in YAML/JSON).
	Binary []byte `json:"binary,omitempty"`
	// Stages are the staging labels (AWSCURRENT, AWSPREVIOUS, AWSPENDING or custom).
	Stages []string `json:"stages,omitempty"`
}

// Parameter is an SSM parameter. Value is the latest version; History holds versions 1..N-1.
type Parameter struct {
	// Name is the parameter name, usually starting with '/'.
	Name string `json:"name"`
	// Type is String (default), StringList or SecureString.
	Type string `json:"type,omitempty"`
	// Value is the value of the latest version.
	Value string `json:"value"`
	// Labels are the labels on the latest version.
	Labels []string `json:"labels,omitempty"`
	// History are the older versions, oldest first (version 1 first).
	History []ParameterVersion `json:"history,omitempty"`
	// Regions limits the regions the parameter exists in; empty = every region.
	Regions []string `json:"regions,omitempty"`
}

// ParameterVersion is an older version of a parameter.
type ParameterVersion struct {
	// Value of that version.
	Value string `json:"value"`
	// Labels on that version.
	Labels []string `json:"labels,omitempty"`
}

// Issuer is a trusted OIDC token issuer (like an IAM OIDC identity provider). Keys come from any
// mix of JWKS, JWKSFile, PublicKeyFiles and JWKSURL/Discovery.
type Issuer struct {
	// Issuer is the exact iss claim value.
	Issuer string `json:"issuer"`
	// Audiences are the aud values accepted by STS AssumeRoleWithWebIdentity; default
	// [sts.amazonaws.com]. The Pod Identity endpoint always requires its own audience.
	Audiences []string `json:"audiences,omitempty"`
	// JWKS is an inline JSON Web Key Set.
	JWKS string `json:"jwks,omitempty"`
	// JWKSFile is a file holding a JSON Web Key Set.
	JWKSFile string `json:"jwksFile,omitempty"`
	// PublicKeyFiles are PEM files with RSA or EC public keys (PKIX or PKCS#1) or certificates.
	PublicKeyFiles []string `json:"publicKeyFiles,omitempty"`
	// JWKSURL is fetched for keys (when a token's kid is unknown, at most every few seconds).
	JWKSURL string `json:"jwksURL,omitempty"`
	// Discovery fetches ISSUER/.well-known/openid-configuration to find jwks_uri when JWKSURL is empty.
	Discovery bool `json:"discovery,omitempty"`
	// CAFile is a PEM bundle to trust when fetching over https (e.g. a kube-apiserver's CA).
	CAFile string `json:"caFile,omitempty"`
	// BearerTokenFile is read for every fetch and sent as "Authorization: Bearer" (the
	// kube-apiserver's JWKS endpoint needs an authenticated caller by default).
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`
}

// PodIdentityAssociation maps a service account to a role, like an EKS Pod Identity association.
type PodIdentityAssociation struct {
	// Namespace of the service account.
	Namespace string `json:"namespace"`
	// ServiceAccount name.
	ServiceAccount string `json:"serviceAccount"`
	// RoleARN is the role whose credentials the agent endpoint returns.
	RoleARN string `json:"roleArn"`
}

// NodeRole is the EC2 instance's role, served by IMDS.
type NodeRole struct {
	// ARN of the role; it must also be listed in Roles (for its Allow globs).
	ARN string `json:"arn"`
	// InstanceID default i-0123456789abcdef0.
	InstanceID string `json:"instanceId,omitempty"`
	// AvailabilityZone default REGION + "a".
	AvailabilityZone string `json:"availabilityZone,omitempty"`
}

// Duration is a time.Duration that reads "90s"/"1h" or a number of seconds from YAML/JSON.
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "1h30m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("parse duration %q: %w", s, err)
		}
		d.Duration = v
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"1h\" or seconds: %w", err)
	}
	d.Duration = time.Duration(n * float64(time.Second))
	return nil
}

// ParseState reads a YAML (or JSON) state document. Unknown fields are an error.
func ParseState(data []byte) (State, error) {
	var st State
	if err := yaml.UnmarshalStrict(data, &st); err != nil {
		return State{}, fmt.Errorf("parse state: %w", err)
	}
	return st, nil
}

// LoadState reads a state file (see ParseState).
func LoadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("read state: %w", err)
	}
	st, err := ParseState(data)
	if err != nil {
		return State{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// ---- in-memory model ----

type secretEntry struct {
	name        string
	suffix      string
	description string
	regions     []string
	versions    []*secretVersion // creation order
	created     time.Time
	changed     time.Time
	accessed    time.Time
}

type secretVersion struct {
	id      string
	str     *string
	bin     []byte
	stages  []string
	created time.Time
}

func (e *secretEntry) arn(account, region string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", region, account, e.name, e.suffix)
}

func (e *secretEntry) versionByID(id string) *secretVersion {
	for _, v := range e.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (e *secretEntry) versionByStage(stage string) *secretVersion {
	for _, v := range e.versions {
		if contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// moveStage puts stage on target and removes it from every other version. Moving AWSCURRENT puts
// AWSPREVIOUS on the version that had AWSCURRENT, as Secrets Manager does.
func (e *secretEntry) moveStage(stage string, target *secretVersion) {
	var old *secretVersion
	for _, v := range e.versions {
		if v != target && contains(v.stages, stage) {
			old = v
			v.stages = remove(v.stages, stage)
		}
	}
	if !contains(target.stages, stage) {
		target.stages = append(target.stages, stage)
	}
	if stage == stageCurrent && old != nil {
		e.moveStage(stagePrevious, old)
	}
}

type paramEntry struct {
	name     string
	typ      string
	regions  []string
	versions []*paramVersion // index = version-1
}

type paramVersion struct {
	value    string
	labels   []string
	modified time.Time
}

func paramARN(account, region, name string) string {
	if strings.HasPrefix(name, "/") {
		return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", region, account, name)
	}
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", region, account, name)
}

const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// defaultSuffix derives the 6-character ARN suffix from the name, so tests can compute ARNs.
func defaultSuffix(name string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	sum := sha256.Sum256([]byte(name))
	b := make([]byte, 6)
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b)
}

// derivedUUID makes a stable UUID-shaped id from parts.
func derivedUUID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

func buildSecret(s Secret, now time.Time) (*secretEntry, error) {
	if s.Name == "" {
		return nil, errors.New("secret without name")
	}
	e := &secretEntry{
		name: s.Name, suffix: s.ARNSuffix, description: s.Description, regions: s.Regions,
		created: now, changed: now,
	}
	if e.suffix == "" {
		e.suffix = defaultSuffix(s.Name)
	}
	if len(e.suffix) != 6 {
		return nil, fmt.Errorf("secret %q: arnSuffix must be 6 characters", s.Name)
	}
	for i, v := range s.Versions {
		if v.ID == "" {
			return nil, fmt.Errorf("secret %q: versions[%d] needs an id", s.Name, i)
		}
		if e.versionByID(v.ID) != nil {
			return nil, fmt.Errorf("secret %q: duplicate version id %q", s.Name, v.ID)
		}
		sv := &secretVersion{id: v.ID, created: now}
		if v.Binary != nil {
			sv.bin = v.Binary
		} else {
			val := v.Value
			sv.str = &val
		}
		e.versions = append(e.versions, sv)
		for _, st := range v.Stages {
			e.moveStageNoPrevious(st, sv)
		}
	}
	if s.Value != "" || s.Binary != nil {
		id := s.VersionID
		if id == "" {
			id = derivedUUID("secret", s.Name, "current")
		}
		if e.versionByID(id) != nil {
			return nil, fmt.Errorf("secret %q: versionId %q also listed in versions", s.Name, id)
		}
		sv := &secretVersion{id: id, created: now}
		if s.Binary != nil {
			sv.bin = s.Binary
		} else {
			val := s.Value
			sv.str = &val
		}
		e.versions = append(e.versions, sv)
		e.moveStage(stageCurrent, sv)
	}
	if e.versionByStage(stageCurrent) == nil {
		return nil, fmt.Errorf("secret %q: no value and no version with stage AWSCURRENT", s.Name)
	}
	return e, nil
}

// moveStageNoPrevious moves a stage as given in the state file, without the AWSPREVIOUS side effect.
func (e *secretEntry) moveStageNoPrevious(stage string, target *secretVersion) {
	for _, v := range e.versions {
		if v != target {
			v.stages = remove(v.stages, stage)
		}
	}
	if !contains(target.stages, stage) {
		target.stages = append(target.stages, stage)
	}
}

func buildParameter(p Parameter, now time.Time) (*paramEntry, error) {
	if p.Name == "" {
		return nil, errors.New("parameter without name")
	}
	typ := p.Type
	if typ == "" {
		typ = "String"
	}
	switch typ {
	case "String", "StringList", "SecureString":
	default:
		return nil, fmt.Errorf("parameter %q: type must be String, StringList or SecureString, not %q", p.Name, p.Type)
	}
	e := &paramEntry{name: p.Name, typ: typ, regions: p.Regions}
	for _, h := range p.History {
		e.versions = append(e.versions, &paramVersion{value: h.Value, labels: h.Labels, modified: now})
	}
	e.versions = append(e.versions, &paramVersion{value: p.Value, labels: p.Labels, modified: now})
	seen := map[string]bool{}
	for _, v := range e.versions {
		for _, l := range v.labels {
			if seen[l] {
				return nil, fmt.Errorf("parameter %q: label %q on two versions", p.Name, l)
			}
			if _, err := strconv.Atoi(l); err == nil {
				return nil, fmt.Errorf("parameter %q: label %q must not be a number", p.Name, l)
			}
			seen[l] = true
		}
	}
	return e, nil
}

func inRegion(regions []string, region string) bool {
	return len(regions) == 0 || contains(regions, region)
}

func regionsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, r := range a {
		if contains(b, r) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

// globMatch matches IAM-style globs: '*' matches any run of characters (including '/' and none),
// '?' matches exactly one character; everything else matches itself.
func globMatch(pattern, s string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// allowed reports whether any glob matches the resource name or its ARN. Globs starting with
// "arn:" are matched against the ARN, others against the name.
func allowed(globs []string, name, arn string) bool {
	for _, g := range globs {
		if strings.HasPrefix(g, "arn:") {
			if globMatch(g, arn) {
				return true
			}
			continue
		}
		if globMatch(g, name) {
			return true
		}
	}
	return false
}

// roleNameFromARN returns the last path element of a role ARN.
func roleNameFromARN(arn string) string {
	i := strings.LastIndex(arn, "/")
	if i < 0 {
		return arn
	}
	return arn[i+1:]
}

// accountFromARN returns the account field of an ARN, or "".
func accountFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

func validateRoleARN(arn string) error {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") || roleNameFromARN(arn) == "" {
		return fmt.Errorf("role arn %q must look like arn:aws:iam::ACCOUNT:role/NAME", arn)
	}
	return nil
}
