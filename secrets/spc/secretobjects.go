package spc

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// SecretObject is one entry of spec.secretObjects (the upstream driver's
// type): a Kubernetes Secret the driver creates from the mounted files.
type SecretObject struct {
	// SecretName is the Secret's name.
	SecretName string
	// Type is the Secret's type, e.g. Opaque or kubernetes.io/tls.
	Type string
	// Labels and Annotations are set on the Secret.
	Labels      map[string]string
	Annotations map[string]string
	// Data maps files of the class to keys of the Secret.
	Data []SecretObjectData
}

// SecretObjectData is one key of a synced Secret.
type SecretObjectData struct {
	// ObjectName is the file of the class whose content becomes the key's
	// value: an object's file name or a jmesPath objectAlias.
	ObjectName string
	// Key is the key in the Secret's data.
	Key string
}

// decodeSecretObjects reads spec.secretObjects; shape problems (a list of
// mappings of strings, as the CRD's schema has it) are reported by field.
// Unknown keys are ignored, as the API server's schema prunes them.
func decodeSecretObjects(v any) ([]SecretObject, []*secrets.Problem) {
	if v == nil {
		return nil, nil
	}
	var probs []*secrets.Problem
	add := func(field, fix, format string, args ...any) {
		probs = append(probs, problem(-1, "", field, fix, format, args...))
	}
	list, ok := v.([]any)
	if !ok {
		add("spec.secretObjects", "write secretObjects as a list of {secretName, type, data}", "is a %s, not a list", KindOf(v))
		return nil, probs
	}
	if len(list) > secrets.MaxObjects {
		p := problem(-1, "", "spec.secretObjects", fmt.Sprintf("sync at most %d Secrets from one class", secrets.MaxObjects),
			"%d entries, at most %d allowed", len(list), secrets.MaxObjects)
		p.Kind = reason.LimitExceeded
		return nil, append(probs, p)
	}
	str := func(field string, v any) string {
		s, ok := v.(string)
		if !ok && v != nil {
			add(field, "quote it", "is a %s, not a string", KindOf(v))
		}
		return s
	}
	strMap := func(field string, v any) map[string]string {
		if v == nil {
			return nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			add(field, "write it as a mapping of strings", "is a %s, not a mapping", KindOf(v))
			return nil
		}
		out := make(map[string]string, len(m))
		for _, k := range keysOf(m) {
			out[k] = str(field+"."+fieldKey(k), m[k])
		}
		return out
	}
	out := make([]SecretObject, 0, len(list))
	entries := 0
	for i, item := range list {
		f := fmt.Sprintf("spec.secretObjects[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			add(f, "each entry is a mapping with secretName, type and data", "is a %s, not a mapping", KindOf(item))
			continue
		}
		so := SecretObject{
			SecretName:  str(f+".secretName", m["secretName"]),
			Type:        str(f+".type", m["type"]),
			Labels:      strMap(f+".labels", m["labels"]),
			Annotations: strMap(f+".annotations", m["annotations"]),
		}
		switch data := m["data"].(type) {
		case nil:
		case []any:
			entries += len(data)
			if entries > secrets.MaxFiles {
				p := problem(-1, "", f+".data", fmt.Sprintf("sync at most %d keys from one class", secrets.MaxFiles),
					"more than %d data entries in secretObjects", secrets.MaxFiles)
				p.Kind = reason.LimitExceeded
				return nil, append(probs, p)
			}
			for j, d := range data {
				df := fmt.Sprintf("%s.data[%d]", f, j)
				dm, ok := d.(map[string]any)
				if !ok {
					add(df, "each data entry is a mapping with objectName and key", "is a %s, not a mapping", KindOf(d))
					continue
				}
				so.Data = append(so.Data, SecretObjectData{ObjectName: str(df+".objectName", dm["objectName"]), Key: str(df+".key", dm["key"])})
			}
		default:
			add(f+".data", "write data as a list of {objectName, key}", "is a %s, not a list", KindOf(data))
		}
		out = append(out, so)
	}
	return out, probs
}

var (
	// dnsSubdomainRE is Kubernetes' DNS-1123 subdomain (at most 253 bytes).
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// secretKeyRE is a valid key of a Secret's data (at most 253 bytes).
	secretKeyRE = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// maxDNSSubdomain bounds a secretName and a data key.
const maxDNSSubdomain = 253

// CheckSecretObjects checks objs (the class's secretObjects) against spec
// (its validated parameters), before any AWS call:
//   - every data objectName is a file the class produces. The fixed names are
//     the objects' file names and the jmesPath objectAliases; an allKeys
//     object's files are named by the keys of the fetched value, unknown
//     until then, so with an allKeys object in the class any name that is a
//     valid file name is accepted (and checked at sync time);
//   - no two data entries write the same key of one Secret (entries with one
//     secretName are one Secret);
//   - secretName and type are set, secretName is a DNS subdomain, every key
//     is a valid Secret data key ([-._a-zA-Z0-9]+, at most 253 bytes, not
//     "." or "..", not starting with "..").
//
// It returns every problem found (errors; nil when none).
func CheckSecretObjects(spec *Spec, objs []SecretObject) []*secrets.Problem {
	c := &collector{}
	files := map[string]bool{}
	allKeys := false
	var names []string
	for _, p := range spec.Plan() {
		if p.Path == AllKeysPlaceholder {
			allKeys = true
			continue
		}
		files[p.Path] = true
		names = append(names, p.Path)
	}
	keys := map[string]map[string]string{} // secretName → key → field of its first writer
	for i, so := range objs {
		f := fmt.Sprintf("spec.secretObjects[%d]", i)
		switch {
		case so.SecretName == "":
			c.errorf(-1, "", f+".secretName", "name the Secret to create", "missing")
		case len(so.SecretName) > maxDNSSubdomain || !dnsSubdomainRE.MatchString(so.SecretName):
			c.errorf(-1, "", f+".secretName", "use lower-case letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit",
				"%s is not a valid Secret name (a DNS subdomain)", secrets.Quote(so.SecretName))
		}
		if so.Type == "" {
			c.errorf(-1, "", f+".type", `set the Secret's type, e.g. type: Opaque`, "missing")
		}
		if keys[so.SecretName] == nil {
			keys[so.SecretName] = map[string]string{}
		}
		for j, d := range so.Data {
			df := fmt.Sprintf("%s.data[%d]", f, j)
			switch {
			case d.ObjectName == "":
				c.errorf(-1, "", df+".objectName", "name a file of the class (an object's file name or a jmesPath objectAlias)", "missing")
			case files[d.ObjectName]:
			case allKeys && secrets.PathProblem(d.ObjectName) == "":
				// May be a key of the allKeys object's value: known at fetch.
			default:
				c.errorf(-1, "", df+".objectName", "use one of the class's files: "+listNames(names),
					"%s matches no file the class produces", secrets.Quote(d.ObjectName))
			}
			switch {
			case d.Key == "":
				c.errorf(-1, "", df+".key", "name the key of the Secret's data", "missing")
			case !validSecretKey(d.Key):
				c.errorf(-1, "", df+".key", "use letters, digits, '-', '_' and '.', at most 253 characters (not \".\", \"..\" or starting with \"..\")",
					"%s is not a valid Secret data key", secrets.Quote(d.Key))
			default:
				if prev, dup := keys[so.SecretName][d.Key]; dup {
					c.errorf(-1, "", df+".key", "use another key, or remove one of the entries",
						"key %s of Secret %s is already written by %s", secrets.Quote(d.Key), secrets.Quote(so.SecretName), prev)
					continue
				}
				keys[so.SecretName][d.Key] = df
			}
		}
	}
	return c.errs
}

func validSecretKey(k string) bool {
	return len(k) <= maxDNSSubdomain && secretKeyRE.MatchString(k) && k != "." && k != ".." && !strings.HasPrefix(k, "..")
}

// listNames renders up to five names for a fix.
func listNames(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	const most = 5
	q := make([]string, 0, most+1)
	for i, n := range sorted {
		if i == most {
			q = append(q, fmt.Sprintf("and %d more", len(sorted)-most))
			break
		}
		q = append(q, secrets.Quote(n))
	}
	return strings.Join(q, ", ")
}
