package provider

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// Bounds on a MountRequest beyond the gRPC message limit. Everything in it
// may come from a pod's author (contract.go), so each field is bounded
// before it is used.
const (
	// maxTokensBytes bounds the tokens JSON (a projected token is ~1 KiB; the
	// CSIDriver asks for one or two audiences).
	maxTokensBytes = 64 << 10
	// maxAudiences bounds the number of tokens.
	maxAudiences = 8
	// maxVersionBytes bounds an id or version of current_object_version.
	maxVersionBytes = 1024
)

// mount is one decoded, validated MountRequest: everything the pipeline and
// the response need, nothing of the request kept raw.
type mount struct {
	// Namespace, Pod, UID and ServiceAccount name the pod (the kubelet's pod info).
	Namespace, Pod, UID, ServiceAccount string
	// Class is the SecretProviderClass name, "" on the driver's rotation path.
	Class string
	// Params are the class's parameters: attributes without the kubelet's
	// keys and the class name.
	Params map[string]string
	// Tokens are the pod's service-account tokens by audience.
	Tokens map[string]identity.Token
	// Mode is the driver's permission: the mode of files the class gives no filePermission.
	Mode fs.FileMode
	// Target is target_path, for logs only: the driver writes the files.
	Target string
	// Current is current_object_version (id to version): empty on a first
	// mount. It never changes the answer; it tells a rotation that changed
	// something from one that did not.
	Current map[string]string
}

// PodRef is "namespace/name" of the pod, for logs and messages.
func (m *mount) PodRef() string { return m.Namespace + "/" + m.Pod }

// ClassRef is "namespace/name" of the class, "" when the request does not
// name it (the rotation path).
func (m *mount) ClassRef() string {
	if m.Class == "" {
		return ""
	}
	return m.Namespace + "/" + m.Class
}

// invalid is a bad request: reason InvalidRequest, the field named.
func invalid(field, problem, fix string) *secrets.Problem {
	return &secrets.Problem{Object: -1, Field: field, Problem: problem, Fix: fix, Kind: reason.InvalidRequest}
}

// decodeMount reads everything the driver sends and checks it; it makes no
// call to AWS or the API server. Steps:
//  1. attributes: a JSON object of string to string;
//  2. the pod's identity from the kubelet's keys, names checked;
//  3. the class parameters: not another provider's;
//  4. the tokens, from secrets (serviceAccountTokenInSecrets) or attributes;
//  5. permission, target_path and current_object_version.
func decodeMount(req *v1alpha1.MountRequest) (*mount, error) {
	// 1. Attributes.
	attrs, err := decodeStringMap("attributes", req.GetAttributes(), false)
	if err != nil {
		return nil, err
	}
	// 2. The pod.
	m := &mount{
		Namespace: attrs[AttrPodNamespace], Pod: attrs[AttrPodName], UID: attrs[AttrPodUID],
		ServiceAccount: attrs[AttrServiceAccount], Class: strings.TrimSpace(attrs[AttrSecretProviderClass]),
	}
	if err := checkPod(m); err != nil {
		return nil, err
	}
	// 3. The class parameters.
	m.Params = make(map[string]string, len(attrs))
	for k, v := range attrs {
		if !strings.HasPrefix(k, kubeletPrefix) && k != AttrSecretProviderClass {
			m.Params[k] = v
		}
	}
	if err := checkProvider(m.Params); err != nil {
		return nil, err
	}
	// 4. Tokens.
	sec, err := decodeStringMap("secrets", req.GetSecrets(), true)
	if err != nil {
		return nil, err
	}
	field, raw := "secrets", sec[AttrTokens]
	if raw == "" {
		field, raw = "attributes", attrs[AttrTokens]
	}
	if m.Tokens, err = decodeTokens(field+"["+secrets.Quote(AttrTokens)+"]", raw, m); err != nil {
		return nil, err
	}
	// 5. The rest.
	if m.Mode, err = decodePermission(req.GetPermission()); err != nil {
		return nil, err
	}
	m.Target = req.GetTargetPath()
	if len(m.Target) > secrets.MaxPathBytes || (m.Target != "" && !filepath.IsAbs(m.Target)) {
		return nil, invalid("target_path", fmt.Sprintf("%s is not an absolute path of at most %d bytes", secrets.Quote(m.Target), secrets.MaxPathBytes), "")
	}
	if m.Current, err = decodeVersions(req.GetCurrentObjectVersion()); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeStringMap decodes a JSON object of string to string. The error never
// quotes the input (it may hold tokens): it says where decoding stopped.
// optional accepts "" and null as empty, as the driver sends secrets when the
// volume has no nodePublishSecretRef.
func decodeStringMap(field, s string, optional bool) (map[string]string, error) {
	const fix = "the Secrets Store CSI driver sends a JSON object of string to string here; check the driver's version"
	if optional && (s == "" || s == "null") {
		return map[string]string{}, nil
	}
	if strings.TrimSpace(s) == "" {
		return nil, invalid(field, "empty", fix)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, invalid(field, fmt.Sprintf("not JSON (syntax error at byte %d of %d)", se.Offset, len(s)), fix)
		}
		return nil, invalid(field, "not a JSON object of string to string", fix)
	}
	if raw == nil {
		if optional {
			return map[string]string{}, nil
		}
		return nil, invalid(field, "is null, not a JSON object", fix)
	}
	m := make(map[string]string, len(raw))
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		var v string
		if err := json.Unmarshal(raw[k], &v); err != nil {
			return nil, invalid(field, fmt.Sprintf("not a JSON object of string to string: key %s holds a %s", secrets.Quote(k), jsonKind(raw[k])), fix)
		}
		m[k] = v
	}
	return m, nil
}

// jsonKind names the kind of a JSON value by its first byte (never its content).
func jsonKind(v json.RawMessage) string {
	switch b := bytes.TrimSpace(v); {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "list"
	case b[0] == 't' || b[0] == 'f':
		return "boolean"
	case b[0] == 'n':
		return "null"
	}
	return "number"
}

// checkPod checks that the kubelet's pod info is there and well formed: the
// namespace and service account name the ServiceAccount read and the
// identity's cache key.
func checkPod(m *mount) error {
	var missing []string
	for _, kv := range [][2]string{{AttrPodNamespace, m.Namespace}, {AttrPodName, m.Pod}, {AttrPodUID, m.UID}, {AttrServiceAccount, m.ServiceAccount}} {
		if kv[1] == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		return invalid("attributes", "lacks the pod's identity: "+strings.Join(missing, ", "),
			"the Secrets Store CSI driver's CSIDriver object (secrets-store.csi.k8s.io) must set podInfoOnMount: true")
	}
	for _, c := range []struct {
		key, val string
		errs     []string
	}{
		{AttrPodNamespace, m.Namespace, validation.IsDNS1123Label(m.Namespace)},
		{AttrPodName, m.Pod, validation.IsDNS1123Subdomain(m.Pod)},
		{AttrServiceAccount, m.ServiceAccount, validation.IsDNS1123Subdomain(m.ServiceAccount)},
		{AttrSecretProviderClass, m.Class, classNameErrs(m.Class)},
	} {
		if len(c.errs) > 0 {
			return invalid("attributes["+secrets.Quote(c.key)+"]", fmt.Sprintf("%s is not a valid name: %s", secrets.Quote(c.val), c.errs[0]), "")
		}
	}
	if len(m.UID) > 128 {
		return invalid("attributes["+secrets.Quote(AttrPodUID)+"]", fmt.Sprintf("%d bytes long, a pod UID is at most 128", len(m.UID)), "")
	}
	return nil
}

func classNameErrs(name string) []string {
	if name == "" {
		return nil // the rotation path does not send it
	}
	return validation.IsDNS1123Subdomain(name)
}

// foreignParams are parameter keys that only other providers' classes use.
// The driver picks a provider by the class's spec.provider, so a request
// carrying them reached us because a class written for another provider says
// provider: aws: say so, instead of failing on "objects" later.
var foreignParams = map[string]string{
	"keyvaultName":             "Azure Key Vault",
	"tenantId":                 "Azure Key Vault",
	"cloudName":                "Azure Key Vault",
	"useVMManagedIdentity":     "Azure Key Vault",
	"userAssignedIdentityID":   "Azure Key Vault",
	"vaultAddress":             "HashiCorp Vault",
	"roleName":                 "HashiCorp Vault",
	"vaultKubernetesMountPath": "HashiCorp Vault",
	"vaultNamespace":           "HashiCorp Vault",
	"secrets":                  "Google Secret Manager",
}

// checkProvider refuses parameters of another provider's class, naming the
// first such key (sorted, so the answer is stable).
func checkProvider(params map[string]string) error {
	var keys []string
	for k := range params {
		if _, ok := foreignParams[k]; ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	return invalid("parameters."+keys[0],
		fmt.Sprintf("a parameter of the %s provider: this SecretProviderClass is written for another provider, but its spec.provider is %q", foreignParams[keys[0]], Name),
		"set spec.provider to the provider the class is written for, or write the class for AWS (objects with objectName and objectType)")
}

// decodeTokens decodes the tokens JSON and checks each token's subject is the
// pod's service account: a token that names another account (set by the
// pod's author in volumeAttributes) is refused before any AWS call. The
// signature is AWS's to check. No error quotes a token.
func decodeTokens(field, raw string, m *mount) (map[string]identity.Token, error) {
	if len(raw) > maxTokensBytes {
		return nil, invalid(field, fmt.Sprintf("%d bytes long, at most %d allowed", len(raw), maxTokensBytes), "")
	}
	toks, err := identity.ParseTokens(raw)
	if err != nil {
		return nil, invalid(field, err.Error(), "the CSIDriver object's tokenRequests make the kubelet send them; do not set this key in volumeAttributes")
	}
	if len(toks) > maxAudiences {
		return nil, invalid(field, fmt.Sprintf("%d tokens, at most %d allowed", len(toks), maxAudiences), "")
	}
	want := "system:serviceaccount:" + m.Namespace + ":" + m.ServiceAccount
	for _, aud := range slices.Sorted(maps.Keys(toks)) {
		sub, ok := tokenSubject(toks[aud].Token)
		switch {
		case !ok:
			return nil, invalid(field, fmt.Sprintf("the token for audience %s is not a service account JWT", secrets.Quote(aud)), "")
		case sub != want:
			return nil, invalid(field, fmt.Sprintf("the token for audience %s is for %s, not the pod's service account %s",
				secrets.Quote(aud), secrets.Quote(sub), secrets.Quote(want)),
				"tokens come from the kubelet (the CSIDriver's tokenRequests); do not set this key in volumeAttributes")
		}
	}
	return toks, nil
}

// tokenSubject reads the sub claim of a JWT without verifying it.
func tokenSubject(tok string) (string, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", false
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Sub == "" {
		return "", false
	}
	return claims.Sub, true
}

// decodePermission decodes the driver's permission: the JSON of an
// os.FileMode, a decimal number ("420" for 0644), never octal text.
func decodePermission(s string) (fs.FileMode, error) {
	const fix = "the Secrets Store CSI driver sends the JSON of os.FileMode(0644), \"420\"; check the driver's version"
	var n uint32
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		return 0, invalid("permission", fmt.Sprintf("%s is not a decimal file mode", secrets.Quote(s)), fix)
	}
	if n == 0 || n > 0o777 {
		return 0, invalid("permission", fmt.Sprintf("%s is not a mode from 1 to 511 (0777)", secrets.Quote(s)), fix)
	}
	return fs.FileMode(n), nil
}

// decodeVersions reads current_object_version, bounded.
func decodeVersions(vs []*v1alpha1.ObjectVersion) (map[string]string, error) {
	if len(vs) > secrets.MaxFiles {
		return nil, invalid("current_object_version", fmt.Sprintf("%d entries, at most %d allowed", len(vs), secrets.MaxFiles), "")
	}
	out := make(map[string]string, len(vs))
	for i, v := range vs {
		if len(v.GetId()) > maxVersionBytes || len(v.GetVersion()) > maxVersionBytes {
			return nil, invalid(fmt.Sprintf("current_object_version[%d]", i), fmt.Sprintf("id or version over %d bytes", maxVersionBytes), "")
		}
		out[v.GetId()] = strings.TrimSpace(v.GetVersion())
	}
	return out, nil
}
