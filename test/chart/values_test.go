package chart_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSchemaRejectsBadValues(t *testing.T) {
	c := loadChart(t)
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string // in the error
	}{
		{"misspelled top-level key", vals("imge", vals("tag", "v1")), "imge"},
		{"misspelled mounter key", vals("mounter", vals("nodeIdentiy", "always")), "nodeIdentiy"},
		{"misspelled webhook key", vals("webhook", vals("failurepolicy", "Ignore")), "failurepolicy"},
		{"misspelled nested key", vals("webhook", vals("certificates", vals("mod", "cert-manager"))), "mod"},
		{"misspelled deep key", vals("metrics", vals("serviceMonitor", vals("enable", true))), "enable"},
		{"unsupported key", vals("webhook", vals("podDisruptionBudget", vals("minAvailable", 1))), "minAvailable"},
		{"unknown resource", vals("mounter", vals("resources", vals("requests", vals("gpu", "1")))), "gpu"},
		{"unknown toleration field", vals("mounter", vals("tolerations", []any{vals("operater", "Exists")})), "operater"},
		{"node identity", vals("mounter", vals("nodeIdentity", "sometimes")), "nodeIdentity"},
		{"failure policy case", vals("webhook", vals("failurePolicy", "fail")), "failurePolicy"},
		{"default mode", vals("webhook", vals("defaultMode", "sidecar")), "defaultMode"},
		{"injector refresh interval", vals("webhook", vals("injector", vals("refreshInterval", "soon"))), "refreshInterval"},
		{"injector deadline", vals("webhook", vals("injector", vals("deadline", "5 minutes"))), "deadline"},
		{"injector size limit", vals("webhook", vals("injector", vals("volumeSizeLimit", "big"))), "volumeSizeLimit"},
		{"injector cpu", vals("webhook", vals("injector", vals("resources", vals("requests", vals("cpu", "lots"))))), "cpu"},
		{"injector ephemeral storage", vals("webhook", vals("injector", vals("resources", vals("limits", vals("ephemeral-storage", "1Gi"))))), "ephemeral-storage"},
		{"injector unknown key", vals("webhook", vals("injector", vals("image", "x"))), "image"},
		{"certificate mode", vals("webhook", vals("certificates", vals("mode", "vault"))), "mode"},
		{"duration", vals("mounter", vals("refreshInterval", "2 minutes")), "refreshInterval"},
		{"timeout", vals("webhook", vals("timeoutSeconds", 31)), "timeoutSeconds"},
		{"namespace name", vals("webhook", vals("excludeNamespaces", []any{"Bad_NS"})), "excludeNamespaces"},
		{"log format", vals("logging", vals("format", "xml")), "format"},
		{"digest", vals("image", vals("digest", "latest")), "digest"},
		{"relative kubelet dir", vals("mounter", vals("kubeletDir", "var/lib/kubelet")), "kubeletDir"},
		{"kubelet dir with ..", vals("mounter", vals("kubeletDir", "/var/lib/../kubelet")), "kubeletDir"},
		{"kubelet dir with .", vals("mounter", vals("kubeletDir", "/var/lib/./kubelet")), "kubeletDir"},
		{"kubelet dir with //", vals("mounter", vals("kubeletDir", "/var//lib/kubelet")), "kubeletDir"},
		{"tokens in secrets", vals("mounter", vals("serviceAccountTokenInSecrets", "yes")), "serviceAccountTokenInSecrets"},
		{"tokens in secrets string", vals("mounter", vals("serviceAccountTokenInSecrets", "true")), "serviceAccountTokenInSecrets"},
		{"relative mount path", vals("webhook", vals("defaultMountPath", "secrets")), "defaultMountPath"},
		{"endpoint without scheme", vals("aws", vals("endpoint", "vpce.example.com")), "endpoint"},
		{"region", vals("aws", vals("region", "US East")), "region"},
		{"mode", vals("mode", "sidecar"), "mode"},
		{"misspelled provider key", vals("provider", vals("providerDir", "/var/run/x")), "providerDir"},
		{"relative providers dir", vals("provider", vals("providersDir", "var/run/secrets-store-csi-providers")), "providersDir"},
		{"relative shadow dir", vals("provider", vals("shadowDir", "etc/kubernetes")), "shadowDir"},
		{"provider cache ttl", vals("provider", vals("cacheTTL", "30 seconds")), "cacheTTL"},
		{"provider node identity", vals("provider", vals("nodeIdentity", "sometimes")), "nodeIdentity"},
		{"driver receive limit", vals("provider", vals("driverMaxRecvMsgSize", 1024)), "driverMaxRecvMsgSize"},
		{"provider unknown resource", vals("provider", vals("resources", vals("limits", vals("gpu", "1")))), "gpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderValues(c, tc.values)
			if err == nil {
				t.Fatalf("values %v accepted", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not name %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestSchemaIsClosed walks values.schema.json: every object either forbids
// unknown keys or is a map whose values are typed; the only free-form objects
// are the Kubernetes affinity terms, passed through as they are.
func TestSchemaIsClosed(t *testing.T) {
	schema := readSchema(t)
	freeForm := []string{
		"mounter.affinity.nodeAffinity", "mounter.affinity.podAffinity", "mounter.affinity.podAntiAffinity",
		"webhook.affinity.nodeAffinity", "webhook.affinity.podAffinity", "webhook.affinity.podAntiAffinity",
		"provider.affinity.nodeAffinity", "provider.affinity.podAffinity", "provider.affinity.podAntiAffinity",
	}
	var seenFree []string
	var walk func(p string, n map[string]any)
	walk = func(p string, n map[string]any) {
		for _, alt := range []string{"oneOf", "anyOf", "allOf"} {
			if l, ok := n[alt].([]any); ok {
				for _, s := range l {
					walk(p, s.(map[string]any))
				}
			}
		}
		if items, ok := n["items"].(map[string]any); ok {
			walk(p+"[]", items)
		}
		if n["type"] != "object" {
			return
		}
		switch ap := n["additionalProperties"].(type) {
		case bool:
			if ap {
				t.Errorf("%s: additionalProperties true", p)
			}
		case map[string]any:
			if ap["type"] == nil {
				t.Errorf("%s: map values are untyped", p)
			}
		default:
			if slices.Contains(freeForm, p) {
				seenFree = append(seenFree, p)
			} else {
				t.Errorf("%s: accepts unknown keys (no additionalProperties)", p)
			}
		}
		props, _ := n["properties"].(map[string]any)
		for k, v := range props {
			q := k
			if p != "" {
				q = p + "." + k
			}
			walk(q, v.(map[string]any))
		}
	}
	walk("", schema)
	slices.Sort(seenFree)
	slices.Sort(freeForm)
	if !slices.Equal(seenFree, freeForm) {
		t.Errorf("free-form objects %q, want exactly %q", seenFree, freeForm)
	}
}

// TestValuesDocumented: every key of values.yaml that the schema describes
// has a comment above it, and every key the schema knows is in values.yaml
// (so no setting exists without a documented default).
func TestValuesDocumented(t *testing.T) {
	schema := readSchema(t)
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	inValues := map[string]bool{}
	var walk func(p string, n *yaml.Node, s map[string]any)
	walk = func(p string, n *yaml.Node, s map[string]any) {
		if n.Kind != yaml.MappingNode {
			return
		}
		props, _ := s["properties"].(map[string]any)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			q := k.Value
			if p != "" {
				q = p + "." + k.Value
			}
			inValues[q] = true
			ps, ok := props[k.Value].(map[string]any)
			if !ok {
				continue // inside a map or a pass-through object: documented by its parent
			}
			if ps["description"] != nil && strings.TrimSpace(k.HeadComment) == "" {
				t.Errorf("values.yaml: %s has no comment", q)
			}
			walk(q, v, ps)
		}
	}
	walk("", doc.Content[0], schema)
	var missing func(p string, s map[string]any)
	missing = func(p string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, v := range props {
			q := k
			if p != "" {
				q = p + "." + k
			}
			vs := v.(map[string]any)
			if vs["description"] == nil {
				continue
			}
			if !inValues[q] {
				t.Errorf("schema key %s is not in values.yaml", q)
			}
			if vs["type"] == "object" {
				missing(q, vs)
			}
		}
	}
	missing("", schema)
	if len(inValues) < 60 {
		t.Errorf("only %d keys seen in values.yaml: the walk is broken", len(inValues))
	}
}

func readSchema(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}
