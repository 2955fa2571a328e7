package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// logInterceptor logs each call: a failure at V(0) with the method, code,
// error and the pod; every call with the redacted request at V(2). A
// response is never logged (it holds the files), only its size at V(2).
func logInterceptor(log logr.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		kv := []any{"method", info.FullMethod, "duration", time.Since(start).String()}
		if pod := podOf(req); pod != "" {
			kv = append(kv, "pod", pod)
		}
		if err != nil {
			kv = append(kv, "code", status.Code(err).String(), "error", err.Error())
			log.Info("gRPC call failed", kv...)
		}
		if v := log.V(2); v.Enabled() {
			kv = append(kv, "request", Redact(req))
			if m, ok := resp.(proto.Message); ok && err == nil {
				kv = append(kv, "responseBytes", proto.Size(m))
			}
			v.Info("gRPC call", kv...)
		}
		return resp, err
	}
}

// podOf is "namespace/name" of the pod a MountRequest is for, "" when the
// attributes do not say.
func podOf(req any) string {
	r, ok := req.(*v1alpha1.MountRequest)
	if !ok {
		return ""
	}
	var attrs map[string]string
	if json.Unmarshal([]byte(r.GetAttributes()), &attrs) != nil || attrs[AttrPodName] == "" {
		return ""
	}
	ns, name := attrs[AttrPodNamespace], attrs[AttrPodName]
	if len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return secrets.Quote(ns + "/" + name) // not names: shown escaped
	}
	return ns + "/" + name
}

// Redact renders a request for logs with every secret removed: in a
// MountRequest the secrets field's values and every attribute whose key
// names a token (csi.storage.k8s.io/serviceAccount.tokens among them) become
// "<redacted>"; attributes that are not a JSON object are not shown at all
// (a token may be inside). Class parameters are kept: they are the
// SecretProviderClass's, which names secrets but holds none.
func Redact(req any) string {
	r, ok := req.(*v1alpha1.MountRequest)
	if !ok {
		m, ok := req.(proto.Message)
		if !ok {
			return fmt.Sprintf("%T", req)
		}
		b, err := protojson.Marshal(m)
		if err != nil {
			return fmt.Sprintf("%T", req)
		}
		return string(b)
	}
	out := struct {
		Attributes           any                 `json:"attributes"`
		Secrets              any                 `json:"secrets"`
		TargetPath           string              `json:"targetPath"`
		Permission           string              `json:"permission"`
		CurrentObjectVersion []map[string]string `json:"currentObjectVersion,omitempty"`
	}{TargetPath: r.GetTargetPath(), Permission: r.GetPermission()}
	out.Attributes = redactJSON(r.GetAttributes(), func(k string) bool {
		return k == AttrTokens || strings.Contains(strings.ToLower(k), "token")
	})
	out.Secrets = redactJSON(r.GetSecrets(), func(string) bool { return true })
	for _, v := range r.GetCurrentObjectVersion() {
		out.CurrentObjectVersion = append(out.CurrentObjectVersion, map[string]string{"id": v.GetId(), "version": v.GetVersion()})
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<redacted>" as it is
	if err := enc.Encode(out); err != nil {
		return "MountRequest"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// redactJSON decodes a JSON object of string to string and replaces the
// values of the keys hide selects; anything else is shown by its size only.
func redactJSON(s string, hide func(string) bool) any {
	if s == "" || s == "null" {
		return s
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return fmt.Sprintf("<not a JSON object of strings, %d bytes>", len(s))
	}
	for k := range m {
		if hide(k) {
			m[k] = secrets.Redacted
		}
	}
	return m
}
