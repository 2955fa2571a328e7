package fakeaws

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Test control: call counters, fault injection, and the admin HTTP API under /_fake/.

// ---- calls ----

type callKey struct{ api, principal, region, code string }

// CallCount is the number of calls with one (API, principal, region, result code).
type CallCount struct {
	// API is "service:Operation", e.g. secretsmanager:GetSecretValue, ssm:GetParameters,
	// sts:AssumeRoleWithWebIdentity, eks-auth:AssumeRoleForPodIdentity, imds:GetCredentials.
	API string `json:"api"`
	// Principal is the user ARN, the role ARN (for any session of the role, and for
	// AssumeRoleWithWebIdentity the role asked for), "imds" or "anonymous".
	Principal string `json:"principal"`
	// Region is the region of the credential scope (the default region for unsigned calls).
	Region string `json:"region"`
	// Code is the error code returned, "" for success.
	Code string `json:"code,omitempty"`
	// Count is the number of such calls.
	Count int `json:"count"`
}

// CallStats is a snapshot of the call counters. Every request that reached an API is counted,
// failed ones included (see Errors and Calls[].Code).
type CallStats struct {
	// Total calls.
	Total int `json:"total"`
	// Errors is the number of calls that returned an error.
	Errors int `json:"errors"`
	// ByAPI counts calls per API.
	ByAPI map[string]int `json:"byAPI"`
	// ByPrincipal counts calls per principal.
	ByPrincipal map[string]int `json:"byPrincipal"`
	// ByRegion counts calls per region.
	ByRegion map[string]int `json:"byRegion"`
	// ByCode counts failed calls per error code.
	ByCode map[string]int `json:"byCode"`
	// Calls are the detailed counts, sorted.
	Calls []CallCount `json:"calls"`
}

// Count is the number of calls of api, optionally only those of one principal ("" = any).
func (c CallStats) Count(api, principal string) int {
	n := 0
	for _, cc := range c.Calls {
		if cc.API == api && (principal == "" || cc.Principal == principal) {
			n += cc.Count
		}
	}
	return n
}

func (s *Server) record(api, principalKey, region string, err *apiError) {
	k := callKey{api: api, principal: principalKey, region: region}
	if err != nil {
		k.code = err.Code
	}
	s.callsMu.Lock()
	s.calls[k]++
	s.callsMu.Unlock()
}

// Calls returns a snapshot of the call counters.
func (s *Server) Calls() CallStats {
	st := CallStats{ByAPI: map[string]int{}, ByPrincipal: map[string]int{}, ByRegion: map[string]int{}, ByCode: map[string]int{}, Calls: []CallCount{}}
	s.callsMu.Lock()
	for k, n := range s.calls {
		st.Calls = append(st.Calls, CallCount{API: k.api, Principal: k.principal, Region: k.region, Code: k.code, Count: n})
		st.Total += n
		st.ByAPI[k.api] += n
		st.ByPrincipal[k.principal] += n
		st.ByRegion[k.region] += n
		if k.code != "" {
			st.Errors += n
			st.ByCode[k.code] += n
		}
	}
	s.callsMu.Unlock()
	sort.Slice(st.Calls, func(i, j int) bool {
		a, b := st.Calls[i], st.Calls[j]
		if a.API != b.API {
			return a.API < b.API
		}
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		return a.Code < b.Code
	})
	return st
}

// ResetCalls zeroes the call counters.
func (s *Server) ResetCalls() {
	s.callsMu.Lock()
	s.calls = map[callKey]int{}
	s.callsMu.Unlock()
}

// ---- faults ----

// Fault makes matching calls slow, fail, or end badly. A fault matches a call when API, Region
// and Principal all match; each matching call gets LatencyMS first and then, if set, the error
// (ErrorCode or Throttle), or the connection fault (Drop or Hang), or, once the call has
// succeeded, the spoiled answer (Response).
type Fault struct {
	// ID is assigned by SetFault.
	ID string `json:"id,omitempty"`
	// API is an API name as in CallCount.API or a glob ("secretsmanager:*", "*"); "" = any.
	API string `json:"api,omitempty"`
	// Region limits the fault to calls in one region; "" = any.
	Region string `json:"region,omitempty"`
	// Principal is a glob over the counting principal (see CallCount.Principal); "" = any.
	Principal string `json:"principal,omitempty"`
	// LatencyMS delays each matching call.
	LatencyMS int `json:"latencyMs,omitempty"`
	// ErrorCode is returned in the protocol's error shape (e.g. InternalServiceError, AccessDeniedException).
	ErrorCode string `json:"errorCode,omitempty"`
	// Status is the HTTP status of the error; default 400, or 500 for Internal*/ServiceUnavailable codes.
	Status int `json:"status,omitempty"`
	// Message of the error; default "injected by fakeaws".
	Message string `json:"message,omitempty"`
	// Throttle is a shorthand for the protocol's throttling error (ThrottlingException 400,
	// Throttling 400 for STS, 429 for the credential endpoints), which the SDK retries.
	Throttle bool `json:"throttle,omitempty"`
	// Count limits the fault to the next Count matching calls; 0 = until cleared.
	Count int `json:"count,omitempty"`
	// Probability in (0,1) makes only that share of matching calls fault; 0 or >= 1 = all.
	Probability float64 `json:"probability,omitempty"`

	// Drop closes the connection without an answer, before the call takes effect: what a
	// client sees of an endpoint that is not serving yet (the Pod Identity agent on a fresh
	// node). The call is counted with code Dropped.
	Drop bool `json:"drop,omitempty"`
	// Hang reads the request and never answers: the connection is closed when the client
	// gives up, or after HangMS (default DefaultHangMS). The call is counted with code Hung.
	Hang bool `json:"hang,omitempty"`
	// HangMS bounds a Hang.
	HangMS int `json:"hangMs,omitempty"`
	// Response spoils the answer of a matching call that succeeds (the call itself takes
	// effect; errors are answered as usual): one of the Response* kinds.
	Response string `json:"response,omitempty"`
	// TrickleMS is the pause between the bytes of ResponseTrickle (default 100).
	TrickleMS int `json:"trickleMs,omitempty"`
	// EndlessBytes is the length of the body of ResponseEndless (default 1 GiB); it is made
	// as it is sent, never held in memory.
	EndlessBytes int64 `json:"endlessBytes,omitempty"`
}

// The kinds of Fault.Response: answers a client must not take for good ones.
const (
	// ResponseBadJSON is a 200 whose body is cut in half and ends in bytes of no protocol.
	ResponseBadJSON = "bad-json"
	// ResponseTruncated promises the whole answer (Content-Length), sends half of it and
	// closes the connection.
	ResponseTruncated = "truncated"
	// ResponseEmpty is a 200 with the protocol's Content-Type and no body.
	ResponseEmpty = "empty"
	// ResponseHTML is a 200 text/html page, as a proxy or captive portal answers.
	ResponseHTML = "html"
	// ResponseContentType is the right body under a wrong Content-Type (text/plain).
	ResponseContentType = "content-type"
	// ResponseEndless is a 200 whose body opens a string and goes on for EndlessBytes.
	ResponseEndless = "endless"
	// ResponseTrickle is the right answer, one byte every TrickleMS.
	ResponseTrickle = "trickle"
)

// DefaultHangMS bounds a Hang fault whose HangMS is 0.
const DefaultHangMS = 30_000

// DefaultEndlessBytes is the body length of ResponseEndless when EndlessBytes is 0.
const DefaultEndlessBytes = 1 << 30

var responseKinds = []string{ResponseBadJSON, ResponseTruncated, ResponseEmpty, ResponseHTML, ResponseContentType,
	ResponseEndless, ResponseTrickle}

// Validate reports a Response kind this fake does not know (the admin API refuses such a
// fault; SetFault installs it, and an unknown kind spoils nothing).
func (f Fault) Validate() error {
	if f.Response != "" && !contains(responseKinds, f.Response) {
		return fmt.Errorf("fault response %q: must be one of %s", f.Response, strings.Join(responseKinds, ", "))
	}
	if f.HangMS < 0 || f.TrickleMS < 0 || f.EndlessBytes < 0 || f.LatencyMS < 0 || f.Count < 0 {
		return errors.New("fault durations, sizes and count must not be negative")
	}
	return nil
}

type faultState struct {
	f         Fault
	remaining int // -1 = unlimited
}

// SetFault installs a fault and returns its id.
func (s *Server) SetFault(f Fault) string {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	s.faultSeq++
	f.ID = "f" + strconv.Itoa(s.faultSeq)
	rem := f.Count
	if rem <= 0 {
		rem = -1
	}
	s.faults = append(s.faults, &faultState{f: f, remaining: rem})
	return f.ID
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.faultsMu.Lock()
	s.faults = nil
	s.faultsMu.Unlock()
}

// RemoveFault removes one fault by id and reports whether it existed.
func (s *Server) RemoveFault(id string) bool {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	for i, f := range s.faults {
		if f.f.ID == id {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return true
		}
	}
	return false
}

// Faults lists the active faults (Count shows the calls left for counted faults).
func (s *Server) Faults() []Fault {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		c := f.f
		if f.remaining > 0 {
			c.Count = f.remaining
		}
		out = append(out, c)
	}
	return out
}

// matchFault finds the faults for a call: the sum of their latencies, the first error, and the
// first of each other effect.
func (s *Server) matchFault(api, region, principalKey string, p protocol) *effect {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	fx := &effect{}
	kept := s.faults[:0]
	for _, fs := range s.faults {
		f := fs.f
		match := (f.API == "" || globMatch(f.API, api)) &&
			(f.Region == "" || f.Region == region) &&
			(f.Principal == "" || globMatch(f.Principal, principalKey))
		if match && f.Probability > 0 && f.Probability < 1 && rand.Float64() >= f.Probability {
			match = false
		}
		if match {
			fx.latency += time.Duration(f.LatencyMS) * time.Millisecond
			if fx.err == nil {
				fx.err = faultError(f, p)
			}
			fx.add(f)
			if fs.remaining > 0 {
				fs.remaining--
				if fs.remaining == 0 {
					continue // used up
				}
			}
		}
		kept = append(kept, fs)
	}
	s.faults = kept
	return fx
}

func faultError(f Fault, p protocol) *apiError {
	msg := f.Message
	if msg == "" {
		msg = "injected by fakeaws"
	}
	if f.Throttle {
		status := http.StatusBadRequest
		if p == protoPodIdentity || p == protoIMDS {
			status = http.StatusTooManyRequests
		}
		if f.Message == "" {
			msg = "Rate exceeded"
		}
		return &apiError{Code: p.throttleCode(), Message: msg, Status: status}
	}
	if f.ErrorCode == "" {
		return nil
	}
	status := f.Status
	if status == 0 {
		status = http.StatusBadRequest
		if strings.HasPrefix(f.ErrorCode, "Internal") || f.ErrorCode == "ServiceUnavailable" || f.ErrorCode == "ServiceUnavailableException" {
			status = http.StatusInternalServerError
		}
	}
	return &apiError{Code: f.ErrorCode, Message: msg, Status: status}
}

// ---- admin HTTP API ----

// serveAdmin serves /_fake/: healthz, calls, reset-calls, faults, secrets, parameters, roles,
// users, issuers, pod-identity-associations, expire-sessions. Bodies are JSON.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_fake"), "/")
	ok := func(v any) { writeJSON(w, http.StatusOK, "application/json", v) }
	bad := func(err error) {
		writeJSON(w, http.StatusBadRequest, "application/json", map[string]string{"error": err.Error()})
	}
	decode := func(v any) bool {
		b, err := readBody(r)
		if err == nil {
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			err = dec.Decode(v)
		}
		if err != nil {
			bad(fmt.Errorf("decode body: %w", err))
			return false
		}
		return true
	}
	switch route {
	case "GET /healthz":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	case "GET /calls":
		ok(s.Calls())
	case "POST /reset-calls", "DELETE /calls":
		s.ResetCalls()
		ok(map[string]bool{"reset": true})
	case "GET /faults":
		ok(s.Faults())
	case "POST /faults":
		var f Fault
		if !decode(&f) {
			return
		}
		if err := f.Validate(); err != nil {
			bad(err)
			return
		}
		ok(map[string]string{"id": s.SetFault(f)})
	case "DELETE /faults":
		if id := r.URL.Query().Get("id"); id != "" {
			ok(map[string]bool{"removed": s.RemoveFault(id)})
			return
		}
		s.ClearFaults()
		ok(map[string]bool{"cleared": true})
	case "PUT /secrets", "POST /secrets":
		var u SecretUpdate
		if !decode(&u) {
			return
		}
		id, err := s.PutSecretVersion(u)
		if err != nil {
			bad(err)
			return
		}
		ok(map[string]string{"name": u.Name, "versionId": id, "arn": s.SecretARN(u.Name, u.Region)})
	case "PUT /parameters", "POST /parameters":
		var p struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		}
		if !decode(&p) {
			return
		}
		v, err := s.PutParameter(p.Name, p.Value)
		if err != nil {
			bad(err)
			return
		}
		ok(map[string]any{"name": p.Name, "version": v})
	case "PUT /roles", "POST /roles":
		var role Role
		if !decode(&role) {
			return
		}
		if err := s.AddRole(role); err != nil {
			bad(err)
			return
		}
		ok(map[string]string{"arn": role.ARN})
	case "PUT /users", "POST /users":
		var u User
		if !decode(&u) {
			return
		}
		if err := s.AddUser(u); err != nil {
			bad(err)
			return
		}
		ok(map[string]string{"accessKeyId": u.AccessKeyID})
	case "PUT /issuers", "POST /issuers":
		var is Issuer
		if !decode(&is) {
			return
		}
		if err := s.addIssuerConfig(is); err != nil {
			bad(err)
			return
		}
		ok(map[string]string{"issuer": is.Issuer})
	case "PUT /pod-identity-associations", "POST /pod-identity-associations":
		var a PodIdentityAssociation
		if !decode(&a) {
			return
		}
		if err := s.AddPodIdentityAssociation(a); err != nil {
			bad(err)
			return
		}
		ok(a)
	case "POST /expire-sessions":
		s.ExpireSessions()
		ok(map[string]bool{"expired": true})
	default:
		writeJSON(w, http.StatusNotFound, "application/json", map[string]string{"error": "unknown admin route " + route})
	}
}
