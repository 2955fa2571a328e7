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
// Bounds (reason LimitExceeded): a value over secrets.MaxValueBytes fails its
// object; a jmesPath entry is evaluated by secrets/jmespath within
// jmespath.DefaultBudget and fails its object when over it; the whole set
// fails when it would hold more than secrets.MaxFiles files or
// secrets.MaxSetBytes bytes, checked as each file is made.
//
// Errors are *secrets.Problem (reason InvalidValue, or LimitExceeded for a
// bound). They never contain a value: they name the object, the path or key
// and the JSON type, and (for JSON syntax errors) only the byte offset.
package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/jmespath"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// problem is a failure of object o (nil: of the whole set).
func problem(o *spc.Object, field string, kind reason.Reason, prob, fix string) *secrets.Problem {
	p := &secrets.Problem{Object: -1, Field: field, Problem: prob, Fix: fix, Kind: kind}
	if o != nil {
		p.Object, p.ObjectName = o.Index, o.Name
	}
	return p
}

// invalid is a value that does not fit object o.
func invalid(o *spc.Object, field, prob, fix string) *secrets.Problem {
	return problem(o, field, reason.InvalidValue, prob, fix)
}

// tally counts the files of a set as they are made, against secrets.MaxFiles
// and secrets.MaxSetBytes.
type tally struct {
	files, bytes int
}

// add counts one file of n bytes; over a bound it returns the set's failure.
func (t *tally) add(n int) *secrets.Problem {
	t.files++
	t.bytes += n
	switch {
	case t.files > secrets.MaxFiles:
		return problem(nil, "objects", reason.LimitExceeded,
			fmt.Sprintf("the class makes more than %d files", secrets.MaxFiles),
			"split the objects over more than one SecretProviderClass, or extract fewer keys")
	case t.bytes > secrets.MaxSetBytes:
		return problem(nil, "objects", reason.LimitExceeded,
			fmt.Sprintf("the files of the class come to more than %d bytes", secrets.MaxSetBytes),
			"split the objects over more than one SecretProviderClass, or extract less")
	}
	return nil
}

// Files builds the file set of spec from vals (one per spec.Objects[i], as
// returned by awsfetch.Fetcher.Fetch), in object order. On failure it returns
// no files and an error listing every failed object (each a
// *secrets.Problem); a set over secrets.MaxFiles or secrets.MaxSetBytes fails
// as soon as it is, with the failures found so far.
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
	var t tally
	for i, v := range vals {
		o := &spec.Objects[i]
		fs, err := objectFiles(spec, o, v, used, &t)
		if err != nil {
			if err.Object < 0 {
				// The set is over a bound: stop here, make nothing more.
				return nil, errors.Join(append(errs, err)...)
			}
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
				return invalid(nil, "objects", fmt.Sprintf("file %s would also have to be the directory of %s", secrets.Quote(p), secrets.Quote(q)),
					"rename one of them (objectAlias, or the key for allKeys)")
			}
		}
	}
	return nil
}

// objectFiles makes the files of one object; a failure with Object -1 is the
// whole set's (over a bound).
func objectFiles(spec *spc.Spec, o *spc.Object, v secrets.Fetched, used map[string]string, t *tally) ([]secrets.File, *secrets.Problem) {
	field := fmt.Sprintf("objects[%d]", o.Index)
	if n := v.Value.Len(); n > secrets.MaxValueBytes {
		return nil, problem(o, field, reason.LimitExceeded,
			fmt.Sprintf("the value is %d bytes, over the limit of %d bytes", n, secrets.MaxValueBytes),
			"store a smaller value (Secrets Manager itself holds at most 64 KiB)")
	}
	if err := t.add(v.Value.Len()); err != nil {
		return nil, err
	}
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
		return nil, invalid(o, f, fmt.Sprintf("the %s is not valid JSON (%s)", kind, syntaxWhere(raw)),
			"store the secret as a JSON document, or remove jmesPath/allKeys to mount the whole value")
	}
	if o.AllKeys {
		more, err := allKeys(spec, o, raw, used, t)
		if err != nil {
			return nil, err
		}
		return append(files, more...), nil
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, invalid(o, field+".jmesPath", fmt.Sprintf("the %s is not valid JSON", kind), "")
	}
	for k := range o.JMESPath {
		j := &o.JMESPath[k]
		content, err := search(j, doc)
		if err != nil {
			err.Object, err.ObjectName, err.Field = o.Index, o.Name, fmt.Sprintf("%s.jmesPath[%d].path", field, k)
			return nil, err
		}
		if err := t.add(len(content)); err != nil {
			return nil, err
		}
		files = append(files, secrets.File{Path: j.FileName, Mode: j.Mode, Content: secrets.NewValue(content)})
	}
	return files, nil
}

// search evaluates one entry within jmespath.DefaultBudget; the returned
// problem lacks the object and the field.
func search(j *spc.JMESPathEntry, doc any) ([]byte, *secrets.Problem) {
	path := secrets.Quote(j.Path)
	// spc compiled it with this interpreter when it validated the class;
	// compile here only for an entry built without spc.
	expr, err := j.Expr, error(nil)
	if expr == nil {
		expr, err = jmespath.Compile(j.Path)
	}
	if err != nil {
		return nil, &secrets.Problem{Problem: fmt.Sprintf("invalid JMESPath %s: %s", path, err), Kind: reason.Of(err),
			Fix: "fix the expression (JMESPath syntax: https://jmespath.org/specification.html)"}
	}
	budget := jmespath.DefaultBudget()
	res, err := safeSearch(expr, doc, budget)
	var limit *jmespath.LimitError
	switch {
	case errors.As(err, &limit):
		return nil, &secrets.Problem{Kind: reason.LimitExceeded,
			Problem: fmt.Sprintf("JMESPath %s is over its evaluation budget: %s", path, limit),
			Fix:     fmt.Sprintf("simplify the expression: one extraction may take at most %s", budget)}
	case err != nil:
		return nil, &secrets.Problem{Kind: reason.InvalidValue, Problem: fmt.Sprintf("JMESPath %s failed: %s", path, firstLine(err.Error()))}
	}
	switch r := res.(type) {
	case nil:
		return nil, &secrets.Problem{Kind: reason.InvalidValue, Problem: fmt.Sprintf("JMESPath %s matched nothing (the key is missing or null)", path),
			Fix: "check the key names in the secret and the path"}
	case string:
		return []byte(r), nil
	}
	if !j.AllowNonString {
		return nil, &secrets.Problem{Kind: reason.InvalidValue, Problem: fmt.Sprintf("JMESPath %s yields a %s, not a string", path, jsonType(res)),
			Fix: "point the path at a string, or set allowNonString: true on this entry to write it as JSON"}
	}
	// The result is at most budget.Bytes long as JSON (Search checks it).
	b, err := json.Marshal(res)
	if err != nil {
		return nil, &secrets.Problem{Kind: reason.InvalidValue, Problem: fmt.Sprintf("JMESPath %s: result cannot be written as JSON", path)}
	}
	return b, nil
}

// safeSearch runs the expression, turning a panic of the interpreter (a
// defect; it is written not to) into an error instead of a crash of the node.
func safeSearch(expr *jmespath.Expression, doc any, b jmespath.Budget) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, errors.New("evaluation failed")
		}
	}()
	return expr.Search(doc, b)
}

func allKeys(spec *spc.Spec, o *spc.Object, raw []byte, used map[string]string, t *tally) ([]secrets.File, *secrets.Problem) {
	field := fmt.Sprintf("objects[%d].allKeys", o.Index)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, invalid(o, field, fmt.Sprintf("the value is a JSON %s, allKeys needs a JSON object", rawJSONType(raw)),
			"store a JSON object, or use jmesPath")
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
			return nil, invalid(o, field, fmt.Sprintf("top-level key #%d (in sorted order) does not make a valid file name: %s", n+1, prob),
				"rename the key in the secret, or use jmesPath with objectAlias for it")
		}
		if prev, dup := used[name]; dup {
			return nil, invalid(o, field, fmt.Sprintf("key %s makes file name %s, already used by %s", secrets.Quote(k), secrets.Quote(name), prev),
				"rename the key or the other file (objectAlias)")
		}
		used[name] = fmt.Sprintf("objects[%d].allKeys key %s", o.Index, secrets.Quote(k))
		content, err := keyContent(m[k])
		if err != nil {
			return nil, invalid(o, field, fmt.Sprintf("key %s: value cannot be written", secrets.Quote(k)), "")
		}
		if err := t.add(len(content)); err != nil {
			return nil, err
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

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
