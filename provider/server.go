package provider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
	"github.com/seed-ddac166a/aws-secrets-injector/version"
)

// Config holds a Server's settings and dependencies.
type Config struct {
	// Pipeline is the core's one pipeline (identity, batched fetch with the
	// node cache keyed by identity, extraction), shared by every Mount.
	Pipeline *pipeline.Pipeline
	// ServiceAccounts reads the pod's ServiceAccount annotations (IRSA).
	ServiceAccounts ServiceAccounts
	// DefaultRegion is used for classes without a region.
	DefaultRegion string
	// StrictClasses refuses a Mount whose class has what the AWS provider
	// accepts but is likely a mistake (an unknown key).
	StrictClasses bool
	// RegionLooked lists where DefaultRegion was looked for, for the error of
	// a class without a region when none was found.
	RegionLooked []string
	// FetchTimeout bounds one Mount's work (default DefaultFetchTimeout);
	// the driver's own deadline (the kubelet's) still applies.
	FetchTimeout time.Duration
	// MaxResponseBytes is the driver's receive limit: a response at or over
	// it is refused (default DriverMaxRecvMsgSize).
	MaxResponseBytes int
	// Metrics records Prometheus metrics; nil creates a private registry.
	Metrics *Metrics
	// Log receives structured logs (never a secret value or a token).
	Log logr.Logger
}

// DefaultFetchTimeout bounds one Mount unless Config.FetchTimeout says otherwise.
const DefaultFetchTimeout = 30 * time.Second

// Server is the provider: the driver's v1alpha1 CSIDriverProvider service.
// It keeps no state of its own between calls (the node cache lives in the
// pipeline's fetcher), so a rotation Mount is answered like a first one and
// a restart loses nothing.
type Server struct {
	v1alpha1.UnimplementedCSIDriverProviderServer
	cfg Config
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Pipeline == nil || cfg.ServiceAccounts == nil {
		return nil, errors.New("provider: pipeline and service account reader are required")
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DriverMaxRecvMsgSize
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Server{cfg: cfg}, nil
}

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.cfg.Metrics }

// Version answers the driver's health check. The driver only logs the answer.
func (s *Server) Version(context.Context, *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{Version: APIVersion, RuntimeName: RuntimeName, RuntimeVersion: version.Version}, nil
}

// Mount returns the files of the pod's SecretProviderClass for the driver to
// write, and the objects' versions. Steps:
//  1. decode and validate the request (no AWS or API server call before it passes);
//  2. read the ServiceAccount's annotations (IRSA), unless the class asks for Pod Identity;
//  3. run the core's pipeline as the pod: parse, identity, fetch, extract;
//  4. encode the response, bounded by the driver's receive limit.
//
// A failure is a gRPC error whose text starts with its reason (the driver
// puts the text in the pod's events): MountResponse.error is never set, so
// the driver's error metric says GRPCProviderError, as for ASCP.
func (s *Server) Mount(ctx context.Context, req *v1alpha1.MountRequest) (*v1alpha1.MountResponse, error) {
	start := time.Now()
	// 1.
	m, err := decodeMount(req)
	if err != nil {
		return nil, s.fail(nil, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	// 2.
	ann, err := s.annotations(ctx, m)
	if err != nil {
		return nil, s.fail(m, err)
	}
	// 3.
	res, err := s.cfg.Pipeline.Load(ctx, pipeline.Request{
		Class: m.ClassRef(), Params: m.Params, RegionLooked: s.cfg.RegionLooked,
		Parse: spc.Options{DefaultRegion: s.cfg.DefaultRegion, DefaultFileMode: m.Mode, Strict: s.cfg.StrictClasses},
		Pod:   &identity.Request{Namespace: m.Namespace, ServiceAccount: m.ServiceAccount, Annotations: ann, Tokens: m.Tokens},
	})
	if err != nil {
		return nil, s.fail(m, err)
	}
	// 4.
	resp, err := encode(res, s.cfg.MaxResponseBytes)
	if err != nil {
		return nil, s.fail(m, err)
	}
	outcome, changed := rotation(m.Current, resp.GetObjectVersion())
	s.cfg.Metrics.mounts.WithLabelValues(outcome).Inc()
	s.cfg.Metrics.mountSeconds.Observe(time.Since(start).Seconds())
	log := s.cfg.Log.WithValues("pod", m.PodRef(), "class", m.ClassRef(), "identity", res.Identity.Key,
		"files", len(resp.GetFiles()), "bytes", res.Bytes())
	if outcome == outcomeRotated {
		log.Info("rotated: versions changed", "objectsChanged", changed)
	} else {
		log.V(1).Info(outcome)
	}
	for _, w := range res.Warnings {
		log.V(1).Info("SecretProviderClass warning", "warning", w.Error())
	}
	return resp, nil
}

// annotations reads the pod's ServiceAccount annotations unless the class
// sets usePodIdentity (read as package spc reads it; a malformed value reads
// the annotations and fails in the pipeline's parse stage).
func (s *Server) annotations(ctx context.Context, m *mount) (map[string]string, error) {
	if v := m.Params[spc.ParamUsePodIdentity]; v != "" {
		if b, err := strconv.ParseBool(v); err == nil && b {
			return nil, nil
		}
	}
	ann, err := s.cfg.ServiceAccounts.Annotations(ctx, m.Namespace, m.ServiceAccount)
	if err == nil {
		return ann, nil
	}
	sa := secrets.Quote(m.Namespace + "/" + m.ServiceAccount)
	switch {
	case apierrors.IsNotFound(err):
		return nil, reason.Wrap(reason.NoIdentity, fmt.Errorf("ServiceAccount %s not found", sa))
	case apierrors.IsForbidden(err):
		return nil, reason.Wrap(reason.KubernetesAPI, fmt.Errorf("get ServiceAccount %s: forbidden: the provider's ClusterRole must allow get, list and watch on serviceaccounts", sa))
	}
	return nil, reason.Wrap(reason.KubernetesAPI, fmt.Errorf("get ServiceAccount %s: %w", sa, err))
}

// rotation tells a first mount from a rotation call that changed versions or
// not, comparing the versions returned with the current ones.
func rotation(current map[string]string, got []*v1alpha1.ObjectVersion) (outcome string, changed int) {
	if len(current) == 0 {
		return outcomeMounted, 0
	}
	for _, v := range got {
		if cur, ok := current[v.GetId()]; !ok || cur != strings.TrimSpace(v.GetVersion()) {
			changed++
		}
	}
	if changed == 0 {
		return outcomeUnchanged, 0
	}
	return outcomeRotated, changed
}

// fail counts a failed Mount and turns err into the gRPC status the driver
// reports: the reason first, then the message (never a value or a token).
func (s *Server) fail(m *mount, err error) error {
	r := reason.Of(err)
	s.cfg.Metrics.failures.WithLabelValues(string(r)).Inc()
	msg := err.Error()
	if m != nil && m.ClassRef() == "" {
		msg = "pod " + m.PodRef() + ": " + msg // the rotation path does not name the class
	}
	return status.Error(grpcCode(r), string(r)+": "+pipeline.OneLine(msg))
}

// grpcCode maps a failure reason to the gRPC status of the provider API. The
// driver retries UNAVAILABLE only (three attempts), so only what may pass gets it.
func grpcCode(r reason.Reason) codes.Code {
	switch r {
	case reason.InvalidRequest:
		return codes.InvalidArgument
	case reason.InvalidClass, reason.NotFound, reason.Decryption, reason.InvalidValue, reason.AWSError, reason.LimitExceeded:
		return codes.FailedPrecondition
	case reason.AccessDenied, reason.NoIdentity:
		return codes.PermissionDenied
	case reason.Throttled, reason.AWSUnavailable, reason.KubernetesAPI, reason.CredentialsUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// NewGRPCServer returns a gRPC server serving s, with a logging interceptor
// that never logs a secret value or a token, and the driver's receive limit
// as its send limit.
func (s *Server) NewGRPCServer() *grpc.Server {
	gs := grpc.NewServer(grpc.UnaryInterceptor(logInterceptor(s.cfg.Log)), grpc.MaxSendMsgSize(s.cfg.MaxResponseBytes))
	v1alpha1.RegisterCSIDriverProviderServer(gs, s)
	return gs
}
