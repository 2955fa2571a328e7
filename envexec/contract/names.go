package contract

import (
	"fmt"
	"sort"
	"strings"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// Skip is the variable name of an explicit mapping ("db-cert=-") that keeps a
// file out of the environment (a binary keystore, a value with a NUL byte).
const Skip = "-"

// reservedPrefixes and reservedNames are variable names no file may set:
// PATH and the dynamic loader's LD_* variables would let a secret's content
// choose the code the app runs; the AWS_SECRETS_INJECTOR_ variables are the
// contract's own and are removed from the app's environment.
var (
	reservedPrefixes = []string{"LD_", EnvPrefix}
	reservedNames    = map[string]bool{"PATH": true}
)

// DeriveName maps a file path of the set to its variable name: ASCII
// letters are upper-cased; digits and '_' are kept; '-', '.' and '/' (a
// nested path) become '_'. Any other byte (a space, '+', ':', '@', a
// non-ASCII letter) has no mapping, and a result that starts with a digit is
// not a variable name: both are errors whose fix is an explicit mapping. So
// "db-user" is DB_USER, "tls/ca.crt" is TLS_CA_CRT, ".env" is _ENV, and
// "2fa-seed" needs "--env 2fa-seed=TWO_FA_SEED". The result is checked by
// CheckName (PATH, LD_* and AWS_SECRETS_INJECTOR_* are refused).
func DeriveName(file string) (string, error) {
	b := []byte(file)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case c == '-', c == '.', c == '/':
			b[i] = '_'
		default:
			return "", fmt.Errorf("file %s has %s, which no variable name can hold", secrets.Quote(file), describeByte(file, i))
		}
	}
	name := string(b)
	if name == "" {
		return "", fmt.Errorf("file %s maps to an empty name", secrets.Quote(file))
	}
	if name[0] >= '0' && name[0] <= '9' {
		return "", fmt.Errorf("file %s maps to %s, which starts with a digit", secrets.Quote(file), name)
	}
	if why := reserved(name); why != "" {
		return "", fmt.Errorf("file %s maps to %s, which %s", secrets.Quote(file), name, why)
	}
	return name, nil
}

// describeByte names the byte at i of s for a message: the rune it starts, quoted.
func describeByte(s string, i int) string {
	r := []rune(s[i:])[0]
	return fmt.Sprintf("the character %q", r)
}

// CheckName checks an explicit variable name: letters, digits and '_', not
// starting with a digit (POSIX's portable names, lower case allowed), and
// not reserved.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("the variable name is empty")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return fmt.Errorf("%s is not a variable name (letters, digits and '_', not starting with a digit)", secrets.Quote(name))
		}
	}
	if why := reserved(name); why != "" {
		return fmt.Errorf("%s %s", name, why)
	}
	return nil
}

// reserved says why name may not be set from a file, or "".
func reserved(name string) string {
	if reservedNames[name] {
		return "is reserved: it would let a secret choose the programs the app runs"
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			if p == EnvPrefix {
				return "is reserved for the injector's own contract"
			}
			return "is reserved: the dynamic loader reads it, so a secret would choose the code the app runs"
		}
	}
	return ""
}

// ParseMapping parses explicit mapping entries "file=NAME" (NAME Skip keeps
// the file out). A file mapped twice is an error; the names are checked with
// CheckName. field names the flag, variable or annotation.
func ParseMapping(field string, entries []string) (map[string]string, error) {
	if len(entries) > MaxMapEntries {
		return nil, problem(field, fmt.Sprintf("%d entries, at most %d allowed", len(entries), MaxMapEntries), "map only the files whose derived names do not suit")
	}
	fix := `write each entry as file=NAME (e.g. db-password=PGPASSWORD), or file=- to leave the file out`
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		file, name, ok := strings.Cut(strings.TrimSpace(e), "=")
		switch {
		case !ok:
			return nil, problem(field, fmt.Sprintf("entry %s has no '='", secrets.Quote(e)), fix)
		case file == "":
			return nil, problem(field, fmt.Sprintf("entry %s has no file name", secrets.Quote(e)), fix)
		}
		if prob := secrets.PathProblem(file); prob != "" {
			return nil, problem(field, "entry "+secrets.Quote(e)+": "+prob, "use the file's name as it appears in the secrets directory")
		}
		if prev, dup := m[file]; dup {
			return nil, problem(field, fmt.Sprintf("file %s is mapped twice (to %s and to %s)", secrets.Quote(file), prev, secrets.Quote(name)), "map each file once")
		}
		if name != Skip {
			if err := CheckName(name); err != nil {
				return nil, problem(field, "entry "+secrets.Quote(e)+": "+err.Error(), "use another variable name")
			}
		}
		m[file] = name
	}
	return m, nil
}

// ParseEnvMap parses the comma-separated form of the mapping, as the
// annotation and EnvEnv hold it: "db-password=PGPASSWORD, db-user=PGUSER".
// Empty entries are ignored; a file name holding a comma can be mapped only
// with repeated --env flags.
func ParseEnvMap(field, s string) (map[string]string, error) {
	var entries []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			entries = append(entries, e)
		}
	}
	return ParseMapping(field, entries)
}

// Binding is one variable of the app's environment: the file it comes from.
type Binding struct {
	// File is the file's path in the set.
	File string
	// Name is the variable's name.
	Name string
}

// Bind decides the variable of every file of a set: the explicit mapping's
// name where it has one (Skip leaves the file out), else DeriveName. Every
// problem is an error naming the files: a file whose name does not map, two
// files mapping to one variable (both named), a mapping naming a file the set
// does not hold, more than secrets.MaxFiles variables. The webhook runs it at
// admission with the file names it can know from the class; the wrapper runs
// it at start with the files it read. The bindings come sorted by name.
// field names the source for the error (the directory or the class).
func Bind(field string, files []string, explicit map[string]string) ([]Binding, error) {
	if len(files) > secrets.MaxFiles {
		return nil, problem(field, fmt.Sprintf("%d files, at most %d variables allowed", len(files), secrets.MaxFiles), "split the class")
	}
	have := make(map[string]bool, len(files))
	byName := map[string]string{}
	var probs []string
	var out []Binding
	mapFix := "map it explicitly with --" + FlagEnv + " FILE=NAME (annotation " + AnnotationExecEnv + "), or FILE=- to leave it out"
	for _, f := range sortedUnique(files) {
		have[f] = true
		name, ok := explicit[f]
		if name == Skip {
			continue
		}
		if !ok {
			var err error
			if name, err = DeriveName(f); err != nil {
				probs = append(probs, err.Error()+"; fix: "+mapFix)
				continue
			}
		}
		if other, dup := byName[name]; dup {
			probs = append(probs, fmt.Sprintf("files %s and %s both map to %s; fix: %s", secrets.Quote(other), secrets.Quote(f), name,
				"map one of them to another name with --"+FlagEnv+" FILE=NAME (annotation "+AnnotationExecEnv+")"))
			continue
		}
		byName[name] = f
		out = append(out, Binding{File: f, Name: name})
	}
	for _, f := range sortedKeys(explicit) {
		if !have[f] {
			probs = append(probs, fmt.Sprintf("the mapping names file %s, which the set does not hold; fix: correct the name or remove the entry", secrets.Quote(f)))
		}
	}
	if len(probs) > 0 {
		msg := probs[0]
		if len(probs) > 1 {
			msg += fmt.Sprintf(" (and %d more problems)", len(probs)-1)
		}
		return nil, &secrets.Problem{Object: -1, Field: field, Problem: msg, Kind: reason.InvalidRequest}
	}
	sortBindings(out)
	return out, nil
}

// sortedUnique returns the distinct elements of s, sorted.
func sortedUnique(s []string) []string {
	m := make(map[string]struct{}, len(s))
	for _, v := range s {
		m[v] = struct{}{}
	}
	return sortedKeys(m)
}

// sortBindings sorts by variable name.
func sortBindings(b []Binding) { sort.Slice(b, func(i, j int) bool { return b[i].Name < b[j].Name }) }
