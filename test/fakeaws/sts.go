package fakeaws

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// STS, the AWS query protocol: form-encoded Action=... requests, XML responses in the
// https://sts.amazonaws.com/doc/2011-06-15/ namespace, <ErrorResponse> errors.

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type stsAssumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type stsAssumeRoleResult struct {
	XMLName                     xml.Name
	SubjectFromWebIdentityToken string             `xml:"SubjectFromWebIdentityToken,omitempty"`
	Audience                    string             `xml:"Audience,omitempty"`
	Provider                    string             `xml:"Provider,omitempty"`
	AssumedRoleUser             stsAssumedRoleUser `xml:"AssumedRoleUser"`
	Credentials                 stsCredentials     `xml:"Credentials"`
	PackedPolicySize            *int               `xml:"PackedPolicySize,omitempty"`
}

type stsCallerIdentityResult struct {
	XMLName xml.Name
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type stsResponse struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	Result    any
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type stsErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func writeQueryError(w http.ResponseWriter, e *apiError, reqID string) {
	var out stsErrorResponse
	out.Xmlns = stsNamespace
	out.Error.Type = "Sender"
	if e.Status >= 500 {
		out.Error.Type = "Receiver"
	}
	out.Error.Code, out.Error.Message, out.RequestID = e.Code, e.Message, reqID
	writeXML(w, e.Status, out)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "fakeaws: encode xml", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newUUID()
	w.Header().Set("X-Amzn-RequestId", reqID)
	body, err := readBody(r)
	if err != nil {
		writeQueryError(w, newErr(http.StatusBadRequest, "MalformedInput", "%v", err), reqID)
		return
	}
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		if form, err = url.ParseQuery(string(body)); err != nil {
			writeQueryError(w, newErr(http.StatusBadRequest, "MalformedQueryString", "cannot parse form body"), reqID)
			return
		}
	}
	action := form.Get("Action")
	api := "sts:" + action
	var (
		p      *principal
		region = s.region
		key    = "anonymous"
		aerr   *apiError
		result any
	)
	switch action {
	case "AssumeRoleWithWebIdentity":
		// Unsigned: the token is the credential. Calls are counted under the role asked for.
		if form.Get("RoleArn") != "" {
			key = form.Get("RoleArn")
		}
	case "AssumeRole", "GetCallerIdentity":
		p, region, aerr = s.authenticate(r, body, "sts", queryAuthErrors)
		if p != nil {
			key = p.key
		}
	default:
		aerr = newErr(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version 2011-06-15", action)
	}
	fx := noEffect
	if aerr == nil {
		fx = s.applyFaults(r.Context(), api, region, key, protoQuery)
		aerr = fx.err
	}
	if aerr == nil {
		s.stalled(r, fx, api, key, region, start)
		switch action {
		case "AssumeRoleWithWebIdentity":
			result, aerr = s.stsAssumeRoleWithWebIdentity(r, form)
		case "AssumeRole":
			result, aerr = s.stsAssumeRole(p, form)
		case "GetCallerIdentity":
			result = s.stsGetCallerIdentity(p)
		}
	}
	s.record(api, key, region, aerr)
	s.logCall(api, key, region, aerr, time.Since(start))
	if aerr != nil {
		writeQueryError(w, aerr, reqID)
		return
	}
	b, err := xml.Marshal(stsResponse{
		XMLName: xml.Name{Local: action + "Response"}, Xmlns: stsNamespace, Result: result, RequestID: reqID,
	})
	if err != nil {
		http.Error(w, "fakeaws: encode xml", http.StatusInternalServerError)
		return
	}
	deliver(w, r, fx, http.StatusOK, "text/xml", b)
}

// sessionParams validates RoleArn, RoleSessionName and DurationSeconds against the role.
// Caller holds s.mu.
func (s *Server) sessionParams(form url.Values) (*Role, string, time.Duration, *apiError) {
	roleARN, name := form.Get("RoleArn"), form.Get("RoleSessionName")
	if roleARN == "" {
		return nil, "", 0, newErr(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	}
	if !sessionNameRE.MatchString(name) {
		return nil, "", 0, newErr(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and length 2-64")
	}
	dur := time.Hour
	if d := form.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			return nil, "", 0, newErr(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")
		}
		dur = time.Duration(n) * time.Second
	}
	role := s.roles[roleARN]
	if role == nil {
		return nil, "", 0, nil
	}
	if dur > role.MaxSessionDuration.Duration {
		return nil, "", 0, newErr(http.StatusBadRequest, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	return role, name, dur, nil
}

func (s *Server) stsAssumeRoleWithWebIdentity(r *http.Request, form url.Values) (any, *apiError) {
	token := form.Get("WebIdentityToken")
	if token == "" {
		return nil, newErr(http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null")
	}
	claims, is, terr := s.verifyToken(r.Context(), token)
	if terr != nil {
		switch terr.kind {
		case tokenExpired:
			return nil, newErr(http.StatusBadRequest, "ExpiredTokenException", "%s", terr.msg)
		case tokenFetchFailed:
			return nil, newErr(http.StatusBadRequest, "IDPCommunicationError", "%s", terr.msg)
		default:
			return nil, newErr(http.StatusBadRequest, "InvalidIdentityToken", "%s", terr.msg)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	aud := ""
	for _, a := range claims.Audience {
		if contains(is.audiences, a) {
			aud = a
		}
	}
	if aud == "" {
		return nil, newErr(http.StatusBadRequest, "InvalidIdentityToken", "Incorrect token audience")
	}
	role, name, dur, aerr := s.sessionParams(form)
	if aerr != nil {
		return nil, aerr
	}
	denied := newErr(http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	if role == nil {
		return nil, denied
	}
	if t := role.Trust; t != nil {
		if len(t.Issuers) > 0 && !contains(t.Issuers, claims.Issuer) {
			return nil, denied
		}
		if len(t.Subjects) > 0 && !anyGlob(t.Subjects, claims.Subject) {
			return nil, denied
		}
	}
	se := s.issueSession(role.ARN, name, dur, "sts:AssumeRoleWithWebIdentity")
	res := s.assumeResult("AssumeRoleWithWebIdentity", se)
	res.SubjectFromWebIdentityToken, res.Audience, res.Provider = claims.Subject, aud, claims.Issuer
	return res, nil
}

func (s *Server) stsAssumeRole(p *principal, form url.Values) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	role, name, dur, aerr := s.sessionParams(form)
	if aerr != nil {
		return nil, aerr
	}
	denied := newErr(http.StatusForbidden, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", p.arn, form.Get("RoleArn"))
	if role == nil {
		return nil, denied
	}
	if t := role.Trust; t != nil && len(t.Principals) > 0 && !anyGlob(t.Principals, p.arn) && !anyGlob(t.Principals, p.key) {
		return nil, denied
	}
	if t := role.Trust; t != nil && t.ExternalID != "" && form.Get("ExternalId") != t.ExternalID {
		return nil, denied
	}
	se := s.issueSession(role.ARN, name, dur, "sts:AssumeRole")
	zero := 0
	res := s.assumeResult("AssumeRole", se)
	res.PackedPolicySize = &zero
	return res, nil
}

func (s *Server) assumeResult(action string, se *session) *stsAssumeRoleResult {
	return &stsAssumeRoleResult{
		XMLName:         xml.Name{Local: action + "Result"},
		AssumedRoleUser: stsAssumedRoleUser{AssumedRoleID: roleID(se.roleARN) + ":" + se.sessionName, Arn: se.arn()},
		Credentials: stsCredentials{
			AccessKeyID: se.akid, SecretAccessKey: se.secret, SessionToken: se.token,
			Expiration: se.expires.UTC().Format(time.RFC3339),
		},
	}
}

func (s *Server) stsGetCallerIdentity(p *principal) any {
	res := &stsCallerIdentityResult{XMLName: xml.Name{Local: "GetCallerIdentityResult"}, Arn: p.arn, Account: s.account}
	if p.user != nil {
		res.UserID = "AIDA" + strings17(derivedUUID("user", p.user.AccessKeyID))
	} else {
		res.UserID = roleID(p.session.roleARN) + ":" + p.session.sessionName
	}
	return res
}

func strings17(u string) string {
	out := make([]byte, 0, 17)
	for i := 0; i < len(u) && len(out) < 17; i++ {
		c := u[i]
		if c == '-' {
			continue
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if globMatch(g, s) {
			return true
		}
	}
	return false
}
