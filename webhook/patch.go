package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// jsonPatch returns the RFC 6902 operations that turn the JSON document from
// into to. It descends only where the bytes differ, splitting one level at a
// time into its members' bytes (appendMembers, appendElements: no decode, no copy), so a
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
//
// The result is the patch's JSON (nil when the documents are equal), written
// here rather than by encoding/json, which would re-validate and compact
// every value the patch carries.
func jsonPatch(from, to []byte) ([]byte, error) {
	d := differs.Get().(*differ)
	defer d.release()
	if err := d.value("", from, to); err != nil {
		return nil, err
	}
	return d.encode(), nil
}

// patchOp is one RFC 6902 operation: remove has no value; add and replace
// carry a value's bytes, a subslice of the target document.
type patchOp struct {
	op, path string
	value    []byte
}

// encode writes the operations as a JSON Patch document.
func (d *differ) encode() []byte {
	if len(d.ops) == 0 {
		return nil
	}
	n := 2
	for _, o := range d.ops {
		n += len(`{"op":"","path":"","value":},`) + len(o.op) + len(o.path) + len(o.value)
	}
	out := make([]byte, 0, n+16)
	out = append(out, '[')
	for i, o := range d.ops {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"op":"`...)
		out = append(out, o.op...)
		out = append(out, `","path":`...)
		out = appendString(out, o.path)
		if o.op != "remove" {
			out = append(out, `,"value":`...)
			out = append(out, o.value...)
		}
		out = append(out, '}')
	}
	return append(out, ']')
}

// appendString appends s as a JSON string. s is valid UTF-8 (keys from
// encoding/json's output, unescaped); only the quote, the backslash and
// control characters need escaping.
func appendString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

// differ holds one diff's scratch: the operations so far, and a stack of the
// members and elements of the objects and arrays it is descending (each level
// appends its own and truncates them on return; a slice taken before a
// deeper level grew the stack still reads the old array, which nothing
// writes again). Pooled: an admission diffs in a few allocations.
type differ struct {
	ops   []patchOp
	mem   []member
	elems [][]byte
	idx   []int
}

var differs = sync.Pool{New: func() any { return new(differ) }}

// maxPooledScratch bounds what a pooled differ keeps, so one huge pod does
// not pin its scratch for good.
const maxPooledScratch = 4096

func (d *differ) release() {
	if cap(d.mem) > maxPooledScratch || cap(d.elems) > maxPooledScratch || cap(d.ops) > maxPooledScratch || cap(d.idx) > maxPooledScratch {
		return
	}
	clear(d.ops[:cap(d.ops)]) // drop the references into this request's documents
	clear(d.mem[:cap(d.mem)])
	clear(d.elems[:cap(d.elems)])
	d.ops, d.mem, d.elems, d.idx = d.ops[:0], d.mem[:0], d.elems[:0], d.idx[:0]
	differs.Put(d)
}

func (d *differ) value(path string, a, b []byte) error {
	if bytes.Equal(a, b) {
		return nil
	}
	switch ka, kb := kind(a), kind(b); {
	case ka == '{' && kb == '{':
		return d.object(path, a, b)
	case ka == '[' && kb == '[':
		return d.array(path, a, b)
	}
	d.ops = append(d.ops, patchOp{"replace", path, b})
	return nil
}

// object diffs two objects key by key. Keys are compared as their raw
// (still escaped) bytes: encoding/json escapes equal keys alike. Both
// documents are encodings of one type, so the keys they share come in the
// same order (struct fields in declaration order, map keys sorted), and the
// search for each of b's keys in a starts where the last one matched.
func (d *differ) object(path string, a, b []byte) error {
	base := len(d.mem)
	var err error
	if d.mem, err = appendMembers(d.mem, a); err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	na := len(d.mem) - base
	if d.mem, err = appendMembers(d.mem, b); err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	ma, mb := d.mem[base:base+na], d.mem[base+na:]
	ibase := len(d.idx)
	defer func() { d.mem, d.idx = d.mem[:base], d.idx[:ibase] }()

	// match[j] is the index in ma of mb[j]'s key, or -1; used[i] says ma[i]
	// has a partner (both in d.idx, match first).
	for range mb {
		d.idx = append(d.idx, -1)
	}
	for range ma {
		d.idx = append(d.idx, 0)
	}
	match, used := d.idx[ibase:ibase+len(mb)], d.idx[ibase+len(mb):]
	next := 0
	for j := range mb {
		for k := range ma {
			i := (next + k) % len(ma)
			if used[i] == 0 && bytes.Equal(ma[i].key, mb[j].key) {
				match[j], used[i], next = i, 1, i+1
				break
			}
		}
	}
	for i := range ma {
		if used[i] == 0 {
			p, err := childPath(path, ma[i].key)
			if err != nil {
				return err
			}
			d.ops = append(d.ops, patchOp{op: "remove", path: p})
		}
	}
	for j := range mb {
		if match[j] >= 0 && bytes.Equal(ma[match[j]].val, mb[j].val) {
			continue
		}
		p, err := childPath(path, mb[j].key)
		if err != nil {
			return err
		}
		if match[j] < 0 {
			d.ops = append(d.ops, patchOp{"add", p, mb[j].val})
			continue
		}
		if err := d.value(p, ma[match[j]].val, mb[j].val); err != nil {
			return err
		}
	}
	return nil
}

func (d *differ) array(path string, a, b []byte) error {
	base := len(d.elems)
	var err error
	if d.elems, err = appendElements(d.elems, a); err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	na := len(d.elems) - base
	if d.elems, err = appendElements(d.elems, b); err != nil {
		return fmt.Errorf("diff %s: %w", pathOrRoot(path), err)
	}
	xa, xb := d.elems[base:base+na], d.elems[base+na:]
	defer func() { d.elems = d.elems[:base] }()
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
			if bytes.Equal(ma[i], mb[i]) {
				continue
			}
			if err := d.value(path+"/"+strconv.Itoa(pre+i), ma[i], mb[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for i := len(ma) - 1; i >= 0; i-- {
		d.ops = append(d.ops, patchOp{op: "remove", path: path + "/" + strconv.Itoa(pre+i)})
	}
	for i, v := range mb { // an add at an index shifts what follows; at the length it appends
		d.ops = append(d.ops, patchOp{"add", path + "/" + strconv.Itoa(pre+i), v})
	}
	return nil
}

// childPath is path with the member's raw key appended as a JSON Pointer
// token (unescaped from JSON first, if it has escapes).
func childPath(path string, raw []byte) (string, error) {
	key := string(raw)
	if bytes.IndexByte(raw, '\\') >= 0 {
		quoted := make([]byte, 0, len(raw)+2)
		quoted = append(append(append(quoted, '"'), raw...), '"')
		if err := json.Unmarshal(quoted, &key); err != nil {
			return "", errSyntax
		}
	}
	return path + "/" + escape(key), nil
}

// A member of a JSON object: its key's raw bytes between the quotes (still
// escaped) and its value's bytes, both subslices of the document.
type member struct {
	key []byte
	val []byte
}

var errSyntax = errors.New("malformed JSON")

// appendMembers appends the members of a JSON object to out without
// decoding their values (subslices of obj, no copies).
func appendMembers(out []member, obj []byte) ([]member, error) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return out, errSyntax
	}
	for i = skipSpace(obj, i+1); i < len(obj) && obj[i] != '}'; {
		if obj[i] != '"' {
			return out, errSyntax
		}
		end, err := skipString(obj, i)
		if err != nil {
			return out, err
		}
		key := obj[i+1 : end-1]
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return out, errSyntax
		}
		start := skipSpace(obj, i+1)
		if end, err = skipValue(obj, start); err != nil {
			return out, err
		}
		out = append(out, member{key: key, val: obj[start:end]})
		if i = skipSpace(obj, end); i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	if i >= len(obj) {
		return out, errSyntax
	}
	return out, nil
}

// appendElements appends a JSON array's elements' bytes (subslices of arr) to out.
func appendElements(out [][]byte, arr []byte) ([][]byte, error) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return out, errSyntax
	}
	for i = skipSpace(arr, i+1); i < len(arr) && arr[i] != ']'; {
		end, err := skipValue(arr, i)
		if err != nil {
			return out, err
		}
		out = append(out, arr[i:end])
		if i = skipSpace(arr, end); i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	if i >= len(arr) {
		return out, errSyntax
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
