package spc

import (
	"errors"
	"strings"
	"testing"
)

// A common mistake: objects written as a YAML list instead of a block string. The
// fix must say how to write it, not print Go's rendering of the list.
func TestDecodeClassListParameter(t *testing.T) {
	_, err := DecodeClass([]byte(`apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: x}
spec:
  provider: aws
  parameters:
    objects:
      - {objectName: a, objectType: secretsmanager}`))
	var inv *InvalidError
	if !errors.As(err, &inv) || len(inv.Issues) != 1 {
		t.Fatalf("want one issue, got %v", err)
	}
	is := inv.Issues[0]
	if is.Field != "spec.parameters.objects" || !strings.Contains(is.Problem, "is a list") ||
		!strings.Contains(is.Fix, "objects: |") || strings.Contains(is.Fix, "map[") {
		t.Errorf("issue = %+v", is)
	}
}
