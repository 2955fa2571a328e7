package spc

import (
	"errors"
	"strings"
	"testing"
)

// ClassFromObject reads what the API server holds (int64 numbers, nested
// maps) as DecodeClass reads YAML: one decoder.
func TestClassFromObject(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
		"metadata": map[string]any{"name": "c", "namespace": "ns"},
		"spec": map[string]any{
			"provider":   "aws",
			"parameters": map[string]any{"objects": "- {objectName: a, objectType: secretsmanager}", "region": "us-east-1", "unset": nil},
			"secretObjects": []any{map[string]any{
				"secretName": "s", "type": "Opaque", "labels": map[string]any{"app": "x"},
				"data": []any{map[string]any{"objectName": "a", "key": "k"}},
			}},
		},
	}
	c, err := ClassFromObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "c" || c.Namespace != "ns" || c.Provider != "aws" || len(c.Parameters) != 2 ||
		len(c.SecretObjects) != 1 || c.SecretObjects[0].Labels["app"] != "x" || c.SecretObjects[0].Data[0] != (SecretObjectData{ObjectName: "a", Key: "k"}) {
		t.Errorf("class = %+v", c)
	}

	spec := obj["spec"].(map[string]any)
	spec["parameters"].(map[string]any)["refreshInterval"] = int64(30)
	spec["secretObjects"] = []any{map[string]any{"secretName": 3, "data": "x"}, "y"}
	obj["metadata"] = "m"
	c, err = ClassFromObject(obj)
	var inv *InvalidError
	if !errors.As(err, &inv) || c == nil {
		t.Fatalf("err = %v", err)
	}
	got := map[string]string{}
	for _, p := range inv.Issues {
		got[p.Field] = p.Problem + "; " + p.Fix
	}
	for f, want := range map[string]string{
		"metadata":                         "is a string, not a mapping",
		"spec.parameters.refreshInterval":  `is a number, parameters are strings; quote the value, e.g. refreshInterval: "30"`,
		"spec.secretObjects[0].secretName": "is a number, not a string",
		"spec.secretObjects[0].data":       "is a string, not a list",
		"spec.secretObjects[1]":            "is a string, not a mapping",
	} {
		if !strings.Contains(got[f], want) {
			t.Errorf("%s: got %q, want %q", f, got[f], want)
		}
	}
	if _, err := ClassFromObject(nil); err == nil || !strings.Contains(err.Error(), "not a SecretProviderClass") {
		t.Errorf("nil object: %v", err)
	}
}

// A 10 MB kind or key gives a short error.
func TestDecodeClassQuotes(t *testing.T) {
	long := strings.Repeat("k", 10<<20)
	_, err := ClassFromObject(map[string]any{"apiVersion": "v1", "kind": long,
		"spec": map[string]any{"provider": long, "parameters": map[string]any{long: true}}})
	if err == nil || len(err.Error()) > 2000 {
		t.Errorf("error of %d bytes", len(err.Error()))
	}
}
