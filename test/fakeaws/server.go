package fakeaws

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultPodIdentityPath is the path of the EKS Pod Identity agent endpoint.
const DefaultPodIdentityPath = "/v1/credentials"

// PodIdentityAudience is the audience the Pod Identity endpoint requires in the token.
const PodIdentityAudience = "pods.eks.amazonaws.com"

// STSAudience is the default audience STS AssumeRoleWithWebIdentity accepts.
const STSAudience = "sts.amazonaws.com"

// maxBody caps request bodies (AWS caps secrets at 64 KiB; requests are small).
const maxBody = 1 << 20

// Option configures a Server.
type Option func(*options)

type options struct {
	logger          *slog.Logger
	httpClient      *http.Client
	podIdentityPath string
	now             func() time.Time
}

// WithLogger sets the logger for one line per request (API, principal, region, result; never a
// value). Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithHTTPClient sets the client used to fetch JWKS / OIDC discovery documents of issuers from the
// state file that do not name their own CAFile. Default http.DefaultClient.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithPodIdentityPath sets the path of the Pod Identity agent endpoint (default /v1/credentials).
func WithPodIdentityPath(p string) Option { return func(o *options) { o.podIdentityPath = p } }

// WithClock replaces time.Now for JWT time claims and for the expiry of issued credentials, so a
// test can move time forward. SigV4's 15-minute skew check keeps using the wall clock, like the
// SDK's signer.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Server is a running (or not yet started) fake AWS. All methods are safe for concurrent use.
type Server struct {
	opts options
	log  *slog.Logger

	mu         sync.RWMutex
	region     string
	account    string
	credTTL    time.Duration
	users      map[string]*User // by access key id
	roles      map[string]*Role // by ARN
	secrets    []*secretEntry
	params     []*paramEntry
	issuers    map[string]*issuerState // by iss
	pia        []PodIdentityAssociation
	nodeRole   *NodeRole
	sessions   map[string]*session // by access key id
	imdsTokens map[string]time.Time
	imdsCreds  *session

	callsMu sync.Mutex
	calls   map[callKey]int

	faultsMu sync.Mutex
	faults   []*faultState
	faultSeq int

	lnMu      sync.Mutex
	listeners []*listener
	url       string
	addr      string
}

type listener struct {
	srv  *http.Server
	done chan struct{}

	mu       sync.Mutex
	newConns map[net.Conn]bool // accepted, no request read yet
}

// trackConn remembers connections that have not sent a request, so Close can drop them at once
// (http.Server.Shutdown waits 5 s for those).
func (l *listener) trackConn(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st == http.StateNew {
		l.newConns[c] = true
	} else {
		delete(l.newConns, c)
	}
}

func (l *listener) closeNewConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.newConns {
		_ = c.Close()
	}
}

// New builds a fake from a State. It does not listen yet: call Start, or use it as an
// http.Handler.
func New(st State, opts ...Option) (*Server, error) {
	o := options{podIdentityPath: DefaultPodIdentityPath, now: time.Now, httpClient: http.DefaultClient}
	for _, fn := range opts {
		fn(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts: o, log: o.logger,
		region: st.Region, account: st.AccountID, credTTL: st.CredentialTTL.Duration,
		users: map[string]*User{}, roles: map[string]*Role{}, issuers: map[string]*issuerState{},
		sessions: map[string]*session{}, imdsTokens: map[string]time.Time{}, calls: map[callKey]int{},
	}
	if s.region == "" {
		s.region = DefaultRegion
	}
	if s.account == "" {
		s.account = DefaultAccountID
	}
	if s.credTTL <= 0 {
		s.credTTL = time.Hour
	}
	for _, u := range st.Users {
		if err := s.AddUser(u); err != nil {
			return nil, err
		}
	}
	for _, r := range st.Roles {
		if err := s.AddRole(r); err != nil {
			return nil, err
		}
	}
	now := s.now()
	for _, sec := range st.Secrets {
		e, err := buildSecret(sec, now)
		if err != nil {
			return nil, err
		}
		for _, other := range s.secrets {
			if other.name == e.name && regionsOverlap(other.regions, e.regions) {
				return nil, fmt.Errorf("secret %q listed twice for the same region", e.name)
			}
		}
		s.secrets = append(s.secrets, e)
	}
	for _, p := range st.Parameters {
		e, err := buildParameter(p, now)
		if err != nil {
			return nil, err
		}
		for _, other := range s.params {
			if other.name == e.name && regionsOverlap(other.regions, e.regions) {
				return nil, fmt.Errorf("parameter %q listed twice for the same region", e.name)
			}
		}
		s.params = append(s.params, e)
	}
	for _, is := range st.Issuers {
		if err := s.addIssuerConfig(is); err != nil {
			return nil, err
		}
	}
	for _, a := range st.PodIdentityAssociations {
		if err := s.AddPodIdentityAssociation(a); err != nil {
			return nil, err
		}
	}
	if st.NodeRole != nil {
		if _, ok := s.roles[st.NodeRole.ARN]; !ok {
			return nil, fmt.Errorf("nodeRole %s must also be listed in roles (for its allow globs)", st.NodeRole.ARN)
		}
		if err := s.SetNodeRole(*st.NodeRole); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Load builds a fake from a YAML state file.
func Load(path string, opts ...Option) (*Server, error) {
	st, err := LoadState(path)
	if err != nil {
		return nil, err
	}
	return New(st, opts...)
}

// Start listens on addr (":0" or "127.0.0.1:0" picks a free port; a bare ":PORT" binds 127.0.0.1)
// and serves in the background until Close.
func (s *Server) Start(addr string) error {
	return s.start(addr, nil)
}

// StartTLS is Start with TLS from a PEM certificate and key file.
func (s *Server) StartTLS(addr, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("load tls key pair: %w", err)
	}
	return s.start(addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
}

func (s *Server) start(addr string, tlsCfg *tls.Config) error {
	if s.url != "" {
		return errors.New("fakeaws: already started")
	}
	u, err := s.serve(addr, tlsCfg)
	if err != nil {
		return err
	}
	s.lnMu.Lock()
	s.url, s.addr = u, strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	s.lnMu.Unlock()
	return nil
}

// Listen serves the same endpoints on one more address over plain HTTP and returns its URL. Use it
// for addresses clients insist on, e.g. 169.254.170.23:80 (the EKS Pod Identity agent address,
// which the SDK accepts over http besides loopback) or 169.254.169.254:80 (IMDS), inside a
// network namespace a test owns. URL() stays the Start address.
func (s *Server) Listen(addr string) (string, error) {
	return s.serve(addr, nil)
}

func (s *Server) serve(addr string, tlsCfg *tls.Config) (string, error) {
	return s.serveWith(addr, tlsCfg, s)
}

func (s *Server) serveWith(addr string, tlsCfg *tls.Config, h http.Handler) (string, error) {
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	scheme := "http"
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	l := &listener{done: make(chan struct{}), newConns: map[net.Conn]bool{}}
	l.srv = &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnState: l.trackConn,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.lnMu.Lock()
	s.listeners = append(s.listeners, l)
	s.lnMu.Unlock()
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "addr", addr, "err", err)
		}
	}()
	return scheme + "://" + ln.Addr().String(), nil
}

// URL is the base URL, e.g. http://127.0.0.1:41234 (empty before Start). Use it as
// AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_STS, see Env), AWS_EC2_METADATA_SERVICE_ENDPOINT, and
// PodIdentityURL() as AWS_CONTAINER_CREDENTIALS_FULL_URI.
func (s *Server) URL() string { return s.url }

// Addr is the listening address (host:port) of Start, empty before Start.
func (s *Server) Addr() string { return s.addr }

// PodIdentityURL is the full URL of the Pod Identity agent endpoint.
func (s *Server) PodIdentityURL() string { return s.url + s.opts.podIdentityPath }

// Env returns the environment that points the SDK's default chain at the fake: AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_STS (needed: the SDK builds the web identity provider's STS client before it
// applies AWS_ENDPOINT_URL, and that client ignores AWS_ENDPOINT_URL when AWS_ENDPOINT_URL_STS is
// unset, so IRSA would otherwise call the real STS) and AWS_EC2_METADATA_SERVICE_ENDPOINT.
// Credentials and region are left to the caller.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.url,
		"AWS_ENDPOINT_URL_STS=" + s.url,
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + s.url,
	}
}

// Close stops every listener, drops connections that never sent a request, waits up to 2 s for
// in-flight requests, then closes what is left.
func (s *Server) Close() error {
	s.lnMu.Lock()
	ls := s.listeners
	s.listeners = nil
	s.lnMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, l := range ls {
		l.closeNewConns()
		if err := l.srv.Shutdown(ctx); err != nil {
			if cerr := l.srv.Close(); cerr != nil {
				errs = append(errs, fmt.Errorf("close: %w", cerr))
			}
		}
		<-l.done
	}
	return errors.Join(errs...)
}

// Region is the default region of the fake.
func (s *Server) Region() string { return s.region }

// AccountID is the account of every ARN.
func (s *Server) AccountID() string { return s.account }

func (s *Server) now() time.Time { return s.opts.now() }

// The services StartService can serve alone.
const (
	ServiceSTS            = "sts"
	ServiceSecretsManager = "secretsmanager"
	ServiceSSM            = "ssm"
)

// StartService serves one service alone on another address of the same fake
// (same state, same counters): a per-service endpoint (AWS_ENDPOINT_URL_STS,
// AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_SSM), so that a client
// sending one service's calls to another's endpoint fails. A request for any
// other service gets 421 Misdirected Request and is counted under the API
// "fakeaws:WrongEndpoint". It returns the listener's URL.
func (s *Server) StartService(addr, service string) (string, error) {
	switch service {
	case ServiceSTS, ServiceSecretsManager, ServiceSSM:
	default:
		return "", fmt.Errorf("fakeaws: unknown service %q (sts, secretsmanager, ssm)", service)
	}
	return s.serveWith(addr, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := serviceOf(r); got != service {
			s.record("fakeaws:WrongEndpoint", "", "", newErr(http.StatusMisdirectedRequest, "WrongEndpoint", ""))
			http.Error(w, fmt.Sprintf("fakeaws: this endpoint serves %s only, got a %s request", service, got), http.StatusMisdirectedRequest)
			return
		}
		s.ServeHTTP(w, r)
	}))
}

// serviceOf names the service a request is for.
func serviceOf(r *http.Request) string {
	switch t := r.Header.Get("X-Amz-Target"); {
	case strings.HasPrefix(t, "secretsmanager."):
		return ServiceSecretsManager
	case strings.HasPrefix(t, "AmazonSSM."):
		return ServiceSSM
	case t != "":
		return "unknown JSON"
	}
	if (r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")) ||
		(r.Method == http.MethodGet && r.URL.Query().Get("Action") != "") {
		return ServiceSTS
	}
	return "non-AWS (" + r.URL.Path + ")"
}

// ServeHTTP routes a request to the protocol it speaks.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/_fake/"):
		s.serveAdmin(w, r)
	case strings.HasPrefix(path, "/latest/"):
		s.serveIMDS(w, r)
	case path == s.opts.podIdentityPath:
		s.servePodIdentity(w, r)
	case r.Header.Get("X-Amz-Target") != "":
		s.serveJSONProtocol(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"),
		r.Method == http.MethodGet && r.URL.Query().Get("Action") != "":
		s.serveSTS(w, r)
	default:
		http.Error(w, "fakeaws: unknown endpoint "+path, http.StatusNotFound)
	}
}

// ---- errors ----

// apiError is an AWS error: a code, a message without secret values, and an HTTP status.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newErr(status int, code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// protocol tells how an error is rendered (and which throttling code applies).
type protocol int

const (
	protoJSON protocol = iota
	protoQuery
	protoPodIdentity
	protoIMDS
)

func (p protocol) throttleCode() string {
	if p == protoQuery {
		return "Throttling"
	}
	return "ThrottlingException"
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "fakeaws: encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeJSONError renders an awsJson1.1 error: __type + message and the x-amzn-ErrorType header.
func writeJSONError(w http.ResponseWriter, e *apiError, messageKey string) {
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	writeJSON(w, e.Status, "application/x-amz-json-1.1", map[string]string{"__type": e.Code, messageKey: e.Message})
}

// ---- ids and randomness ----

func randString(n int, alphabet string) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err))
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

const (
	upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	alnum       = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// ---- principals and sessions ----

// session is a set of temporary credentials issued by STS, Pod Identity or IMDS.
type session struct {
	akid, secret, token string
	roleARN             string
	sessionName         string
	expires             time.Time
	source              string
}

func (s *session) arn() string {
	return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", accountFromARN(s.roleARN), roleNameFromARN(s.roleARN), s.sessionName)
}

// principal is an authenticated caller.
type principal struct {
	arn     string // caller ARN: user ARN or assumed-role ARN
	key     string // what calls are counted under: user ARN or role ARN
	user    *User
	session *session
}

func (s *Server) userARN(u *User) string {
	return fmt.Sprintf("arn:aws:iam::%s:user/%s", s.account, u.Name)
}

// policy returns the allow globs of a principal (read under s.mu); roles are looked up at call
// time, so changing a role's policy affects sessions already issued (like IAM).
func (s *Server) policy(p *principal) []string {
	if p.user != nil {
		return p.user.Allow
	}
	if r, ok := s.roles[p.session.roleARN]; ok {
		return r.Allow
	}
	return nil
}

// issueSession creates credentials for a role. Caller holds s.mu for writing.
func (s *Server) issueSession(roleARN, sessionName string, ttl time.Duration, source string) *session {
	se := &session{
		akid:        "ASIA" + randString(16, upperDigits),
		secret:      randString(40, alnum),
		token:       "FQoGZXIvYXdzE" + randString(180, alnum),
		roleARN:     roleARN,
		sessionName: sessionName,
		expires:     s.now().Add(ttl).Truncate(time.Second),
		source:      source,
	}
	s.sessions[se.akid] = se
	// Drop long-expired sessions so a long test run does not grow without bound.
	for k, v := range s.sessions {
		if s.now().Sub(v.expires) > time.Hour {
			delete(s.sessions, k)
		}
	}
	return se
}

func roleID(roleARN string) string {
	return "AROA" + strings.ToUpper(strings.ReplaceAll(derivedUUID("role", roleARN), "-", ""))[:17]
}

// ---- Go API: principals, issuers ----

// AddUser adds or replaces (by access key id) a user.
func (s *Server) AddUser(u User) error {
	if u.AccessKeyID == "" || u.SecretAccessKey == "" {
		return errors.New("user needs accessKeyId and secretAccessKey")
	}
	if u.Name == "" {
		u.Name = "user-" + strings.ToLower(u.AccessKeyID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.AccessKeyID] = &u
	return nil
}

// AddRole adds or replaces (by ARN) a role. Replacing changes the policy of sessions already issued.
func (s *Server) AddRole(r Role) error {
	if err := validateRoleARN(r.ARN); err != nil {
		return err
	}
	if r.MaxSessionDuration.Duration <= 0 {
		r.MaxSessionDuration.Duration = time.Hour
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[r.ARN] = &r
	return nil
}

// SetRoleAllow replaces the allow globs of an existing role.
func (s *Server) SetRoleAllow(roleARN string, allow ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.roles[roleARN]
	if !ok {
		return fmt.Errorf("no role %s", roleARN)
	}
	cp := *r
	cp.Allow = append([]string(nil), allow...)
	s.roles[roleARN] = &cp
	return nil
}

// AddPodIdentityAssociation maps (namespace, service account) to a role, replacing an earlier one.
func (s *Server) AddPodIdentityAssociation(a PodIdentityAssociation) error {
	if a.Namespace == "" || a.ServiceAccount == "" {
		return errors.New("pod identity association needs namespace and serviceAccount")
	}
	if err := validateRoleARN(a.RoleARN); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.pia[:0]
	for _, o := range s.pia {
		if o.Namespace != a.Namespace || o.ServiceAccount != a.ServiceAccount {
			out = append(out, o)
		}
	}
	s.pia = append(out, a)
	return nil
}

// SetNodeRole sets the instance-profile role served by IMDS.
func (s *Server) SetNodeRole(n NodeRole) error {
	if err := validateRoleARN(n.ARN); err != nil {
		return err
	}
	if n.InstanceID == "" {
		n.InstanceID = "i-0123456789abcdef0"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.AvailabilityZone == "" {
		n.AvailabilityZone = s.region + "a"
	}
	s.nodeRole = &n
	s.imdsCreds = nil
	return nil
}

// ExpireSessions makes every credential issued so far expired: the next signed call with them gets
// ExpiredTokenException, as after their real expiry.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.now().Add(-time.Second)
	for _, se := range s.sessions {
		se.expires = past
	}
	s.imdsCreds = nil
}

// SessionCount is the number of credentials issued and not yet expired.
func (s *Server) SessionCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, se := range s.sessions {
		if se.expires.After(s.now()) {
			n++
		}
	}
	return n
}

// ---- shared request plumbing ----

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(b) > maxBody {
		return nil, errors.New("request body too large")
	}
	return b, nil
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// applyFaults sleeps the injected latency of the faults matching a call and returns their
// effect (never nil): the error, a connection fault, a spoiled answer.
func (s *Server) applyFaults(ctx context.Context, api, region, principalKey string, p protocol) *effect {
	fx := s.matchFault(api, region, principalKey, p)
	sleepCtx(ctx, fx.latency)
	return fx
}

// noEffect is the effect of a call no fault matched.
var noEffect = &effect{}

func (s *Server) logCall(api, principalKey, region string, err *apiError, d time.Duration) {
	if err != nil {
		s.log.Info("call", "api", api, "principal", principalKey, "region", region, "error", err.Code, "status", err.Status, "took", d)
		return
	}
	s.log.Debug("call", "api", api, "principal", principalKey, "region", region, "took", d)
}

// ---- awsJson1.1 dispatch (Secrets Manager and SSM) ----

// jsonHandler serves one awsJson1.1 operation for an authenticated caller in a region.
type jsonHandler func(p *principal, region string, body []byte) (any, *apiError)

func (s *Server) serveJSONProtocol(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set("X-Amzn-RequestId", newUUID())
	prefix, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	var service, msgKey string
	var h jsonHandler
	switch prefix {
	case "secretsmanager":
		service, msgKey, h = "secretsmanager", "Message", s.secretsManagerOp(op)
	case "AmazonSSM":
		service, msgKey, h = "ssm", "message", s.ssmOp(op)
	default:
		writeJSONError(w, newErr(http.StatusBadRequest, "UnknownOperationException", "unknown target %q", prefix), "message")
		return
	}
	api := service + ":" + op
	var (
		p      *principal
		region string
		aerr   *apiError
		out    any
	)
	body, err := readBody(r)
	if err != nil {
		aerr = newErr(http.StatusBadRequest, "SerializationException", "%v", err)
	}
	if aerr == nil {
		p, region, aerr = s.authenticate(r, body, service, jsonAuthErrors)
	}
	key := "anonymous"
	if p != nil {
		key = p.key
	}
	if aerr == nil && h == nil {
		aerr = newErr(http.StatusBadRequest, "UnknownOperationException", "fakeaws does not implement %s", api)
	}
	fx := noEffect
	if aerr == nil {
		fx = s.applyFaults(r.Context(), api, region, key, protoJSON)
		aerr = fx.err
	}
	if aerr == nil {
		s.stalled(r, fx, api, key, region, start)
		out, aerr = h(p, region, body)
	}
	s.record(api, key, region, aerr)
	s.logCall(api, key, region, aerr, time.Since(start))
	if aerr != nil {
		writeJSONError(w, aerr, msgKey)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		http.Error(w, "fakeaws: encode response", http.StatusInternalServerError)
		return
	}
	deliver(w, r, fx, http.StatusOK, "application/x-amz-json-1.1", b)
}

// decodeJSON decodes an awsJson request body ({} when empty).
func decodeJSON(body []byte, v any) *apiError {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return newErr(http.StatusBadRequest, "SerializationException", "cannot decode request: %v", err)
	}
	return nil
}

// accessDenied is the identity-policy AccessDeniedException for one action and resource.
func accessDenied(p *principal, action, resourceARN string) *apiError {
	return newErr(http.StatusBadRequest, "AccessDeniedException",
		"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		p.arn, action, resourceARN, action)
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
