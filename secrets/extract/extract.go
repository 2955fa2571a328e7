// Package extract turns fetched values into the file set a SecretProviderClass
// describes: the whole value of each object as its file, one file per jmesPath
// entry, and one file per top-level key for allKeys objects.
//
// Rules:
//   - The whole value is written as is (a SecretBinary raw, never re-encoded).
//   - jmesPath and allKeys need a JSON value (SecretString, or a SecretBinary
//     holding JSON); anything else is an error naming the object.
//   - A jmesPath result must be a string, written without quotes. A number,
//     boolean, object or array is an error unless the entry sets
//     allowNonString: true, which writes it as compact JSON (5432, true,
//     {"a":1}). A missing key or null is an error naming the path.
//   - allKeys: the value must be a JSON object; each top-level key becomes a
//     file named by the key after pathTranslation. String values are written
//     without quotes; other values as compact JSON, exactly as they appear in
//     the secret (numbers keep their digits). Each name must pass
//     secrets.ValidatePath and not collide with any other file of the class.
//
// Errors never contain a value: they name the object, the path or key and the
// JSON type, and (for JSON syntax errors) only the byte offset.
package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jmespath/go-jmespath"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// ReasonInvalidValue is the failure reason of every extraction error.
const ReasonInvalidValue = "InvalidSecretValue"

// Error is an extraction failure of one object.
type Error struct {
	// Index and Name identify the object.
	Index int
	Name  string
	// Field is the SecretProviderClass field involved, e.g. "objects[0].jmesPath[1].path".
	Field string
	// Problem says what is wrong, without any value.
	Problem string
	// Fix says what to do, when there is something to say.
	Fix string
}

// Error renders "objects[i] "name": field: problem; fix: ...".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (object %q): %s", e.Field, e.Name, e.Problem)
	if e.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Reason implements reason.Reasoner.
func (e *Error) Reason() reason.Reason { return reason.InvalidValue }

// Files builds the file set of spec from vals (one per spec.Objects[i], as
// returned by awsfetch.Fetcher.Fetch), in object order. On failure it returns
// no files and an error listing every failed object (each an *Error).
func Files(spec *spc.Spec, vals []secrets.Fetched) ([]secrets.File, error) {
	if spec == nil {
		return nil, errors.New("extract: nil spec")
	}
	if len(vals) != len(spec.Objects) {
		return nil, fmt.Errorf("extract: %d values for %d objects", len(vals), len(spec.Objects))
	}
	// Every name the class fixes up front; allKeys names must avoid them.
	used := map[string]string{}
	for i := range spec.Objects {
		o := &spec.Objects[i]
		used[o.FileName] = fmt.Sprintf("objects[%d]", o.Index)
		for k, j := range o.JMESPath {
			used[j.FileName] = fmt.Sprintf("objects[%d].jmesPath[%d]", o.Index, k)
		}
	}

	var files []secrets.File
	var errs []error
	for i, v := range vals {
		o := &spec.Objects[i]
		fs, err := objectFiles(spec, o, v, used)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, fs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := checkNesting(files); err != nil {
		return nil, err
	}
	return files, nil
}

// checkNesting rejects a file whose path is a directory of another ("a" and
// "a/b"): both cannot exist. Names are sorted, so "a/..." follows "a" closely;
// any path between them sorts below "a/" and cannot be under "a".
func checkNesting(files []secrets.File) error {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	sort.Strings(paths)
	for i, p := range paths {
		for _, q := range paths[i+1:] {
			if !strings.HasPrefix(q, p) {
				break
			}
			if strings.HasPrefix(q, p+"/") {
				return &Error{Index: -1, Field: "objects", Problem: fmt.Sprintf("file %q would also have to be the directory of %q", p, q),
					Fix: "rename one of them (objectAlias, or the key for allKeys)"}
			}
		}
	}
	return nil
}

func objectFiles(spec *spc.Spec, o *spc.Object, v secrets.Fetched, used map[string]string) ([]secrets.File, error) {
	field := fmt.Sprintf("objects[%d]", o.Index)
	files := []secrets.File{{Path: o.FileName, Mode: o.Mode, Content: v.Value}}
	if len(o.JMESPath) == 0 && !o.AllKeys {
		return files, nil
	}
	kind := "SecretString"
	if v.Binary {
		kind = "SecretBinary"
	}
	raw := v.Value.Bytes()
	if !json.Valid(raw) {
		f := field + ".jmesPath"
		if o.AllKeys {
			f = field + ".allKeys"
		}
		return nil, &Error{Index: o.Index, Name: o.Name, Field: f,
			Problem: fmt.Sprintf("the %s is not valid JSON (%s)", kind, syntaxWhere(raw)),
			Fix:     "store the secret as a JSON document, or remove jmesPath/allKeys to mount the whole value"}
	}
	if o.AllKeys {
		more, err := allKeys(spec, o, raw, used)
		if err != nil {
			return nil, err
		}
		return append(files, more...), nil
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, &Error{Index: o.Index, Name: o.Name, Field: field + ".jmesPath", Problem: fmt.Sprintf("the %s is not valid JSON", kind)}
	}
	for k := range o.JMESPath {
		j := &o.JMESPath[k]
		jf := fmt.Sprintf("%s.jmesPath[%d].path", field, k)
		content, err := search(j, doc)
		if err != nil {
			err.Index, err.Name, err.Field = o.Index, o.Name, jf
			return nil, err
		}
		files = append(files, secrets.File{Path: j.FileName, Mode: j.Mode, Content: secrets.NewValue(content)})
	}
	return files, nil
}

// search evaluates one entry; the returned *Error lacks the object fields.
func search(j *spc.JMESPathEntry, doc any) ([]byte, *Error) {
	expr := j.Expr
	if expr == nil {
		var err error
		if expr, err = jmespath.Compile(j.Path); err != nil {
			return nil, &Error{Problem: fmt.Sprintf("invalid JMESPath %q", j.Path)}
		}
	}
	res, err := safeSearch(expr, doc)
	if err != nil {
		return nil, &Error{Problem: fmt.Sprintf("JMESPath %q failed: %s", j.Path, searchErr(err))}
	}
	switch r := res.(type) {
	case nil:
		return nil, &Error{Problem: fmt.Sprintf("JMESPath %q matched nothing (the key is missing or null)", j.Path),
			Fix: "check the key names in the secret and the path"}
	case string:
		return []byte(r), nil
	}
	if !j.AllowNonString {
		return nil, &Error{Problem: fmt.Sprintf("JMESPath %q yields a %s, not a string", j.Path, jsonType(res)),
			Fix: "point the path at a string, or set allowNonString: true on this entry to write it as JSON"}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, &Error{Problem: fmt.Sprintf("JMESPath %q: result cannot be written as JSON", j.Path)}
	}
	return b, nil
}

// safeSearch runs the expression, turning a panic of the JMESPath library
// into an error (its interpreter is not hardened against every input).
func safeSearch(expr *jmespath.JMESPath, doc any) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, errors.New("evaluation failed")
		}
	}()
	return expr.Search(doc)
}

func allKeys(spec *spc.Spec, o *spc.Object, raw []byte, used map[string]string) ([]secrets.File, error) {
	field := fmt.Sprintf("objects[%d].allKeys", o.Index)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, &Error{Index: o.Index, Name: o.Name, Field: field,
			Problem: fmt.Sprintf("the value is a JSON %s, allKeys needs a JSON object", rawJSONType(raw)),
			Fix:     "store a JSON object, or use jmesPath"}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	files := make([]secrets.File, 0, len(keys))
	for n, k := range keys {
		name := translate(spec.PathTranslation, k)
		if prob := secrets.PathProblem(name); prob != "" {
			return nil, &Error{Index: o.Index, Name: o.Name, Field: field,
				Problem: fmt.Sprintf("top-level key #%d (in sorted order) does not make a valid file name: %s", n+1, prob),
				Fix:     "rename the key in the secret, or use jmesPath with objectAlias for it"}
		}
		if prev, dup := used[name]; dup {
			return nil, &Error{Index: o.Index, Name: o.Name, Field: field,
				Problem: fmt.Sprintf("key %q makes file name %q, already used by %s", k, name, prev),
				Fix:     "rename the key or the other file (objectAlias)"}
		}
		used[name] = fmt.Sprintf("objects[%d].allKeys key %q", o.Index, k)
		content, err := keyContent(m[k])
		if err != nil {
			return nil, &Error{Index: o.Index, Name: o.Name, Field: field, Problem: fmt.Sprintf("key %q: value cannot be written", k)}
		}
		files = append(files, secrets.File{Path: name, Mode: o.Mode, Content: secrets.NewValue(content)})
	}
	return files, nil
}

// keyContent renders one allKeys value: a string unquoted, anything else as compact JSON.
func keyContent(v json.RawMessage) ([]byte, error) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// translate maps a key to a file name like spc maps object names: "/" becomes
// the translation character; with translation disabled a leading "/" is dropped.
func translate(tr, name string) string {
	if tr == "" {
		return strings.TrimLeft(name, "/")
	}
	return strings.ReplaceAll(name, "/", tr)
}

// syntaxWhere locates a JSON syntax error by offset only (the error text of
// encoding/json quotes the offending character, which is secret material).
func syntaxWhere(raw []byte) string {
	var v any
	err := json.Unmarshal(raw, &v)
	var se *json.SyntaxError
	switch {
	case len(bytes.TrimSpace(raw)) == 0:
		return "empty"
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d of %d", se.Offset, len(raw))
	}
	return fmt.Sprintf("%d bytes", len(raw))
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func rawJSONType(raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "invalid document"
	}
	return jsonType(v)
}

// searchErr renders a go-jmespath evaluation error without data: its
// "Invalid type for: <argument>" message prints the argument, a piece of the secret.
func searchErr(err error) string {
	msg := firstLine(err.Error())
	if strings.HasPrefix(msg, "Invalid type for") {
		return "a function argument has the wrong type"
	}
	return msg
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
