package webhook

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
)

// Every pair: applying jsonPatch(from, to) to from gives to, with no more
// operations than the pair needs.
func TestJSONPatch(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		ops            int
	}{
		{"equal", `{"a":1,"b":[1,2]}`, `{"a":1,"b":[1,2]}`, 0},
		{"replace scalar", `{"a":1}`, `{"a":2}`, 1},
		{"add key", `{"a":1}`, `{"a":1,"b":{"c":[1]}}`, 1},
		{"remove key", `{"a":1,"b":2}`, `{"a":1}`, 1},
		{"key needing escapes", `{"m":{"x/y~z":"1"}}`, `{"m":{"x/y~z":"2","a/b":"3"}}`, 2},
		{"append", `{"v":[{"n":"a"}]}`, `{"v":[{"n":"a"},{"n":"b"},{"n":"c"}]}`, 2},
		{"prepend", `{"v":[{"n":"a"},{"n":"b"}]}`, `{"v":[{"n":"x"},{"n":"a"},{"n":"b"}]}`, 1},
		{"insert in the middle", `{"v":[1,2,3]}`, `{"v":[1,9,8,2,3]}`, 2},
		{"remove from the middle", `{"v":[1,2,3,4]}`, `{"v":[1,4]}`, 2},
		{"changed in place", `{"c":[{"name":"app","m":[{"p":"/a"}]},{"name":"side"}]}`,
			`{"c":[{"name":"app","m":[{"p":"/a"},{"p":"/s"}]},{"name":"side"}]}`, 1},
		{"replaced and grown", `{"v":[1,2]}`, `{"v":[3,4,5]}`, 5},
		{"array to object", `{"v":[1]}`, `{"v":{"a":1}}`, 1},
		{"emptied", `{"v":[1,2]}`, `{"v":[]}`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := jsonPatch([]byte(tc.from), []byte(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			if n := countOps(t, raw); n != tc.ops {
				t.Errorf("%d operations, want %d: %s", n, tc.ops, raw)
			}
			if raw == nil {
				return
			}
			p, err := jsonpatchapply.DecodePatch(raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Apply([]byte(tc.from))
			if err != nil {
				t.Fatalf("apply %s: %v", raw, err)
			}
			if !jsonEqual(t, got, []byte(tc.to)) {
				t.Errorf("patch %s gives %s, want %s", raw, got, tc.to)
			}
		})
	}
	if _, err := jsonPatch([]byte(`{"a":[1}`), []byte(`{"a":[2]}`)); err == nil {
		t.Error("a malformed document: no error")
	}
}

// countOps decodes a patch strictly (valid JSON, only op, path and value) and
// counts its operations; nil is none.
func countOps(t *testing.T, raw []byte) int {
	t.Helper()
	if raw == nil {
		return 0
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var ops []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := dec.Decode(&ops); err != nil {
		t.Fatalf("patch %s: %v", raw, err)
	}
	for _, o := range ops {
		if (o.Op == "remove") != (o.Value == nil) {
			t.Fatalf("patch %s: op %q with value %s", raw, o.Op, o.Value)
		}
	}
	return len(ops)
}

// hasEmptyKey reports whether a decoded JSON value has an object key "" anywhere.
func hasEmptyKey(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "" || hasEmptyKey(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasEmptyKey(e) {
				return true
			}
		}
	}
	return false
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	ea, _ := json.Marshal(va)
	eb, _ := json.Marshal(vb)
	return bytes.Equal(ea, eb)
}

// The handler's patch, applied to each mutated golden case's pod, gives that
// case's golden file exactly.
func TestHandlerPatchGivesEveryGoldenPod(t *testing.T) {
	n := 0
	for _, tc := range goldenCases() {
		if p := strings.SplitN(tc.name, "-", 2)[0]; p != "csi" && p != "init" && p != "exec" {
			continue
		}
		n++
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			resp := post(t, &Handler{Config: cfg, Lookups: testLookups()}, review(t, admissionv1.Create, podKind, tc.ns, tc.pod), "application/json")
			if !resp.Allowed || len(resp.Patch) == 0 {
				t.Fatalf("want an allowed patch, got %+v", resp)
			}
			want, err := os.ReadFile(filepath.Join("testdata", tc.name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if got := append([]byte("# mutated\n"), patchedYAML(t, tc.pod, resp.Patch)...); !bytes.Equal(got, want) {
				t.Errorf("the patched pod differs from %s.yaml:\n--- got\n%s\n--- want\n%s", tc.name, got, want)
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d mutated golden cases", n)
	}
}

// Fields this build's API types do not know (a newer API server's) survive
// the patch, in the pod, its spec and a container the mutation changes.
func TestPatchKeepsUnknownFields(t *testing.T) {
	raw, err := json.Marshal(testPod(nil))
	if err != nil {
		t.Fatal(err)
	}
	var pod map[string]any
	if err := json.Unmarshal(raw, &pod); err != nil {
		t.Fatal(err)
	}
	spec := pod["spec"].(map[string]any)
	spec["futureSpecField"] = map[string]any{"on": true}
	c0 := spec["containers"].([]any)[0].(map[string]any)
	c0["futureContainerField"] = "kept"
	pod["futureTopField"] = 7
	withUnknown, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, &Handler{Config: testConfig(), Lookups: testLookups()}, review(t, admissionv1.Create, podKind, "apps", json.RawMessage(withUnknown)), "application/json")
	if !resp.Allowed || len(resp.Patch) == 0 {
		t.Fatalf("want an allowed patch, got %+v", resp)
	}
	p, err := jsonpatchapply.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := p.Apply(withUnknown)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"futureSpecField":{"on":true}`, `"futureContainerField":"kept"`, `"futureTopField":7`, `"aws-secrets"`} {
		if !bytes.Contains(patched, []byte(want)) {
			t.Errorf("the patched pod lacks %s:\n%s", want, patched)
		}
	}
}

// FuzzJSONPatch: for any two JSON objects, the patch turns one into the
// other; for any bytes at all, jsonPatch returns (an error or a patch), never
// panics.
func FuzzJSONPatch(f *testing.F) {
	for _, s := range [][2]string{
		{`{"a":1}`, `{"a":[1,{"b":"\u003c/x\u003e"}],"c\"d":null}`},
		{`{"k\\/~":{"x":[1,2,3]}}`, `{"k\\/~":{"x":[3,2,1,0]}}`},
		{`{"a":[{"b":[]}]}`, `{"a":[{"b":[{}]},"s"]}`},
		{`{"a":"}]"}`, `{"a":"[{"}`},
		{`{`, `}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		_, _ = jsonPatch(a, b) // any bytes: no panic
		var ma, mb map[string]any
		if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil || ma == nil || mb == nil {
			return
		}
		// Compact as encoding/json would give them to the webhook.
		ca, _ := json.Marshal(ma)
		cb, _ := json.Marshal(mb)
		raw, err := jsonPatch(ca, cb)
		if err != nil {
			t.Fatalf("jsonPatch(%s, %s): %v", ca, cb, err)
		}
		if hasEmptyKey(ma) || hasEmptyKey(mb) {
			// The patch is right (RFC 6901 spells key "" as "/"), but
			// evanphx/json-patch, here and in the API server, drops empty
			// tokens when it applies one; no pod has an empty key (the API
			// server's validation refuses it), so only the no-panic part holds.
			return
		}
		if raw == nil {
			if !bytes.Equal(ca, cb) {
				t.Fatalf("no operations for %s -> %s", ca, cb)
			}
			return
		}
		if countOps(t, raw) == 0 {
			t.Fatalf("an empty patch %s for %s -> %s: want nil", raw, ca, cb)
		}
		p, err := jsonpatchapply.DecodePatch(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Apply(ca)
		if err != nil {
			t.Fatalf("apply %s to %s: %v", raw, ca, err)
		}
		if !jsonEqual(t, got, cb) {
			t.Fatalf("patch %s turns %s into %s, want %s", raw, ca, got, cb)
		}
	})
}
