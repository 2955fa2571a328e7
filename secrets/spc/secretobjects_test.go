package spc

import (
	"strings"
	"testing"
)

func secretObjectsSpec(t *testing.T, objects string) *Spec {
	t.Helper()
	s, err := Parse(objs(objects), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckSecretObjects(t *testing.T) {
	s := secretObjectsSpec(t, `
- {objectName: app/db, objectType: secretsmanager, jmesPath: [{path: username, objectAlias: user}, {path: password, objectAlias: pass}]}
- {objectName: token, objectType: ssmparameter}`)
	ok := []SecretObject{
		{SecretName: "db", Type: "Opaque", Data: []SecretObjectData{{ObjectName: "user", Key: "username"}, {ObjectName: "pass", Key: "password"}}},
		{SecretName: "whole.db", Type: "Opaque", Data: []SecretObjectData{{ObjectName: "app_db", Key: "db.json"}, {ObjectName: "token", Key: "token"}}},
	}
	if probs := CheckSecretObjects(s, ok); len(probs) != 0 {
		t.Errorf("valid secretObjects refused: %v", probs)
	}

	bad := []SecretObject{
		{SecretName: "", Type: "", Data: []SecretObjectData{{ObjectName: "", Key: ""}}},
		{SecretName: "Not_A_Name", Type: "Opaque", Data: []SecretObjectData{{ObjectName: "app/db", Key: "bad key"}, {ObjectName: "user", Key: ".."}}},
		{SecretName: "db", Type: "Opaque", Data: []SecretObjectData{{ObjectName: "user", Key: "k"}, {ObjectName: "pass", Key: "k"}}},
		{SecretName: strings.Repeat("a", 254), Type: "Opaque"},
		{SecretName: "db", Type: "Opaque", Data: []SecretObjectData{{ObjectName: "token", Key: "k"}, {ObjectName: "token", Key: strings.Repeat("k", 254)}}},
	}
	want := map[string]string{
		"spec.secretObjects[0].secretName":         "missing",
		"spec.secretObjects[0].type":               "missing",
		"spec.secretObjects[0].data[0].objectName": "missing",
		"spec.secretObjects[0].data[0].key":        "missing",
		"spec.secretObjects[1].secretName":         "not a valid Secret name",
		"spec.secretObjects[1].data[0].objectName": `"app/db" matches no file`,
		"spec.secretObjects[1].data[0].key":        "not a valid Secret data key",
		"spec.secretObjects[1].data[1].key":        "not a valid Secret data key",
		"spec.secretObjects[2].data[1].key":        `key "k" of Secret "db" is already written by spec.secretObjects[2].data[0]`,
		"spec.secretObjects[3].secretName":         "not a valid Secret name",
		// Two entries with one secretName are one Secret.
		"spec.secretObjects[4].data[0].key": `key "k" of Secret "db" is already written by spec.secretObjects[2].data[0]`,
		"spec.secretObjects[4].data[1].key": "not a valid Secret data key",
	}
	probs := CheckSecretObjects(s, bad)
	for _, p := range probs {
		if p.Fix == "" {
			t.Errorf("no fix: %v", p)
		}
		if msg, ok := want[p.Field]; ok && strings.Contains(p.Problem, msg) {
			delete(want, p.Field)
		}
	}
	if len(want) > 0 || len(probs) != 12 {
		t.Errorf("missing %v; got %d problems: %v", want, len(probs), probs)
	}
	if p := probs[5]; !strings.Contains(p.Fix, `"app_db", "pass", "token", "user"`) {
		t.Errorf("the fix lists the class's files: %v", p)
	}
}

// With an allKeys object the class's keys are known only at fetch: a name
// that could be one is accepted, one that cannot be a file is not.
func TestCheckSecretObjectsAllKeys(t *testing.T) {
	s := secretObjectsSpec(t, "- {objectName: app/config, objectType: secretsmanager, allKeys: true}")
	objsOK := []SecretObject{{SecretName: "cfg", Type: "Opaque", Data: []SecretObjectData{{ObjectName: "any-key", Key: "k"}}}}
	if probs := CheckSecretObjects(s, objsOK); len(probs) != 0 {
		t.Errorf("allKeys name refused: %v", probs)
	}
	objsBad := []SecretObject{{SecretName: "cfg", Type: "Opaque", Data: []SecretObjectData{{ObjectName: "../x", Key: "k"}}}}
	if probs := CheckSecretObjects(s, objsBad); len(probs) != 1 || probs[0].Field != "spec.secretObjects[0].data[0].objectName" {
		t.Errorf("impossible name accepted: %v", probs)
	}
	// Without allKeys the same name matches no file.
	s = secretObjectsSpec(t, "- {objectName: app/config, objectType: secretsmanager}")
	if probs := CheckSecretObjects(s, objsOK); len(probs) != 1 {
		t.Errorf("unknown name accepted without allKeys: %v", probs)
	}
}
