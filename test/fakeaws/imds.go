package fakeaws

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// EC2 instance metadata, IMDSv2 only: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds)
// then GETs with X-aws-ec2-metadata-token. Serves the node role's credentials under
// /latest/meta-data/iam/security-credentials/, the placement (region, availability zone), the
// instance id, iam/info and /latest/dynamic/instance-identity/document. Without a node role the
// credential paths are 404, as on an instance without an instance profile.

const (
	imdsTokenHeader    = "X-Aws-Ec2-Metadata-Token"
	imdsTTLHeader      = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	imdsCredsRefreshAt = 15 * time.Minute
)

func (s *Server) serveIMDS(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	path := r.URL.Path
	api := "imds:GetMetadata"
	if path == "/latest/api/token" {
		api = "imds:GetToken"
	} else if strings.HasPrefix(path, "/latest/meta-data/iam/security-credentials/") && path != "/latest/meta-data/iam/security-credentials/" {
		api = "imds:GetCredentials"
	}
	fx := s.applyFaults(r.Context(), api, s.region, "imds", protoIMDS)
	if fx.err == nil {
		s.stalled(r, fx, api, "imds", s.region, start)
	}
	status, body := s.imds(r, fx, path)
	var aerr *apiError
	if status != http.StatusOK {
		aerr = &apiError{Code: http.StatusText(status), Status: status, Message: body}
	}
	s.record(api, "imds", s.region, aerr)
	s.logCall(api, "imds", s.region, aerr, time.Since(start))
	if status == http.StatusOK && api == "imds:GetToken" {
		w.Header().Set(imdsTTLHeader, r.Header.Get(imdsTTLHeader))
	}
	ctype := "text/plain"
	if strings.HasPrefix(body, "{") {
		ctype = "application/json"
	}
	if status != http.StatusOK {
		fx = noEffect
	}
	deliver(w, r, fx, status, ctype, []byte(body))
}

// imds returns the status and body for one IMDS request.
func (s *Server) imds(r *http.Request, fx *effect, path string) (int, string) {
	if fx.err != nil {
		return fx.err.Status, fx.err.Message
	}
	if path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			return http.StatusMethodNotAllowed, "method not allowed"
		}
		if r.Header.Get("X-Forwarded-For") != "" {
			return http.StatusForbidden, "forbidden"
		}
		ttl, err := strconv.Atoi(r.Header.Get(imdsTTLHeader))
		if err != nil || ttl < 1 || ttl > 21600 {
			return http.StatusBadRequest, "bad request"
		}
		tok := randString(56, alnum)
		s.mu.Lock()
		for k, exp := range s.imdsTokens {
			if s.now().After(exp) {
				delete(s.imdsTokens, k)
			}
		}
		s.imdsTokens[tok] = s.now().Add(time.Duration(ttl) * time.Second)
		s.mu.Unlock()
		return http.StatusOK, tok
	}
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, "method not allowed"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.imdsTokens[r.Header.Get(imdsTokenHeader)]
	if !ok || s.now().After(exp) {
		return http.StatusUnauthorized, "unauthorized"
	}
	n := s.nodeRole
	region := s.region
	az, instanceID := region+"a", "i-0123456789abcdef0"
	if n != nil {
		az, instanceID = n.AvailabilityZone, n.InstanceID
	}
	switch path {
	case "/latest/meta-data", "/latest/meta-data/":
		return http.StatusOK, "ami-id\niam/\ninstance-id\ninstance-type\nplacement/"
	case "/latest/meta-data/instance-id":
		return http.StatusOK, instanceID
	case "/latest/meta-data/instance-type":
		return http.StatusOK, "m5.large"
	case "/latest/meta-data/ami-id":
		return http.StatusOK, "ami-0123456789abcdef0"
	case "/latest/meta-data/placement/region":
		return http.StatusOK, region
	case "/latest/meta-data/placement/availability-zone":
		return http.StatusOK, az
	case "/latest/dynamic/instance-identity/document":
		doc, _ := json.MarshalIndent(map[string]any{
			"accountId": s.account, "architecture": "x86_64", "availabilityZone": az, "imageId": "ami-0123456789abcdef0",
			"instanceId": instanceID, "instanceType": "m5.large", "pendingTime": "2026-01-01T00:00:00Z",
			"privateIp": "10.0.0.10", "region": region, "version": "2017-09-30",
		}, "", "  ")
		return http.StatusOK, string(doc)
	}
	if n == nil {
		return http.StatusNotFound, "not found"
	}
	roleName := roleNameFromARN(n.ARN)
	switch path {
	case "/latest/meta-data/iam/info":
		b, _ := json.Marshal(map[string]string{
			"Code": "Success", "LastUpdated": s.now().UTC().Format(time.RFC3339),
			"InstanceProfileArn": "arn:aws:iam::" + accountFromARN(n.ARN) + ":instance-profile/" + roleName,
			"InstanceProfileId":  "AIPA" + strings17(derivedUUID("ip", n.ARN)),
		})
		return http.StatusOK, string(b)
	case "/latest/meta-data/iam/security-credentials/", "/latest/meta-data/iam/security-credentials":
		return http.StatusOK, roleName
	case "/latest/meta-data/iam/security-credentials/" + roleName:
		if s.imdsCreds == nil || s.imdsCreds.expires.Sub(s.now()) < imdsCredsRefreshAt || s.imdsCreds.roleARN != n.ARN {
			s.imdsCreds = s.issueSession(n.ARN, instanceID, s.credTTL, "imds")
		}
		se := s.imdsCreds
		b, _ := json.Marshal(map[string]string{
			"Code": "Success", "LastUpdated": s.now().UTC().Format(time.RFC3339), "Type": "AWS-HMAC",
			"AccessKeyId": se.akid, "SecretAccessKey": se.secret, "Token": se.token,
			"Expiration": se.expires.UTC().Format(time.RFC3339),
		})
		return http.StatusOK, string(b)
	}
	return http.StatusNotFound, "not found"
}
