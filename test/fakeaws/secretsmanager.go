package fakeaws

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Secrets Manager, awsJson1.1 (X-Amz-Target: secretsmanager.OPERATION).

// maxBatchIDs is BatchGetSecretValue's SecretIdList limit.
const maxBatchIDs = 20

func (s *Server) secretsManagerOp(op string) jsonHandler {
	switch op {
	case "GetSecretValue":
		return s.smGetSecretValue
	case "BatchGetSecretValue":
		return s.smBatchGetSecretValue
	case "DescribeSecret":
		return s.smDescribeSecret
	case "PutSecretValue":
		return s.smPutSecretValue
	case "CreateSecret":
		return s.smCreateSecret
	}
	return nil
}

type smSecretValue struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	SecretString  *string  `json:"SecretString,omitempty"`
	SecretBinary  []byte   `json:"SecretBinary,omitempty"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   float64  `json:"CreatedDate"`
}

type smAPIError struct {
	SecretID  string `json:"SecretId"`
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
}

func smNotFound() *apiError {
	return newErr(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

// parseSecretID splits a secret id (name, full ARN or partial ARN) into the name part to look up
// and whether it was an ARN. ok is false for an ARN of another region or account.
func (s *Server) parseSecretID(id, region string) (rest string, isARN, ok bool) {
	if !strings.HasPrefix(id, "arn:") {
		return id, false, true
	}
	parts := strings.SplitN(id, ":", 7)
	if len(parts) != 7 || parts[2] != "secretsmanager" || parts[5] != "secret" {
		return id, true, false
	}
	if parts[3] != region || parts[4] != s.account {
		return parts[6], true, false
	}
	return parts[6], true, true
}

// findSecret resolves a secret id in a region. Caller holds s.mu. The returned resource ARN names
// the secret even when it does not exist (for AccessDenied messages); name is what globs match.
func (s *Server) findSecret(id, region string) (e *secretEntry, name, resourceARN string) {
	rest, isARN, ok := s.parseSecretID(id, region)
	name = rest
	resourceARN = id
	if !isARN {
		resourceARN = fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s", region, s.account, id)
	}
	if !ok {
		return nil, name, resourceARN
	}
	for _, c := range s.secrets {
		if !inRegion(c.regions, region) {
			continue
		}
		if c.name == rest || (isARN && rest == c.name+"-"+c.suffix) {
			return c, c.name, c.arn(s.account, region)
		}
	}
	return nil, name, resourceARN
}

// lookupSecretForRead authorizes and resolves a secret, as GetSecretValue does: a secret outside
// the caller's policy is AccessDenied whether it exists or not. Caller holds s.mu.
func (s *Server) lookupSecretForRead(p *principal, action, id, region string) (*secretEntry, *apiError) {
	if id == "" {
		return nil, newErr(http.StatusBadRequest, "InvalidParameterException", "SecretId must not be empty")
	}
	e, name, arn := s.findSecret(id, region)
	if !allowed(s.policy(p), name, arn) {
		return nil, accessDenied(p, action, arn)
	}
	if e == nil {
		return nil, smNotFound()
	}
	return e, nil
}

// selectVersion picks a version by id and/or stage (default AWSCURRENT).
func selectVersion(e *secretEntry, versionID, stage string) (*secretVersion, *apiError) {
	if versionID != "" {
		v := e.versionByID(versionID)
		if v == nil {
			return nil, newErr(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", versionID)
		}
		if stage != "" && !contains(v.stages, stage) {
			return nil, newErr(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s and staging label: %s", versionID, stage)
		}
		return v, nil
	}
	if stage == "" {
		stage = stageCurrent
	}
	v := e.versionByStage(stage)
	if v == nil {
		return nil, newErr(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
	}
	return v, nil
}

func (s *Server) secretValue(e *secretEntry, v *secretVersion, region string) smSecretValue {
	out := smSecretValue{
		ARN: e.arn(s.account, region), Name: e.name, VersionID: v.id,
		VersionStages: append([]string{}, v.stages...), CreatedDate: epoch(v.created),
	}
	if v.str != nil {
		str := *v.str
		out.SecretString = &str
	} else {
		out.SecretBinary = append([]byte(nil), v.bin...)
	}
	return out
}

func (s *Server) smGetSecretValue(p *principal, region string, body []byte) (any, *apiError) {
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, aerr := s.lookupSecretForRead(p, "secretsmanager:GetSecretValue", in.SecretID, region)
	if aerr != nil {
		return nil, aerr
	}
	v, aerr := selectVersion(e, in.VersionID, in.VersionStage)
	if aerr != nil {
		return nil, aerr
	}
	e.accessed = s.now()
	return s.secretValue(e, v, region), nil
}

func (s *Server) smBatchGetSecretValue(p *principal, region string, body []byte) (any, *apiError) {
	var in struct {
		SecretIDList []string `json:"SecretIdList"`
		Filters      []struct {
			Key    string   `json:"Key"`
			Values []string `json:"Values"`
		} `json:"Filters"`
		MaxResults int    `json:"MaxResults"`
		NextToken  string `json:"NextToken"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	switch {
	case len(in.SecretIDList) == 0 && len(in.Filters) == 0:
		return nil, newErr(http.StatusBadRequest, "InvalidParameterException", "Either SecretIdList or Filters must be provided.")
	case len(in.SecretIDList) > 0 && len(in.Filters) > 0:
		return nil, newErr(http.StatusBadRequest, "InvalidParameterException", "Either SecretIdList or Filters must be provided, not both.")
	case len(in.SecretIDList) > maxBatchIDs:
		return nil, newErr(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member must have length less than or equal to %d", maxBatchIDs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := in.SecretIDList
	next := ""
	if len(in.Filters) > 0 {
		var err *apiError
		ids, next, err = s.filterSecrets(region, in.Filters, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
	}
	type out struct {
		SecretValues []smSecretValue `json:"SecretValues"`
		Errors       []smAPIError    `json:"Errors"`
		NextToken    string          `json:"NextToken,omitempty"`
	}
	res := out{SecretValues: []smSecretValue{}, Errors: []smAPIError{}, NextToken: next}
	for _, id := range ids {
		e, aerr := s.lookupSecretForRead(p, "secretsmanager:GetSecretValue", id, region)
		var v *secretVersion
		if aerr == nil {
			v, aerr = selectVersion(e, "", stageCurrent)
		}
		if aerr != nil {
			res.Errors = append(res.Errors, smAPIError{SecretID: id, ErrorCode: aerr.Code, Message: aerr.Message})
			continue
		}
		e.accessed = s.now()
		res.SecretValues = append(res.SecretValues, s.secretValue(e, v, region))
	}
	return res, nil
}

// filterSecrets supports the "name" filter (prefix match, "!" prefix negates) and "all".
func (s *Server) filterSecrets(region string, filters []struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}, maxResults int, nextToken string) (ids []string, next string, aerr *apiError) {
	var names []string
	for _, e := range s.secrets {
		if !inRegion(e.regions, region) {
			continue
		}
		match := true
		for _, f := range filters {
			switch f.Key {
			case "name", "all":
				hit := false
				for _, v := range f.Values {
					neg := strings.HasPrefix(v, "!")
					if strings.HasPrefix(e.name, strings.TrimPrefix(v, "!")) != neg {
						hit = true
					}
				}
				match = match && hit
			default:
				return nil, "", newErr(http.StatusBadRequest, "InvalidParameterException", "fakeaws supports only the name and all filters, not %q", f.Key)
			}
		}
		if match {
			names = append(names, e.name)
		}
	}
	sort.Strings(names)
	if maxResults <= 0 || maxResults > maxBatchIDs {
		maxResults = maxBatchIDs
	}
	start := 0
	if nextToken != "" {
		n, err := strconv.Atoi(nextToken)
		if err != nil || n < 0 || n > len(names) {
			return nil, "", newErr(http.StatusBadRequest, "InvalidNextTokenException", "The NextToken value is invalid.")
		}
		start = n
	}
	end := min(start+maxResults, len(names))
	if end < len(names) {
		next = strconv.Itoa(end)
	}
	return names[start:end], next, nil
}

func (s *Server) smDescribeSecret(p *principal, region string, body []byte) (any, *apiError) {
	var in struct {
		SecretID string `json:"SecretId"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, aerr := s.lookupSecretForRead(p, "secretsmanager:DescribeSecret", in.SecretID, region)
	if aerr != nil {
		return nil, aerr
	}
	stages := map[string][]string{}
	for _, v := range e.versions {
		if len(v.stages) > 0 {
			stages[v.id] = append([]string{}, v.stages...)
		}
	}
	out := map[string]any{
		"ARN": e.arn(s.account, region), "Name": e.name, "CreatedDate": epoch(e.created),
		"LastChangedDate": epoch(e.changed), "VersionIdsToStages": stages, "RotationEnabled": false,
	}
	if e.description != "" {
		out["Description"] = e.description
	}
	if !e.accessed.IsZero() {
		out["LastAccessedDate"] = epoch(e.accessed.Truncate(24 * 3600e9))
	}
	return out, nil
}

type smPutIn struct {
	SecretID           string   `json:"SecretId"`
	Name               string   `json:"Name"`
	ClientRequestToken string   `json:"ClientRequestToken"`
	SecretString       *string  `json:"SecretString"`
	SecretBinary       []byte   `json:"SecretBinary"`
	VersionStages      []string `json:"VersionStages"`
	Description        string   `json:"Description"`
}

func (s *Server) smPutSecretValue(p *principal, region string, body []byte) (any, *apiError) {
	var in smPutIn
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if (in.SecretString == nil) == (in.SecretBinary == nil) {
		return nil, newErr(http.StatusBadRequest, "InvalidParameterException", "You must provide either SecretString or SecretBinary.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, aerr := s.lookupSecretForRead(p, "secretsmanager:PutSecretValue", in.SecretID, region)
	if aerr != nil {
		return nil, aerr
	}
	v, aerr := s.putVersion(e, in.ClientRequestToken, in.SecretString, in.SecretBinary, in.VersionStages)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"ARN": e.arn(s.account, region), "Name": e.name, "VersionId": v.id, "VersionStages": v.stages}, nil
}

// putVersion adds a version (id = token or a new UUID) with stages (default AWSCURRENT). A retry
// with the same token and value returns the existing version. Caller holds s.mu for writing.
func (s *Server) putVersion(e *secretEntry, token string, str *string, bin []byte, stages []string) (*secretVersion, *apiError) {
	if token == "" {
		token = newUUID()
	}
	if old := e.versionByID(token); old != nil {
		same := (str != nil && old.str != nil && *str == *old.str) || (str == nil && old.str == nil && bytes.Equal(bin, old.bin))
		if !same {
			return nil, newErr(http.StatusBadRequest, "ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
		}
		return old, nil
	}
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	v := &secretVersion{id: token, created: s.now()}
	if str != nil {
		val := *str
		v.str = &val
	} else {
		v.bin = append([]byte(nil), bin...)
	}
	e.versions = append(e.versions, v)
	for _, st := range stages {
		e.moveStage(st, v)
	}
	// Versions without any stage are deprecated and dropped by AWS after a while; keep a few.
	var kept []*secretVersion
	unlabelled := 0
	for i := len(e.versions) - 1; i >= 0; i-- {
		ver := e.versions[i]
		if len(ver.stages) == 0 {
			unlabelled++
			if unlabelled > 10 {
				continue
			}
		}
		kept = append([]*secretVersion{ver}, kept...)
	}
	e.versions = kept
	e.changed = s.now()
	return v, nil
}

func (s *Server) smCreateSecret(p *principal, region string, body []byte) (any, *apiError) {
	var in smPutIn
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" || strings.HasPrefix(in.Name, "arn:") {
		return nil, newErr(http.StatusBadRequest, "InvalidParameterException", "Name must be a secret name.")
	}
	if in.SecretString != nil && in.SecretBinary != nil {
		return nil, newErr(http.StatusBadRequest, "InvalidParameterException", "You can't specify both SecretString and SecretBinary.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, name, arn := s.findSecret(in.Name, region)
	if !allowed(s.policy(p), name, arn) {
		return nil, accessDenied(p, "secretsmanager:CreateSecret", arn)
	}
	if e != nil {
		return nil, newErr(http.StatusBadRequest, "ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	e = &secretEntry{name: in.Name, suffix: randString(6, alnum), description: in.Description, regions: []string{region}, created: s.now(), changed: s.now()}
	s.secrets = append(s.secrets, e)
	out := map[string]any{"ARN": e.arn(s.account, region), "Name": e.name}
	if in.SecretString != nil || in.SecretBinary != nil {
		v, aerr := s.putVersion(e, in.ClientRequestToken, in.SecretString, in.SecretBinary, nil)
		if aerr != nil {
			return nil, aerr
		}
		out["VersionId"] = v.id
	}
	return out, nil
}

// ---- Go API ----

// SecretARN is the full ARN of a configured secret in region ("" = default region), or "" when the
// secret does not exist there.
func (s *Server) SecretARN(name, region string) string {
	if region == "" {
		region = s.region
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, _, _ := s.findSecret(name, region)
	if e == nil {
		return ""
	}
	return e.arn(s.account, region)
}

// PutSecret stores value as a new AWSCURRENT version of the named secret (the old current version
// becomes AWSPREVIOUS) in every region the secret exists in, creating the secret in all regions
// when it does not exist. It returns the new version id.
func (s *Server) PutSecret(name, value string) (string, error) {
	return s.PutSecretVersion(SecretUpdate{Name: name, Value: &value})
}

// PutSecretBinary is PutSecret with a SecretBinary value.
func (s *Server) PutSecretBinary(name string, value []byte) (string, error) {
	return s.PutSecretVersion(SecretUpdate{Name: name, Binary: value})
}

// SecretUpdate is a new version of a secret for PutSecretVersion (and PUT /_fake/secrets).
type SecretUpdate struct {
	// Name of the secret (not an ARN).
	Name string `json:"name"`
	// Region limits the update to the entry of that region ("" = every entry of that name).
	Region string `json:"region,omitempty"`
	// Value is the new SecretString; exactly one of Value and Binary is set.
	Value *string `json:"value,omitempty"`
	// Binary is the new SecretBinary (base64 in JSON).
	Binary []byte `json:"binary,omitempty"`
	// VersionID of the new version (default a new UUID).
	VersionID string `json:"versionId,omitempty"`
	// Stages of the new version (default AWSCURRENT).
	Stages []string `json:"stages,omitempty"`
}

// PutSecretVersion adds a version to a secret without a signed call (see PutSecret).
func (s *Server) PutSecretVersion(u SecretUpdate) (string, error) {
	if u.Name == "" || (u.Value == nil) == (u.Binary == nil) {
		return "", fmt.Errorf("secret update needs a name and exactly one of value and binary")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var targets []*secretEntry
	for _, e := range s.secrets {
		if e.name == u.Name && (u.Region == "" || inRegion(e.regions, u.Region)) {
			targets = append(targets, e)
		}
	}
	if len(targets) == 0 {
		e := &secretEntry{name: u.Name, suffix: defaultSuffix(u.Name), created: s.now(), changed: s.now()}
		if u.Region != "" {
			e.regions = []string{u.Region}
		}
		s.secrets = append(s.secrets, e)
		targets = append(targets, e)
	}
	id := u.VersionID
	if id == "" {
		id = newUUID()
	}
	for _, e := range targets {
		if _, aerr := s.putVersion(e, id, u.Value, u.Binary, u.Stages); aerr != nil {
			return "", fmt.Errorf("put secret %s: %s", u.Name, aerr.Message)
		}
	}
	return id, nil
}
