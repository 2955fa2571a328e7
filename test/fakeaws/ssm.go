package fakeaws

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// SSM Parameter Store, awsJson1.1 (X-Amz-Target: AmazonSSM.OPERATION).

// maxParameterNames is GetParameters' Names limit.
const maxParameterNames = 10

func (s *Server) ssmOp(op string) jsonHandler {
	switch op {
	case "GetParameter":
		return s.ssmGetParameter
	case "GetParameters":
		return s.ssmGetParameters
	}
	return nil
}

type ssmParameter struct {
	Name             string  `json:"Name"`
	Type             string  `json:"Type"`
	Value            string  `json:"Value"`
	Version          int64   `json:"Version"`
	Selector         string  `json:"Selector,omitempty"`
	LastModifiedDate float64 `json:"LastModifiedDate"`
	ARN              string  `json:"ARN"`
	DataType         string  `json:"DataType"`
}

// parseParameterRef splits "name", "name:3", "name:label" or a parameter ARN (with an optional
// selector) into name candidates and the selector.
func parseParameterRef(ref string) (names []string, selector string) {
	if strings.HasPrefix(ref, "arn:") {
		parts := strings.SplitN(ref, ":", 7)
		if len(parts) < 6 || !strings.HasPrefix(parts[5], "parameter/") {
			return nil, ""
		}
		if len(parts) == 7 {
			selector = parts[6]
		}
		rest := strings.TrimPrefix(parts[5], "parameter")
		return []string{rest, rest[1:]}, selector
	}
	if i := strings.LastIndex(ref, ":"); i >= 0 {
		return []string{ref[:i]}, ref[i+1:]
	}
	return []string{ref}, ""
}

// resolveParameter authorizes and finds one parameter reference. found is false for a missing
// parameter or version (GetParameters lists those as invalid). Caller holds s.mu.
func (s *Server) resolveParameter(p *principal, action, ref, region string, decrypt bool) (param *ssmParameter, aerr *apiError) {
	names, selector := parseParameterRef(ref)
	if len(names) == 0 || names[0] == "" {
		return nil, newErr(http.StatusBadRequest, "ValidationException", "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive) and must be a valid name.")
	}
	var e *paramEntry
	for _, n := range names {
		for _, c := range s.params {
			if c.name == n && inRegion(c.regions, region) {
				e = c
			}
		}
	}
	name := names[0]
	if e != nil {
		name = e.name
	}
	arn := paramARN(s.account, region, name)
	if !allowed(s.policy(p), name, arn) {
		return nil, accessDenied(p, action, arn)
	}
	if e == nil {
		return nil, newErr(http.StatusBadRequest, "ParameterNotFound", "Parameter %s not found.", name)
	}
	idx := len(e.versions) - 1
	if selector != "" {
		if n, err := strconv.ParseInt(selector, 10, 64); err == nil {
			if n < 1 || n > int64(len(e.versions)) {
				return nil, newErr(http.StatusBadRequest, "ParameterVersionNotFound", "Systems Manager could not find version %d of %s.", n, name)
			}
			idx = int(n - 1)
		} else {
			idx = -1
			for i, v := range e.versions {
				if contains(v.labels, selector) {
					idx = i
				}
			}
			if idx < 0 {
				return nil, newErr(http.StatusBadRequest, "ParameterVersionNotFound", "Systems Manager could not find version label %s of %s.", selector, name)
			}
		}
	}
	v := e.versions[idx]
	out := &ssmParameter{
		Name: e.name, Type: e.typ, Value: v.value, Version: int64(idx + 1),
		LastModifiedDate: epoch(v.modified), ARN: arn, DataType: "text",
	}
	if selector != "" {
		out.Selector = ":" + selector
	}
	if e.typ == "SecureString" && !decrypt {
		out.Value = fakeCiphertext(e.name, idx, v.value)
	}
	return out, nil
}

// fakeCiphertext stands in for the KMS ciphertext of a SecureString read without decryption: it
// is opaque and does not contain the value.
func fakeCiphertext(name string, idx int, value string) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s", name, idx, value)))
	return "AQICAH" + base64.StdEncoding.EncodeToString(append([]byte("fakeaws-kms"), sum[:]...))
}

func (s *Server) ssmGetParameter(p *principal, region string, body []byte) (any, *apiError) {
	var in struct {
		Name           string `json:"Name"`
		WithDecryption bool   `json:"WithDecryption"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	param, aerr := s.resolveParameter(p, "ssm:GetParameter", in.Name, region, in.WithDecryption)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"Parameter": param}, nil
}

func (s *Server) ssmGetParameters(p *principal, region string, body []byte) (any, *apiError) {
	var in struct {
		Names          []string `json:"Names"`
		WithDecryption bool     `json:"WithDecryption"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if len(in.Names) == 0 || len(in.Names) > maxParameterNames {
		return nil, newErr(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and %d", maxParameterNames)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	params := []*ssmParameter{}
	invalid := []string{}
	seen := map[string]bool{}
	for _, ref := range in.Names {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		param, aerr := s.resolveParameter(p, "ssm:GetParameters", ref, region, in.WithDecryption)
		switch {
		case aerr == nil:
			params = append(params, param)
		case aerr.Code == "AccessDeniedException" || aerr.Code == "ValidationException":
			// IAM authorizes GetParameters per resource: one denied name fails the whole call.
			return nil, aerr
		default:
			invalid = append(invalid, ref)
		}
	}
	return map[string]any{"Parameters": params, "InvalidParameters": invalid}, nil
}

// ---- Go API ----

// PutParameter stores value as a new version of a parameter (created as type String in every
// region when missing) and returns the version number.
func (s *Server) PutParameter(name, value string) (int64, error) {
	if name == "" {
		return 0, fmt.Errorf("parameter needs a name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	found := false
	for _, e := range s.params {
		if e.name == name {
			e.versions = append(e.versions, &paramVersion{value: value, modified: s.now()})
			n = int64(len(e.versions))
			found = true
		}
	}
	if !found {
		s.params = append(s.params, &paramEntry{name: name, typ: "String", versions: []*paramVersion{{value: value, modified: s.now()}}})
		n = 1
	}
	return n, nil
}
