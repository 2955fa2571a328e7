package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
)

// jsonPatch returns the RFC 6902 operations that turn the JSON document from
// into to. It descends only where the bytes differ, splitting one level at a
// time into its members' bytes (members, elements: no decode, no copy), so a
// mutation that touches a few fields of a large pod costs one scan per level
// it descends, not a decode of both documents into maps (what a generic diff
// does: it was a fifth of the webhook's CPU).
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

func diffValue(ops *[]jsonpatch.Operation, path string, a, b []byte) error {
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

func diffObject(ops *[]jsonpatch.Operation, path string, a, b []byte) error {
	ma, err := members(a)
	if err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	mb, err := members(b)
	if err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	inA := make(map[string][]byte, len(ma))
	for _, m := range ma {
		inA[m.key] = m.val
	}
	inB := make(map[string]bool, len(mb))
	for _, m := range mb {
		inB[m.key] = true
	}
	for _, m := range ma {
		if !inB[m.key] {
			*ops = append(*ops, jsonpatch.Operation{Operation: "remove", Path: path + "/" + escape(m.key)})
		}
	}
	for _, m := range mb {
		p := path + "/" + escape(m.key)
		va, ok := inA[m.key]
		if !ok {
			*ops = append(*ops, op("add", p, m.val))
			continue
		}
		if err := diffValue(ops, p, va, m.val); err != nil {
			return err
		}
	}
	return nil
}

func diffArray(ops *[]jsonpatch.Operation, path string, a, b []byte) error {
	xa, err := elements(a)
	if err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	xb, err := elements(b)
	if err != nil {
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

// A member of a JSON object: its key, unescaped, and its value's bytes.
type member struct {
	key string
	val []byte
}

var errSyntax = errors.New("malformed JSON")

// members splits a JSON object into its members without decoding their
// values (subslices of obj, no copies).
func members(obj []byte) ([]member, error) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, errSyntax
	}
	var out []member
	for i = skipSpace(obj, i+1); i < len(obj) && obj[i] != '}'; {
		if obj[i] != '"' {
			return nil, errSyntax
		}
		end, err := skipString(obj, i)
		if err != nil {
			return nil, err
		}
		raw := obj[i:end]
		key := string(raw[1 : len(raw)-1])
		if bytes.IndexByte(raw, '\\') >= 0 {
			if err := json.Unmarshal(raw, &key); err != nil {
				return nil, errSyntax
			}
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return nil, errSyntax
		}
		start := skipSpace(obj, i+1)
		if end, err = skipValue(obj, start); err != nil {
			return nil, err
		}
		out = append(out, member{key: key, val: obj[start:end]})
		if i = skipSpace(obj, end); i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	if i >= len(obj) {
		return nil, errSyntax
	}
	return out, nil
}

// elements splits a JSON array into its elements' bytes (subslices of arr).
func elements(arr []byte) ([][]byte, error) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil, errSyntax
	}
	var out [][]byte
	for i = skipSpace(arr, i+1); i < len(arr) && arr[i] != ']'; {
		end, err := skipValue(arr, i)
		if err != nil {
			return nil, err
		}
		out = append(out, arr[i:end])
		if i = skipSpace(arr, end); i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	if i >= len(arr) {
		return nil, errSyntax
	}
	return out, nil
}

// skipValue returns the end of the JSON value that starts at s[i]. It checks
// only what it needs to find the end: the documents are encoding/json's.
func skipValue(s []byte, i int) (int, error) {
	if i >= len(s) {
		return 0, errSyntax
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '"':
				end, err := skipString(s, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errSyntax
	}
	j := i
	for j < len(s) && !isDelim(s[j]) {
		j++
	}
	if j == i {
		return 0, errSyntax
	}
	return j, nil
}

// skipString returns the end of the JSON string that starts at s[i].
func skipString(s []byte, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errSyntax
}

func skipSpace(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func isDelim(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func op(name, path string, v []byte) jsonpatch.Operation {
	return jsonpatch.Operation{Operation: name, Path: path, Value: json.RawMessage(v)}
}

// kind is the first byte of a JSON value.
func kind(v []byte) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
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
