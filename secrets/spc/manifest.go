package spc

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// The SecretProviderClass API this package reads.
const (
	Group    = "secrets-store.csi.x-k8s.io"
	Kind     = "SecretProviderClass"
	Provider = "aws"
)

// Class is a SecretProviderClass object as far as this project reads it.
type Class struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Provider   string
	Parameters map[string]string
	// SecretObjects is spec.secretObjects: the Kubernetes Secrets the upstream
	// driver syncs from the mounted files (provider mode); checked by
	// CheckSecretObjects.
	SecretObjects []SecretObject
}

// IsSecretProviderClass reports whether apiVersion/kind name a SecretProviderClass of any version.
func IsSecretProviderClass(apiVersion, kind string) bool {
	return kind == Kind && strings.HasPrefix(apiVersion, Group+"/")
}

// DecodeClass decodes one YAML or JSON document holding a SecretProviderClass
// and reads it with ClassFromObject.
func DecodeClass(doc []byte) (*Class, error) {
	var obj map[string]any
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return nil, fmt.Errorf("decode SecretProviderClass: %s", yamlErr(err))
	}
	return ClassFromObject(obj)
}

// ClassFromObject reads a decoded SecretProviderClass object (a JSON-shaped
// map, as yaml.Unmarshal and unstructured.Unstructured hold it): the one
// decoder of classes for every path (files, the webhook, the mounter). It
// checks the kind and the provider, the shapes of the fields it reads, and
// reports parameters that are not strings (a common mistake: usePodIdentity:
// true unquoted) as problems naming the field. With problems it returns the
// class as far as it was read and an *InvalidError.
func ClassFromObject(obj map[string]any) (*Class, error) {
	c := &Class{Parameters: map[string]string{}}
	var issues []*secrets.Problem
	add := func(field, fix, format string, args ...any) {
		issues = append(issues, problem(-1, "", field, fix, format, args...))
	}
	str := func(field string, v any, fix string) string {
		switch t := v.(type) {
		case nil:
			return ""
		case string:
			return t
		default:
			add(field, fix, "is a %s, not a string", KindOf(v))
			return ""
		}
	}
	mapping := func(field string, v any, fix string) map[string]any {
		m, ok := v.(map[string]any)
		if !ok && v != nil {
			add(field, fix, "is a %s, not a mapping", KindOf(v))
		}
		return m
	}

	// 1. The fields read, with their shapes.
	c.APIVersion = str("apiVersion", obj["apiVersion"], "write apiVersion as a string")
	c.Kind = str("kind", obj["kind"], "write kind as a string")
	meta := mapping("metadata", obj["metadata"], "write metadata as a mapping with name (and namespace)")
	c.Name = str("metadata.name", meta["name"], "quote it")
	c.Namespace = str("metadata.namespace", meta["namespace"], "quote it")
	spec := mapping("spec", obj["spec"], "write spec as a mapping with provider and parameters")
	c.Provider = str("spec.provider", spec["provider"], "set spec.provider: aws")
	params := mapping("spec.parameters", spec["parameters"], "write parameters as a mapping of strings (objects: |, region: ...)")

	// 2. What makes it a class for this provider.
	if !IsSecretProviderClass(c.APIVersion, c.Kind) {
		add("kind", "use apiVersion: secrets-store.csi.x-k8s.io/v1 and kind: SecretProviderClass",
			"apiVersion %s with kind %s is not a SecretProviderClass", secrets.Quote(c.APIVersion), secrets.Quote(c.Kind))
	}
	if c.Provider != Provider {
		add("spec.provider", `set spec.provider: aws`, "provider %s is not %q", secrets.Quote(c.Provider), Provider)
	}

	// 3. The parameters: strings only, in key order.
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := "spec.parameters." + fieldKey(k)
		switch v := params[k].(type) {
		case string:
			c.Parameters[k] = v
		case nil:
		case []any, map[string]any:
			add(field, fmt.Sprintf("write it as a YAML block string: %s: | with the content indented below it", fieldKey(k)),
				"is a %s, parameters are strings", KindOf(v))
		default:
			add(field, fmt.Sprintf("quote the value, e.g. %s: %s", fieldKey(k), secrets.Quote(fmt.Sprint(v))),
				"is a %s, parameters are strings", KindOf(v))
		}
	}

	// 4. secretObjects, beside the parameters.
	var soIssues []*secrets.Problem
	c.SecretObjects, soIssues = decodeSecretObjects(spec["secretObjects"])
	issues = append(issues, soIssues...)

	if len(issues) > 0 {
		return c, &InvalidError{Issues: issues}
	}
	return c, nil
}
