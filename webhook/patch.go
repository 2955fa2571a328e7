package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
)

// jsonPatch returns the RFC 6902 operations that turn the JSON document from
// into to. It descends only where the bytes differ, decoding one level at a
// time into raw messages, so a mutation that touches a few fields of a large
// pod costs one scan per level it descends, not a decode of both documents
// into maps (what a generic diff does: it was a fifth of the webhook's CPU).
//
// Both documents are encoding/json's output for typed values, so equal values
// are equal bytes (struct fields in order, map keys sorted). Objects are
// diffed key by key. Arrays keep their common prefix and suffix; a middle of
// equal length is diffed element by element, any other middle is removed and
// inserted whole. So an element the mutation changed in place (a container
// given a volume mount) is patched field by field, and fields this build's
// API types do not know, present in the API server's object but in neither
// document, are never patched away.
func jsonPatch(from, to []byte) ([]jsonpatch.Operation, error) {
	var ops []jsonpatch.Operation
	if err := diffValue(&ops, "", from, to); err != nil {
		return nil, err
	}
	return ops, nil
}

func diffValue(ops *[]jsonpatch.Operation, path string, a, b json.RawMessage) error {
	if bytes.Equal(a, b) {
		return nil
	}
	switch ka, kb := kind(a), kind(b); {
	case ka == '{' && kb == '{':
		return diffObject(ops, path, a, b)
	case ka == '[' && kb == '[':
		return diffArray(ops, path, a, b)
	}
	*ops = append(*ops, op("replace", path, b))
	return nil
}

func diffObject(ops *[]jsonpatch.Operation, path string, a, b json.RawMessage) error {
	var ma, mb map[string]json.RawMessage
	if err := json.Unmarshal(a, &ma); err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	if err := json.Unmarshal(b, &mb); err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	for _, k := range sortedKeys(ma) {
		if _, ok := mb[k]; !ok {
			*ops = append(*ops, jsonpatch.Operation{Operation: "remove", Path: path + "/" + escape(k)})
		}
	}
	for _, k := range sortedKeys(mb) {
		p := path + "/" + escape(k)
		va, ok := ma[k]
		if !ok {
			*ops = append(*ops, op("add", p, mb[k]))
			continue
		}
		if err := diffValue(ops, p, va, mb[k]); err != nil {
			return err
		}
	}
	return nil
}

func diffArray(ops *[]jsonpatch.Operation, path string, a, b json.RawMessage) error {
	var xa, xb []json.RawMessage
	if err := json.Unmarshal(a, &xa); err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	if err := json.Unmarshal(b, &xb); err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	pre := 0
	for pre < len(xa) && pre < len(xb) && bytes.Equal(xa[pre], xb[pre]) {
		pre++
	}
	suf := 0
	for suf < len(xa)-pre && suf < len(xb)-pre && bytes.Equal(xa[len(xa)-1-suf], xb[len(xb)-1-suf]) {
		suf++
	}
	ma, mb := xa[pre:len(xa)-suf], xb[pre:len(xb)-suf]
	if len(ma) == len(mb) {
		for i := range ma {
			if err := diffValue(ops, path+"/"+strconv.Itoa(pre+i), ma[i], mb[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for i := len(ma) - 1; i >= 0; i-- {
		*ops = append(*ops, jsonpatch.Operation{Operation: "remove", Path: path + "/" + strconv.Itoa(pre+i)})
	}
	for i, v := range mb { // an add at an index shifts what follows; at the length it appends
		*ops = append(*ops, op("add", path+"/"+strconv.Itoa(pre+i), v))
	}
	return nil
}

func op(name, path string, v json.RawMessage) jsonpatch.Operation {
	return jsonpatch.Operation{Operation: name, Path: path, Value: v}
}

// kind is the first byte of a JSON value.
func kind(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// escape writes a key as a JSON Pointer token (RFC 6901: ~ is ~0, / is ~1).
func escape(k string) string {
	if !strings.ContainsAny(k, "~/") {
		return k
	}
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

func pathOrRoot(p string) string {
	if p == "" {
		return "the document"
	}
	return p
}
