package spc

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
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
}

// IsSecretProviderClass reports whether apiVersion/kind name a SecretProviderClass of any version.
func IsSecretProviderClass(apiVersion, kind string) bool {
	return kind == Kind && strings.HasPrefix(apiVersion, Group+"/")
}

// DecodeClass decodes one YAML or JSON document holding a SecretProviderClass. It checks
// the kind and the provider, and reports parameters that are not strings (a common
// mistake: usePodIdentity: true unquoted) as issues naming the field.
func DecodeClass(doc []byte) (*Class, error) {
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			Provider   string         `json:"provider"`
			Parameters map[string]any `json:"parameters"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return nil, fmt.Errorf("decode SecretProviderClass: %s", yamlErr(err))
	}
	c := &Class{APIVersion: obj.APIVersion, Kind: obj.Kind, Name: obj.Metadata.Name, Namespace: obj.Metadata.Namespace,
		Provider: obj.Spec.Provider, Parameters: map[string]string{}}
	var issues []*Issue
	if !IsSecretProviderClass(c.APIVersion, c.Kind) {
		issues = append(issues, &Issue{Object: -1, Field: "kind", Problem: fmt.Sprintf("%s %s is not a SecretProviderClass", c.APIVersion, c.Kind),
			Fix: "use apiVersion: secrets-store.csi.x-k8s.io/v1 and kind: SecretProviderClass"})
	}
	if c.Provider != Provider {
		issues = append(issues, &Issue{Object: -1, Field: "spec.provider", Problem: fmt.Sprintf("provider %q is not %q", c.Provider, Provider),
			Fix: `set spec.provider: aws`})
	}
	keys := make([]string, 0, len(obj.Spec.Parameters))
	for k := range obj.Spec.Parameters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := obj.Spec.Parameters[k].(type) {
		case string:
			c.Parameters[k] = v
		case nil:
		case []any, map[string]any:
			issues = append(issues, &Issue{Object: -1, Field: "spec.parameters." + k, Problem: fmt.Sprintf("is a %s, parameters are strings", KindOf(v)),
				Fix: fmt.Sprintf("write it as a YAML block string: %s: | with the content indented below it", k)})
		default:
			issues = append(issues, &Issue{Object: -1, Field: "spec.parameters." + k, Problem: fmt.Sprintf("is a %s, parameters are strings", KindOf(v)),
				Fix: fmt.Sprintf("quote the value, e.g. %s: %q", k, fmt.Sprint(v))})
		}
	}
	if len(issues) > 0 {
		return c, &InvalidError{Issues: issues}
	}
	return c, nil
}
