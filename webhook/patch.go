package webhook

import (
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
)

// typedPatch returns the RFC 6902 operations (the patch's JSON, nil when
// there are none) that turn the JSON encoding of *before into that of
// *after, two values of one type, without encoding either: it walks the two
// values side by side and encodes only what the patch carries. Encoding both
// pods and diffing the bytes was 35% of BenchmarkServeHTTP's and
// BenchmarkHandleInit's CPU.
//
// What the mutation did not touch is shared between before and after (see
// takeSnapshot), so equal pointers, slices and maps end the walk at once; only
// the fields the mutation changed are descended. Each struct field is
// present or absent in the encoding as encoding/json decides (its JSON name,
// omitempty, omitzero, embedded structs); a field that appears is an add,
// one that goes a remove. Maps are diffed key by key. Slices keep their
// common prefix and suffix; a middle of equal length is diffed element by
// element, any other middle is removed and inserted whole, so a container
// given a volume mount is patched field by field. Values with their own JSON
// encoding (a Quantity, a Time) are compared by their encodings.
//
// So the patch names only paths where the two values differ, and fields
// this build's API types do not know, present in the API server's object
// but in neither value, are never patched away.
func typedPatch(before, after any) ([]byte, error) {
	a, b := reflect.ValueOf(before), reflect.ValueOf(after)
	if a.Kind() != reflect.Pointer || a.IsNil() || b.Type() != a.Type() || b.IsNil() {
		return nil, fmt.Errorf("typedPatch: want two non-nil pointers of one type, got %T and %T", before, after)
	}
	d := differs.Get().(*differ)
	defer d.release()
	if err := d.value(planOf(a.Type().Elem()), a.Elem(), b.Elem()); err != nil {
		return nil, err
	}
	return d.encode(), nil
}

// snapshot is what typedPatch compares a mutated pod with: a shallow copy of
// pod that shares everything with it but what a mutator writes in place,
// the annotations (the status) and the app containers (their mounts, env and
// command, changed through a pointer). A mutator may replace any field of the
// pod or of a container, and append to any list, but must not write into
// another slice or map it did not allocate: the change would be in both
// values, and missing from the patch. TestHandlerPatchGivesEveryGoldenPod and
// FuzzMutate hold the mutators to it.
//
// Pooled, with its containers' array: the copy of a pod is 1.2 KB, and it
// was a sixth of an admission's allocated bytes. release returns it, once
// typedPatch (which keeps no reference into it) is done.
type snapshot struct {
	pod        corev1.Pod
	containers []corev1.Container
}

var snapshots = sync.Pool{New: func() any { return new(snapshot) }}

func takeSnapshot(pod *corev1.Pod) *snapshot {
	s := snapshots.Get().(*snapshot)
	s.pod = *pod
	s.pod.Annotations = maps.Clone(pod.Annotations)
	if pod.Spec.Containers != nil { // nil stays nil (null), [] stays [] even in a fresh snapshot
		if s.containers == nil {
			s.containers = make([]corev1.Container, 0, len(pod.Spec.Containers))
		}
		s.containers = append(s.containers[:0], pod.Spec.Containers...)
		s.pod.Spec.Containers = s.containers
	}
	return s
}

// maxPooledContainers bounds the containers' array a pooled snapshot keeps.
const maxPooledContainers = 64

func (s *snapshot) release() {
	clear(s.containers[:cap(s.containers)]) // drop the references into this request's pod
	s.pod, s.containers = corev1.Pod{}, s.containers[:0]
	if cap(s.containers) <= maxPooledContainers {
		snapshots.Put(s)
	}
}

// patchOp is one RFC 6902 operation: remove has no value; add and replace
// carry the value's JSON.
type patchOp struct {
	op, path string
	value    []byte
}

// differ holds one patch's operations, and the JSON Pointer tokens of the
// place the walk is at: a path is written only for an operation, not for
// each of the thousand fields a pod's walk visits. Pooled.
type differ struct {
	ops  []patchOp
	path []string
}

var differs = sync.Pool{New: func() any { return new(differ) }}

// maxPooledOps bounds what a pooled differ keeps, so one huge patch does not
// pin its operations for good.
const maxPooledOps = 1024

func (d *differ) release() {
	if cap(d.ops) > maxPooledOps || cap(d.path) > maxPooledOps {
		return
	}
	clear(d.ops[:cap(d.ops)]) // drop the references to this request's values
	clear(d.path[:cap(d.path)])
	d.ops, d.path = d.ops[:0], d.path[:0]
	differs.Put(d)
}

// at is the JSON Pointer of the walk's place.
func (d *differ) at() string {
	n := 0
	for _, t := range d.path {
		n += 1 + len(t)
	}
	b := make([]byte, 0, n)
	for _, t := range d.path {
		b = append(append(b, '/'), t...)
	}
	return string(b)
}

func (d *differ) remove() { d.ops = append(d.ops, patchOp{op: "remove", path: d.at()}) }

func (d *differ) set(op string, v reflect.Value) error {
	raw, err := encodeValue(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", pathOrRoot(d.at()), err)
	}
	d.ops = append(d.ops, patchOp{op, d.at(), raw})
	return nil
}

// encodeValue is v's JSON as encoding/json writes it inside its container:
// through a pointer when v is addressable, so a MarshalJSON with a pointer
// receiver applies exactly where it would.
func encodeValue(v reflect.Value) ([]byte, error) {
	if v.CanAddr() {
		return json.Marshal(v.Addr().Interface())
	}
	return json.Marshal(v.Interface())
}

// value appends the operations that turn a into b, two values of p's type
// present in their encodings, at the walk's place.
func (d *differ) value(p *plan, a, b reflect.Value) error {
	switch p.shape {
	case shapeLeaf:
		return d.leaf(a, b)
	case shapePointer:
		switch {
		case a.Pointer() == b.Pointer():
			return nil
		case a.IsNil() || b.IsNil():
			return d.set("replace", b) // null and a value
		}
		return d.value(p.elemPlan(), a.Elem(), b.Elem())
	case shapeInterface:
		switch {
		case a.IsNil() && b.IsNil():
			return nil
		case a.IsNil() || b.IsNil() || a.Elem().Type() != b.Elem().Type():
			return d.set("replace", b)
		}
		return d.value(planOf(a.Elem().Type()), a.Elem(), b.Elem())
	case shapeStruct:
		return d.object(p, a, b)
	case shapeMap:
		switch {
		case a.IsNil() != b.IsNil():
			return d.set("replace", b) // null and an object
		case a.Pointer() == b.Pointer():
			return nil
		}
		return d.mapping(p, a, b)
	case shapeSlice:
		switch {
		case a.IsNil() != b.IsNil():
			return d.set("replace", b) // null and an array
		case a.Len() == b.Len() && (a.Len() == 0 || a.Pointer() == b.Pointer()):
			return nil
		}
		return d.array(p, a, b)
	case shapeString:
		if a.String() != b.String() {
			return d.set("replace", b)
		}
		return nil
	}
	if !a.Equal(b) || (p.shape == shapeFloat && math.Signbit(a.Float()) != math.Signbit(b.Float())) { // bool, numbers; 0 and -0 encode apart
		return d.set("replace", b)
	}
	return nil
}

// leaf compares a and b by their encodings.
func (d *differ) leaf(a, b reflect.Value) error {
	ea, err := encodeValue(a)
	if err == nil {
		var eb []byte
		if eb, err = encodeValue(b); err == nil {
			if string(ea) != string(eb) {
				d.ops = append(d.ops, patchOp{"replace", d.at(), eb})
			}
			return nil
		}
	}
	return fmt.Errorf("encode %s: %w", pathOrRoot(d.at()), err)
}

// object diffs two structs field by field, as encoding/json lays them out.
//
// Where both structs are addressable (all but map values), a field whose
// memory is the same in both is equal and skipped without reflection: equal
// bytes are equal numbers, the same pointers and the same slice, map and
// string headers, so the same encoding. (Unequal bytes, padding say, prove
// nothing: that field is walked.) Most of a pod's fields are the same
// bytes, the snapshot being a shallow copy: the check took BenchmarkServeHTTP
// from 48.5 to 45.3 µs (the best of 8 runs each).
func (d *differ) object(p *plan, a, b reflect.Value) error {
	var ma, mb unsafe.Pointer
	if a.CanAddr() && b.CanAddr() {
		ma, mb = a.Addr().UnsafePointer(), b.Addr().UnsafePointer()
		if sameBytes(ma, mb, p.t.Size()) {
			return nil
		}
	}
	for i := range p.fields {
		f := &p.fields[i]
		if ma != nil && sameBytes(unsafe.Add(ma, f.offset), unsafe.Add(mb, f.offset), f.size) {
			continue
		}
		fa, fb := a.FieldByIndex(f.index), b.FieldByIndex(f.index)
		pa, pb := f.present(fa), f.present(fb)
		if !pa && !pb {
			continue
		}
		d.path = append(d.path, f.token)
		var err error
		switch {
		case !pb:
			d.remove()
		case !pa:
			err = d.set("add", fb)
		default:
			err = d.value(f.plan(), fa, fb)
		}
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

// sameBytes reports whether the n bytes at a and at b are the same. Callers
// pass two values of one type, or one field of two such values, and its
// size: the reads stay inside the values, and nothing is written.
func sameBytes(a, b unsafe.Pointer, n uintptr) bool {
	return a == b || string(unsafe.Slice((*byte)(a), n)) == string(unsafe.Slice((*byte)(b), n)) //nolint:gosec // reads of n bytes within two live values of n or more bytes (see above)
}

// mapping diffs two maps of string keys key by key, in key order (the patch
// is the same for the same pair).
func (d *differ) mapping(p *plan, a, b reflect.Value) error {
	for _, k := range sortedKeys(a) {
		if !b.MapIndex(k).IsValid() {
			d.path = append(d.path, escape(k.String()))
			d.remove()
			d.path = d.path[:len(d.path)-1]
		}
	}
	for _, k := range sortedKeys(b) {
		vb := b.MapIndex(k)
		d.path = append(d.path, escape(k.String()))
		var err error
		if va := a.MapIndex(k); va.IsValid() {
			err = d.value(p.elemPlan(), va, vb)
		} else {
			err = d.set("add", vb)
		}
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(x.String(), y.String()) })
	return keys
}

// array diffs two slices: the common prefix and suffix stay; a middle of
// equal length is diffed element by element; any other middle is removed
// (from the end, so the indexes hold) and the new one inserted (an add at an
// index shifts what follows; at the length it appends).
func (d *differ) array(p *plan, a, b reflect.Value) error {
	na, nb := a.Len(), b.Len()
	pre := 0
	elem := p.elemPlan()
	for pre < na && pre < nb && sameElem(elem, a.Index(pre), b.Index(pre)) {
		pre++
	}
	suf := 0
	for suf < na-pre && suf < nb-pre && sameElem(elem, a.Index(na-1-suf), b.Index(nb-1-suf)) {
		suf++
	}
	ma, mb := na-pre-suf, nb-pre-suf
	each := func(from, to, step int, do func(i int) error) error {
		for i := from; i != to; i += step {
			d.path = append(d.path, strconv.Itoa(i))
			err := do(i)
			d.path = d.path[:len(d.path)-1]
			if err != nil {
				return err
			}
		}
		return nil
	}
	if ma == mb {
		return each(pre, pre+ma, 1, func(i int) error { return d.value(elem, a.Index(i), b.Index(i)) })
	}
	_ = each(pre+ma-1, pre-1, -1, func(int) error { d.remove(); return nil })
	return each(pre, pre+mb, 1, func(i int) error { return d.set("add", b.Index(i)) })
}

// sameElem reports whether two slice elements (addressable) of p's type
// encode alike: the same bytes, or deeply equal where that implies it.
// reflect.DeepEqual stops at equal pointers, slices and maps, which is what
// a snapshot shares; it calls 0 and -0 equal, which encode apart, so an
// element type that may hold a float is compared by its encoding instead.
// The converse does not hold (a nil and an empty omitted list): such a pair
// is diffed, which costs a walk and finds nothing.
func sameElem(p *plan, x, y reflect.Value) bool {
	px, py := x.Addr().UnsafePointer(), y.Addr().UnsafePointer()
	if sameBytes(px, py, x.Type().Size()) { // see object
		return true
	}
	if !p.floatFree {
		ex, errx := encodeValue(x)
		ey, erry := encodeValue(y)
		return errx == nil && erry == nil && string(ex) == string(ey)
	}
	return reflect.DeepEqual(x.Addr().Interface(), y.Addr().Interface())
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	zeroer        = reflect.TypeFor[interface{ IsZero() bool }]()
)

// shape is how the walk treats a type.
type shape uint8

const (
	shapeScalar    shape = iota // bool, integers: compared
	shapeFloat                  // compared, and the sign of a zero
	shapeString                 // compared
	shapeLeaf                   // compared by its encoding
	shapePointer                // descended when the two differ
	shapeInterface              // descended when the dynamic types agree
	shapeStruct                 // field by field
	shapeMap                    // key by key
	shapeSlice                  // element by element
)

// plan is what the walk knows of a type, worked out once per type: its
// shape, its encoded fields (a struct), its element's plan (found on first
// use: types may be recursive).
type plan struct {
	t      reflect.Type
	shape  shape
	fields []fieldInfo
	elem   atomic.Pointer[plan]
	// floatFree: no value of the type can hold a float (none of its
	// fields, elements or pointees, at any depth, is a float, a complex or
	// an interface).
	floatFree bool
}

func floatFreeType(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return true // what a cycle holds is found on the way round
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.Interface:
		return false
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return floatFreeType(t.Elem(), seen)
	case reflect.Map:
		return floatFreeType(t.Key(), seen) && floatFreeType(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if !floatFreeType(t.Field(i).Type, seen) {
				return false
			}
		}
	}
	return true
}

func (p *plan) elemPlan() *plan {
	if e := p.elem.Load(); e != nil {
		return e
	}
	e := planOf(p.t.Elem())
	p.elem.Store(e)
	return e
}

type fieldInfo struct {
	index               []int
	offset, size        uintptr // the field's bytes in the outermost struct
	token               string  // the JSON name as a JSON Pointer token
	omitEmpty, omitZero bool
	zero                zeroMethod // for omitZero
	t                   reflect.Type
	p                   atomic.Pointer[plan]
}

func (f *fieldInfo) plan() *plan {
	if p := f.p.Load(); p != nil {
		return p
	}
	p := planOf(f.t)
	f.p.Store(p)
	return p
}

// present reports whether the field appears in its struct's encoding.
func (f *fieldInfo) present(v reflect.Value) bool {
	return (!f.omitEmpty || !isEmpty(v)) && (!f.omitZero || !isZero(v, f.zero))
}

var plans sync.Map // reflect.Type → *plan

func planOf(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := &plan{t: t, shape: shapeOf(t), floatFree: floatFreeType(t, map[reflect.Type]bool{})}
	if p.shape == shapeStruct && !p.addFields(t, nil, 0, 0) {
		p.shape, p.fields = shapeLeaf, nil
	}
	actual, _ := plans.LoadOrStore(t, p)
	return actual.(*plan)
}

func shapeOf(t reflect.Type) shape {
	pt := reflect.PointerTo(t)
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || pt.Implements(jsonMarshaler) || pt.Implements(textMarshaler) {
		return shapeLeaf // encodes itself
	}
	switch t.Kind() {
	case reflect.Pointer:
		return shapePointer
	case reflect.Interface:
		return shapeInterface
	case reflect.Struct:
		return shapeStruct
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			return shapeMap
		}
	case reflect.Slice:
		if t.Elem().Kind() != reflect.Uint8 { // a []byte is one base64 string
			return shapeSlice
		}
	case reflect.String:
		return shapeString
	case reflect.Float32, reflect.Float64:
		return shapeFloat
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return shapeScalar
	}
	return shapeLeaf // encoding/json's own verdict (an error for a channel)
}

// addFields appends t's encoded fields, embedded structs' fields promoted,
// each index prefixed with at; false for a layout this differ leaves to
// encoding/json (a field with the string option, a struct embedded through a
// pointer, two fields of one name), which makes the struct a leaf.
func (p *plan) addFields(t reflect.Type, at []int, base uintptr, depth int) bool {
	if depth > 8 {
		return false
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !validTagName(name) {
			name = "" // encoding/json's verdict: the Go name, and an embedded struct is promoted
		}
		index := append(slices.Clip(at), i)
		if sf.Anonymous && name == "" {
			switch sf.Type.Kind() {
			case reflect.Struct:
				if !p.addFields(sf.Type, index, base+sf.Offset, depth+1) {
					return false
				}
				continue
			case reflect.Pointer:
				return false
			}
		}
		if !sf.IsExported() {
			if sf.Anonymous {
				return false // an unexported embedded non-struct, or one with a name
			}
			continue
		}
		if name == "" {
			name = sf.Name
		}
		token := escape(name)
		for j := range p.fields {
			if p.fields[j].token == token {
				return false
			}
		}
		p.fields = append(p.fields, fieldInfo{index: index, offset: base + sf.Offset, size: sf.Type.Size(), token: token, t: sf.Type})
		f := &p.fields[len(p.fields)-1]
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero, f.zero = true, zeroMethodOf(sf.Type)
			case "string":
				return false
			}
		}
	}
	return true
}

// validTagName is encoding/json's test of a tag's name: letters, digits and
// ASCII punctuation but the quote, backslash and comma.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZero is encoding/json's omitzero test: the type's IsZero method when it
// has one (m, worked out with the field's plan; a nil pointer or interface,
// or an interface holding a nil pointer, is zero without a call), else the
// zero value.
func isZero(v reflect.Value, m zeroMethod) bool {
	switch m {
	case zeroValue:
		if k := v.Kind(); k == reflect.Pointer || k == reflect.Interface {
			if v.IsNil() || (k == reflect.Interface && v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil()) {
				return true
			}
		}
		return v.Interface().(interface{ IsZero() bool }).IsZero()
	case zeroPointer:
		if !v.CanAddr() {
			c := reflect.New(v.Type()).Elem()
			c.Set(v)
			v = c
		}
		return v.Addr().Interface().(interface{ IsZero() bool }).IsZero()
	}
	return v.IsZero()
}

// zeroMethod is where a type's IsZero method is, if it has one.
type zeroMethod uint8

const (
	zeroNone zeroMethod = iota
	zeroValue
	zeroPointer
)

func zeroMethodOf(t reflect.Type) zeroMethod {
	switch {
	case t.Implements(zeroer):
		return zeroValue
	case reflect.PointerTo(t).Implements(zeroer):
		return zeroPointer
	}
	return zeroNone
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

// appendString appends s as a JSON string. s is valid UTF-8 (field names,
// and map keys decoded from JSON); only the quote, the backslash and control
// characters need escaping.
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
