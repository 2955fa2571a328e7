// Package validate owns the `aws-secrets-injector validate` command: it lints
// SecretProviderClass manifests offline, with no AWS call and no cluster, so a bad
// class is caught in CI or a GitOps pipeline instead of as a pod stuck in
// ContainerCreating.
//
// It reads YAML and JSON manifests (multi-document files, List kinds, directory
// trees, stdin), skips every object that is not a SecretProviderClass for the aws
// provider, and checks each class with exactly the validation the mounter, the
// webhook and the injector run (spc.DecodeClass and spc.Check), plus
// spc.CheckSecretObjects for spec.secretObjects. For each class it reports the
// files the class produces, or every error found, plus warnings (among them
// the keys the AWS provider would ignore: unknown keys of objects entries).
//
// Exit codes (via the ExitCode method of the returned error): 0 all valid, 1 any
// class invalid (or any warning with --strict), 2 usage error or unreadable input.
package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"sigs.k8s.io/yaml"

	"github.com/seed-ddac166a/aws-secrets-injector/cli"
	"github.com/seed-ddac166a/aws-secrets-injector/cli/manifest"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Exit codes of the validate command.
const (
	ExitValid   = 0
	ExitInvalid = 1
	ExitUsage   = 2
)

// ExitError is the operator tools' one exit-error type (package cli).
type ExitError = cli.ExitError

// UsageError wraps err so that it exits with ExitUsage (2).
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: ExitUsage, Err: err}
}

// Record is the verdict on one SecretProviderClass.
type Record struct {
	// File is the input the class was read from (manifest.StdinName for "-").
	File string `json:"file"`
	// Document counts the non-empty documents of File from 1.
	Document int `json:"document"`
	// Line is the line of File where the document starts.
	Line int `json:"line"`
	// Item is the index in the items of a List document, when the class came from one.
	Item *int `json:"item,omitempty"`
	// Name is metadata.name.
	Name string `json:"name"`
	// Namespace is metadata.namespace ("" when not set in the manifest).
	Namespace string `json:"namespace"`
	// Valid is true when there is no error (warnings allowed).
	Valid bool `json:"valid"`
	// Files lists the files the class produces (empty when invalid).
	Files []File `json:"files"`
	// Errors lists every error found.
	Errors []Issue `json:"errors"`
	// Warnings lists what is legal but likely wrong.
	Warnings []Issue `json:"warnings"`
}

// File is one file a valid class produces.
type File struct {
	// Name is the file's path relative to the mount directory (spc.AllKeysPlaceholder
	// for the files of an allKeys object, known only at fetch time).
	Name string `json:"name"`
	// Mode is the file mode in octal, e.g. "0644".
	Mode string `json:"mode"`
	// Object is the index of the source object in parameters.objects.
	Object int `json:"object"`
	// ObjectName is the source object's objectName.
	ObjectName string `json:"objectName"`
	// JMESPath is the extraction expression; empty for the whole value.
	JMESPath string `json:"jmesPath,omitempty"`
	// AllKeys is true for the placeholder of an allKeys object.
	AllKeys bool `json:"allKeys,omitempty"`
}

// Issue is one error or warning, with the fields of secrets.Problem.
type Issue struct {
	// Object is the index in parameters.objects, or -1 for the class as a whole.
	Object int `json:"object"`
	// ObjectName is the object's objectName when known.
	ObjectName string `json:"objectName,omitempty"`
	// Field is the path of the field, e.g. "objects[0].jmesPath[1].objectAlias".
	Field string `json:"field"`
	// Problem says what is wrong.
	Problem string `json:"problem"`
	// Fix says what to do about it.
	Fix string `json:"fix"`
	// Why, when set, says why the verdict is stricter than the AWS provider's.
	Why string `json:"why,omitempty"`
	// Kind is the failure reason when it is not the default
	// InvalidSecretProviderClass (e.g. LimitExceeded for a bound).
	Kind string `json:"kind,omitempty"`
	// Message is the one-line rendering: field (object): problem (why); fix: fix.
	Message string `json:"message"`
}

func issueOf(is *secrets.Problem) Issue {
	return Issue{Object: is.Object, ObjectName: is.ObjectName, Field: is.Field, Problem: is.Problem, Fix: is.Fix,
		Why: is.Why, Kind: string(is.Kind), Message: is.Error()}
}

// InputError is an input that could not be read or parsed.
type InputError struct {
	// File is the input.
	File string
	// Document is the document index (0 when the whole file could not be read).
	Document int
	// Line is the line where the document starts (0 when unknown).
	Line int
	// Err says why.
	Err error
}

// Error renders FILE[#DOC]: reason.
func (e *InputError) Error() string {
	if e.Document > 0 {
		return fmt.Sprintf("%s#%d: %v", e.File, e.Document, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

// Report is the outcome of checking all inputs.
type Report struct {
	// Records holds one verdict per SecretProviderClass, in input order.
	Records []Record
	// InputErrors lists the inputs (or documents) that could not be read or parsed.
	InputErrors []*InputError
	// Files is the number of inputs read.
	Files int
	// Skipped is the number of objects that are not aws SecretProviderClasses.
	Skipped int
}

// Invalid counts the records with errors.
func (r *Report) Invalid() int {
	n := 0
	for i := range r.Records {
		if !r.Records[i].Valid {
			n++
		}
	}
	return n
}

// Warnings counts the warnings of all records.
func (r *Report) Warnings() int {
	n := 0
	for i := range r.Records {
		n += len(r.Records[i].Warnings)
	}
	return n
}

// Run checks the inputs named in opts, writes the report to stdout (notes on
// skipped documents and unreadable inputs to stderr) and returns nil when every
// class is valid, or an *ExitError carrying exit code 1 or 2.
func Run(ctx context.Context, opts *Options, stdout, stderr io.Writer) error {
	if err := opts.Validate(); err != nil {
		return UsageError(err)
	}
	log := logr.FromContextOrDiscard(ctx)
	stdin := opts.Stdin
	if stdin == nil {
		stdin = os.Stdin
	}
	c := newChecker(opts, stderr)
	for _, in := range manifest.Collect(opts.Paths, stdin) {
		if err := ctx.Err(); err != nil {
			return UsageError(fmt.Errorf("validate: %w", err))
		}
		c.input(in)
	}
	rep := c.report
	log.V(1).Info("validated", "files", rep.Files, "classes", len(rep.Records), "invalid", rep.Invalid(),
		"warnings", rep.Warnings(), "skipped", rep.Skipped, "unreadable", len(rep.InputErrors))

	var err error
	if opts.Output == OutputJSON {
		err = writeJSON(stdout, rep.Records)
	} else {
		err = writeText(stdout, rep)
	}
	if err != nil {
		return UsageError(fmt.Errorf("write report: %w", err))
	}
	return verdict(rep, opts.Strict)
}

func verdict(rep *Report, strict bool) error {
	switch {
	case len(rep.InputErrors) > 0:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%d input(s) could not be read or parsed", len(rep.InputErrors))}
	case rep.Invalid() > 0:
		return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%d of %d SecretProviderClass(es) invalid", rep.Invalid(), len(rep.Records))}
	case strict && rep.Warnings() > 0:
		return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%d warning(s) with --strict", rep.Warnings())}
	}
	return nil
}

// Check checks one input's content (as read from a file named name) and returns
// the report. It is what Run does per input, without output; tests and fuzzing use it.
func Check(name string, data []byte, opts *Options) *Report {
	c := newChecker(opts, io.Discard)
	c.input(manifest.Input{Name: name, Data: data})
	return c.report
}

type checker struct {
	region  string
	verbose bool
	stderr  io.Writer
	report  *Report
}

func newChecker(opts *Options, stderr io.Writer) *checker {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	region := opts.Region
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = getenv(k)
		}
	}
	return &checker{region: region, verbose: opts.Verbose, stderr: stderr, report: &Report{Records: []Record{}}}
}

func (c *checker) inputError(e *InputError) {
	c.report.InputErrors = append(c.report.InputErrors, e)
	fmt.Fprintf(c.stderr, "error: %s\n", escapeControls(e.Error())) //nolint:errcheck // best-effort diagnostics
}

func (c *checker) skip(where, why string) {
	c.report.Skipped++
	if c.verbose {
		fmt.Fprintf(c.stderr, "skip %s: %s\n", escapeControls(where), escapeControls(why)) //nolint:errcheck // best-effort diagnostics
	}
}

func (c *checker) input(in manifest.Input) {
	if in.Err != nil {
		c.inputError(&InputError{File: in.Name, Err: in.Err})
		return
	}
	c.report.Files++
	for _, d := range manifest.Split(in.Data) {
		c.document(in.Name, d)
	}
}

func (c *checker) document(file string, d manifest.Document) {
	where := fmt.Sprintf("%s#%d", file, d.Index)
	raw, err := yaml.YAMLToJSON(d.Data)
	if err != nil {
		c.inputError(&InputError{File: file, Document: d.Index, Line: d.Line, Err: fmt.Errorf("not parseable YAML: %s", manifest.FileLines(firstLine(err.Error()), d.Line))})
		return
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		c.inputError(&InputError{File: file, Document: d.Index, Line: d.Line, Err: fmt.Errorf("not parseable: %s", firstLine(err.Error()))})
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		c.skip(where, fmt.Sprintf("a %s, not a Kubernetes object", spc.KindOf(v)))
		return
	}
	kind, _ := obj["kind"].(string)
	if items, isList := obj["items"].([]any); isList && strings.HasSuffix(kind, "List") {
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				c.skip(fmt.Sprintf("%s items[%d]", where, i), fmt.Sprintf("a %s, not a Kubernetes object", spc.KindOf(it)))
				continue
			}
			item := i
			itemRaw, err := yaml.Marshal(m)
			if err != nil { // cannot happen for decoded JSON; keep the verdict honest anyway
				c.inputError(&InputError{File: file, Document: d.Index, Line: d.Line, Err: fmt.Errorf("items[%d]: %w", i, err)})
				continue
			}
			c.object(file, d, &item, m, itemRaw, nil)
		}
		return
	}
	c.object(file, d, nil, obj, raw, d.Data)
}

// object checks one object: raw is its JSON (or YAML) form; source, when set, is the
// document as written, used to detect duplicate keys.
func (c *checker) object(file string, d manifest.Document, item *int, obj map[string]any, raw, source []byte) {
	where := fmt.Sprintf("%s#%d", file, d.Index)
	if item != nil {
		where += fmt.Sprintf(" items[%d]", *item)
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	// A SecretProviderClass with the wrong apiVersion is checked (and flagged) rather
	// than skipped: it is a typo, not another kind.
	if !spc.IsSecretProviderClass(apiVersion, kind) && kind != spc.Kind {
		c.skip(where, fmt.Sprintf("%s %s, not a SecretProviderClass", orNone(apiVersion), orNone(kind)))
		return
	}
	specMap, _ := obj["spec"].(map[string]any)
	if p, isStr := specMap["provider"].(string); isStr && p != "" && p != spc.Provider {
		c.skip(where, fmt.Sprintf("SecretProviderClass %s: provider %q, not %q", qualified(namespace, name), p, spc.Provider))
		return
	}
	rec := Record{File: file, Document: d.Index, Line: d.Line, Item: item, Name: name, Namespace: namespace,
		Files: []File{}, Errors: []Issue{}, Warnings: []Issue{}}
	c.checkClass(&rec, obj, raw, source)
	rec.Valid = len(rec.Errors) == 0
	c.report.Records = append(c.report.Records, rec)
}

// checkClass runs the shared validation (spc.DecodeClass, then spc.Check on the
// parameters) and fills the record.
func (c *checker) checkClass(rec *Record, obj map[string]any, raw, source []byte) {
	if source != nil {
		if _, err := yaml.YAMLToJSONStrict(source); err != nil {
			rec.Errors = append(rec.Errors, Issue{Object: -1, Field: "(document)",
				Problem: "duplicate key: " + strings.TrimPrefix(oneLine(manifest.FileLines(err.Error(), rec.Line)), "yaml: unmarshal errors: ") + " (the last value would win; kubectl rejects it)",
				Fix:     "remove the duplicate key"})
			fillMessage(&rec.Errors[len(rec.Errors)-1])
		}
	}
	if shape := shapeIssues(obj); len(shape) > 0 {
		rec.Errors = append(rec.Errors, shape...)
		return
	}
	class, err := spc.DecodeClass(raw)
	var decodeIssues []*secrets.Problem
	var invalid *spc.InvalidError
	switch {
	case err == nil:
	case errors.As(err, &invalid):
		decodeIssues = invalid.Issues
	default:
		rec.Errors = append(rec.Errors, Issue{Object: -1, Field: "(document)", Problem: err.Error(),
			Fix: "write a SecretProviderClass: metadata.name, spec.provider: aws and spec.parameters (strings)"})
		fillMessage(&rec.Errors[len(rec.Errors)-1])
		return
	}
	// Parameters DecodeClass rejected (not strings) are absent for Check; drop Check's
	// follow-on complaints about those same keys.
	rejected := map[string]bool{}
	for _, is := range decodeIssues {
		rec.Errors = append(rec.Errors, issueOf(is))
		if k, ok := strings.CutPrefix(is.Field, "spec.parameters."); ok {
			rejected["parameters."+k] = true
		}
	}
	res := spc.Check(class.Parameters, spc.Options{DefaultRegion: c.region})
	for _, is := range res.Errors {
		if !rejected[is.Field] {
			rec.Errors = append(rec.Errors, issueOf(is))
		}
	}
	for _, is := range res.Warnings {
		if !rejected[is.Field] {
			rec.Warnings = append(rec.Warnings, issueOf(is))
		}
	}
	if res.Spec == nil {
		return
	}
	// secretObjects name the class's files: checked against the valid spec.
	for _, is := range spc.CheckSecretObjects(res.Spec, class.SecretObjects) {
		rec.Errors = append(rec.Errors, issueOf(is))
	}
	if len(rec.Errors) > 0 {
		return
	}
	for _, p := range res.Spec.Plan() {
		f := File{Name: p.Path, Mode: fmt.Sprintf("%04o", uint32(p.Mode.Perm())), Object: p.Object, ObjectName: p.ObjectName, JMESPath: p.JMESPath}
		if p.Path == spc.AllKeysPlaceholder {
			f.AllKeys = true
		}
		rec.Files = append(rec.Files, f)
	}
}

// shapeIssues checks the structure DecodeClass needs (mappings and strings where
// the API has them), so a malformed object is reported field by field instead of
// as a decoder error.
func shapeIssues(obj map[string]any) []Issue {
	var out []Issue
	add := func(field, problem, fix string) {
		is := Issue{Object: -1, Field: field, Problem: problem, Fix: fix}
		fillMessage(&is)
		out = append(out, is)
	}
	for _, f := range []string{"apiVersion", "kind"} {
		if v, ok := obj[f]; ok && v != nil {
			if _, isStr := v.(string); !isStr {
				add(f, fmt.Sprintf("is a %s, not a string", spc.KindOf(v)), "write "+f+" as a string")
			}
		}
	}
	if v, ok := obj["metadata"]; ok && v != nil {
		meta, isMap := v.(map[string]any)
		if !isMap {
			add("metadata", fmt.Sprintf("is a %s, not a mapping", spc.KindOf(v)), "write metadata as a mapping with name (and namespace)")
		}
		for _, f := range []string{"name", "namespace"} {
			if mv, ok := meta[f]; ok && mv != nil {
				if _, isStr := mv.(string); !isStr {
					add("metadata."+f, fmt.Sprintf("is a %s, not a string", spc.KindOf(mv)), "quote it")
				}
			}
		}
	}
	v, ok := obj["spec"]
	if !ok || v == nil {
		add("spec", "missing", "add spec with provider: aws and parameters")
		return out
	}
	spec, isMap := v.(map[string]any)
	if !isMap {
		add("spec", fmt.Sprintf("is a %s, not a mapping", spc.KindOf(v)), "write spec as a mapping with provider and parameters")
		return out
	}
	if pv, ok := spec["provider"]; ok && pv != nil {
		if _, isStr := pv.(string); !isStr {
			add("spec.provider", fmt.Sprintf("is a %s, not a string", spc.KindOf(pv)), "set spec.provider: aws")
		}
	}
	if pv, ok := spec["parameters"]; ok && pv != nil {
		if _, isMap := pv.(map[string]any); !isMap {
			add("spec.parameters", fmt.Sprintf("is a %s, not a mapping", spc.KindOf(pv)), "write parameters as a mapping of strings (objects: |, region: ...)")
		}
	}
	return out
}

func fillMessage(is *Issue) {
	is.Message = (&secrets.Problem{Object: is.Object, ObjectName: is.ObjectName, Field: is.Field, Problem: is.Problem, Fix: is.Fix, Why: is.Why}).Error()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func qualified(namespace, name string) string {
	if name == "" {
		name = "(no name)"
	}
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
