package spc

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/jmespath"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// The keys of an objects entry, a jmesPath entry and a failoverObject, as the
// AWS provider names them. Keys match case-insensitively (Path, ObjectAlias),
// as the AWS provider's decoder matches them.
var (
	objectKeys   = []string{"objectName", "objectType", "objectAlias", "objectVersion", "objectVersionLabel", "filePermission", "jmesPath", "failoverObject", "allKeys"}
	jmesKeys     = []string{"path", "objectAlias", "filePermission", "allowNonString"}
	failoverKeys = []string{"objectName", "objectVersion", "objectVersionLabel"}
)

// unsupported are keys refused although the AWS provider's decoder would
// ignore them: each asks for something this project does not do.
var unsupported = map[string]struct{ problem, why string }{
	"objectTemplate": {
		problem: "objectTemplate is not supported: extract fields with jmesPath instead",
		why:     "the class asks for a rendered template: ignoring the key would write the raw value where the pod expects the rendered one",
	},
}

// parser holds the state of one Check.
type parser struct {
	c *collector
	s *Spec
	// files counts the fixed file names planned so far (objects and
	// jmesPath entries), for the MaxFiles bound.
	files int
	// mode is the mode of files whose filePermission is not set.
	mode fs.FileMode
}

// entry is one mapping of the class (an objects entry, a jmesPath entry, a
// failoverObject) with its keys resolved against the known ones.
type entry struct {
	m map[string]any
	// known maps a known key to the key as written.
	known map[string]string
	// variants are keys naming a known key already set in another case:
	// {known key, first as written, second as written}.
	variants [][3]string
	// unknown are the keys that name no known key, sorted.
	unknown []string
}

// newEntry resolves the keys of m against known, case-insensitively. Keys are
// visited in sorted order, so the verdict does not depend on map order.
func newEntry(m map[string]any, known []string) *entry {
	e := &entry{m: m, known: map[string]string{}}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kn := foldKey(k, known)
		switch prev, seen := e.known[kn]; {
		case kn == "":
			e.unknown = append(e.unknown, k)
		case seen:
			e.variants = append(e.variants, [3]string{kn, prev, k})
		default:
			e.known[kn] = k
		}
	}
	return e
}

// foldKey returns the known key that k names, matched as encoding/json (the
// AWS provider's decoder) matches field names: case-insensitively. "" if none.
func foldKey(k string, known []string) string {
	for _, cand := range known {
		if strings.EqualFold(k, cand) {
			return cand
		}
	}
	return ""
}

// get returns the value of the known key, wherever its case.
func (e *entry) get(key string) (any, bool) {
	k, ok := e.known[key]
	if !ok {
		return nil, false
	}
	return e.m[k], true
}

// report records the entry's key problems: a key set twice in two cases (an
// error: which one the AWS provider uses depends on the order), and unknown
// keys (a warning, ignored as the AWS provider ignores them; an error with
// Options.Strict or for the unsupported keys).
func (e *entry) report(c *collector, obj int, name, field string, known []string) {
	for _, v := range e.variants {
		c.errorf(obj, name, field+"."+v[0], "keep one of them",
			"%s and %s are both set: keys match case-insensitively, so both name %s", secrets.Quote(v[1]), secrets.Quote(v[2]), v[0])
	}
	for _, k := range e.unknown {
		f := field + "." + fieldKey(k)
		if kn := foldKey(k, keysOf(unsupported)); kn != "" {
			u := unsupported[kn]
			c.refuse(obj, name, f, "remove "+fieldKey(k), u.why, "%s", u.problem)
			continue
		}
		fix := "remove it (known fields: " + strings.Join(known, ", ") + ")"
		if near := closest(k, known); near != "" {
			fix = fmt.Sprintf("did you mean %q?", near)
		}
		if c.strict {
			c.errorf(obj, name, f, fix, "unknown field")
		} else {
			c.warnf(obj, name, f, fix, "unknown field, ignored")
		}
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// objects decodes the objects parameter and parses each entry.
func (p *parser) objects(raw string) {
	c := p.c
	var list []any
	if err := yaml.Unmarshal([]byte(raw), &list); err != nil {
		c.errorf(-1, "", "parameters.objects", "objects must be a YAML list of mappings; check indentation and quoting",
			"not a YAML list: %s", yamlErr(err))
		return
	}
	if len(list) == 0 {
		c.errorf(-1, "", "parameters.objects", "list at least one object", "the list is empty")
		return
	}
	if !checkObjectCount(c, len(list)) {
		return
	}
	for i, item := range list {
		field := fmt.Sprintf("objects[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			c.errorf(i, "", field, "each entry must be a mapping with objectName and objectType", "is a %s, not a mapping", KindOf(item))
			continue
		}
		if o, ok := p.object(i, m); ok {
			p.s.Objects = append(p.s.Objects, o)
		}
	}
}

// object parses one objects entry; ok is false when it has an error.
func (p *parser) object(i int, m map[string]any) (o Object, ok bool) {
	c, s := p.c, p.s
	field := fmt.Sprintf("objects[%d]", i)
	nerr := len(c.errs)
	e := newEntry(m, objectKeys)
	o = Object{Index: i, Mode: p.mode}
	o.Name = p.str(e, i, "", field, "objectName")
	nameOK := checkObjectName(c, i, field+".objectName", o.Name)
	name := o.Name
	if !nameOK {
		name = "" // too long to repeat in every problem: the bound's problem quotes it
	}
	e.report(c, i, name, field, objectKeys)
	typ := p.str(e, i, name, field, "objectType")
	o.Alias = p.str(e, i, name, field, "objectAlias")
	o.Version = p.str(e, i, name, field, "objectVersion")
	o.VersionLabel = p.str(e, i, name, field, "objectVersionLabel")

	switch {
	case o.Name == "":
		c.errorf(i, "", field+".objectName", "set objectName to the secret or parameter name, or its ARN", "missing")
	case !nameOK:
	case strings.TrimSpace(o.Name) != o.Name || strings.ContainsFunc(o.Name, isControl):
		c.errorf(i, name, field+".objectName", "remove the surrounding spaces or control characters", "has leading/trailing whitespace or control characters")
	}
	if nameOK {
		o.Type = resolveType(c, i, name, field, o.Name, typ, s.Region, ParamRegion)
	}

	if o.Type == SSMParameter {
		if o.Version != "" && o.VersionLabel != "" {
			c.errorf(i, name, field+".objectVersion", "keep one of objectVersion and objectVersionLabel", "SSM parameters take either objectVersion or objectVersionLabel, not both")
		}
		if o.Version != "" {
			if n, err := strconv.ParseUint(o.Version, 10, 63); err != nil || n == 0 {
				// The AWS provider sends NAME:VERSION as is; SSM reads a
				// selector that is not a number as a label.
				c.lenient(i, name, field+".objectVersion", `use the parameter's version number, e.g. "3", or objectVersionLabel for a label`,
					"%s is not a positive version number (SSM reads it as a label)", secrets.Quote(o.Version))
			}
		}
	}
	if mode, ok := p.fileMode(e, i, name, field); ok {
		o.Mode = mode
	}
	if v, ok := e.get("allKeys"); ok {
		b, isBool := v.(bool)
		if !isBool {
			c.errorf(i, name, field+".allKeys", "use allKeys: true", "must be a boolean")
		}
		o.AllKeys = b
	}

	o.FileName = translate(s.PathTranslation, o.Name)
	if o.Alias != "" {
		o.FileName = translate(s.PathTranslation, o.Alias)
	}
	if nameOK && o.Name != "" {
		checkPath(c, i, name, field+aliasOr(o.Alias, ".objectAlias", ".objectName"), o.FileName)
		p.countFile(i, name, field)
	}

	if raw, ok := e.get("jmesPath"); ok && raw != nil {
		o.JMESPath = p.jmesPath(&o, name, raw, field+".jmesPath")
	}
	if o.AllKeys && len(o.JMESPath) > 0 {
		c.errorf(i, name, field+".allKeys", "remove allKeys or the jmesPath list", "allKeys and jmesPath cannot be combined")
	}
	if raw, ok := e.get("failoverObject"); ok && raw != nil {
		o.Failover = p.failover(&o, name, raw, field+".failoverObject")
	}
	if o.Failover == nil && regionRE.MatchString(s.FailoverRegion) && strings.HasPrefix(o.Name, "arn:") && nameOK {
		// The AWS provider reads the same ARN in the failover region, which
		// cannot succeed: an ARN names its region.
		c.lenient(i, name, field+".failoverObject", "add failoverObject.objectName with the ARN of the replica in "+s.FailoverRegion,
			"an ARN pins the primary region; with failoverRegion set the object needs a failoverObject")
	}
	return o, len(c.errs) == nerr
}

func aliasOr(alias, a, b string) string {
	if alias != "" {
		return a
	}
	return b
}

// jmesPath parses an object's jmesPath list.
func (p *parser) jmesPath(o *Object, name string, raw any, field string) []JMESPathEntry {
	c, s := p.c, p.s
	list, ok := raw.([]any)
	if !ok {
		c.errorf(o.Index, name, field, "jmesPath must be a list of {path, objectAlias}", "is a %s, not a list", KindOf(raw))
		return nil
	}
	var out []JMESPathEntry
	for k, item := range list {
		f := fmt.Sprintf("%s[%d]", field, k)
		m, ok := item.(map[string]any)
		if !ok {
			c.errorf(o.Index, name, f, "each entry needs path and objectAlias", "is a %s, not a mapping", KindOf(item))
			continue
		}
		if !p.countFile(o.Index, name, f) {
			return out // over MaxFiles: the rest is not parsed
		}
		e := newEntry(m, jmesKeys)
		e.report(c, o.Index, name, f, jmesKeys)
		j := JMESPathEntry{Mode: o.Mode}
		j.Path = p.str(e, o.Index, name, f, "path")
		alias := p.str(e, o.Index, name, f, "objectAlias")
		switch {
		case j.Path == "":
			c.errorf(o.Index, name, f+".path", `set path to a JMESPath expression, e.g. "username"`, "missing")
		case !checkExpression(c, o.Index, name, f+".path", j.Path):
		default:
			// The budgeted interpreter's own compile: the syntax, and also unknown
			// functions, wrong arity and expressions too big to run.
			if expr, err := jmespath.Compile(j.Path); err != nil {
				if reason.Of(err) == reason.LimitExceeded {
					c.limit(o.Index, name, f+".path", "simplify the expression",
						"JMESPath %s: %s", secrets.Quote(j.Path), detail(firstLine(err.Error())))
				} else {
					c.errorf(o.Index, name, f+".path", "fix the expression (JMESPath syntax: https://jmespath.org/specification.html)",
						"invalid JMESPath %s: %s", secrets.Quote(j.Path), detail(firstLine(err.Error())))
				}
			} else {
				j.Expr = expr
			}
		}
		if alias == "" {
			c.errorf(o.Index, name, f+".objectAlias", "set objectAlias to the file name for this value", "missing")
		} else {
			j.FileName = translate(s.PathTranslation, alias)
			checkPath(c, o.Index, name, f+".objectAlias", j.FileName)
		}
		if mode, ok := p.fileMode(e, o.Index, name, f); ok {
			j.Mode = mode
		}
		if v, ok := e.get("allowNonString"); ok {
			b, isBool := v.(bool)
			if !isBool {
				c.errorf(o.Index, name, f+".allowNonString", "use allowNonString: true", "must be a boolean")
			}
			j.AllowNonString = b
		}
		j.alias = alias
		out = append(out, j)
	}
	return out
}

// failover parses an object's failoverObject.
func (p *parser) failover(o *Object, name string, raw any, field string) *Failover {
	c, s := p.c, p.s
	m, ok := raw.(map[string]any)
	if !ok {
		c.errorf(o.Index, name, field, "failoverObject must be a mapping with objectName", "is a %s, not a mapping", KindOf(raw))
		return nil
	}
	e := newEntry(m, failoverKeys)
	e.report(c, o.Index, name, field, failoverKeys)
	f := &Failover{}
	f.Name = p.str(e, o.Index, name, field, "objectName")
	f.Version = p.str(e, o.Index, name, field, "objectVersion")
	f.VersionLabel = p.str(e, o.Index, name, field, "objectVersionLabel")
	nameOK := checkObjectName(c, o.Index, field+".objectName", f.Name)
	if f.Name == "" {
		c.errorf(o.Index, name, field+".objectName", "set the name or ARN of the replica in the failover region", "missing")
	}
	if s.FailoverRegion == "" {
		c.errorf(o.Index, name, field, "set parameters.failoverRegion, or remove failoverObject", "failoverObject needs parameters.failoverRegion")
	}
	if o.Alias == "" {
		c.errorf(o.Index, name, field, "set objectAlias on the object so both regions write the same file", "an object with failoverObject needs objectAlias")
	}
	if f.Name != "" && nameOK {
		if t := resolveType(c, o.Index, name, field, f.Name, string(o.Type), s.FailoverRegion, ParamFailoverRegion); t != o.Type && t != "" {
			c.errorf(o.Index, name, field+".objectName", "the replica must be of the same type as the object", "type %s differs from the object's %s", t, o.Type)
		}
	}
	if f.Version != o.Version {
		c.errorf(o.Index, name, field+".objectVersion", "use the same objectVersion in both regions", "differs from the object's objectVersion")
	}
	if o.Type == SSMParameter && f.Version != "" && f.VersionLabel != "" {
		c.errorf(o.Index, name, field+".objectVersion", "keep one of objectVersion and objectVersionLabel", "SSM parameters take either objectVersion or objectVersionLabel, not both")
	}
	return f
}

// resolveType checks objectType against the ARN (when objName is one) and returns the type.
func resolveType(c *collector, i int, name, field, objName, typ, region, regionParam string) ObjectType {
	var arnType ObjectType
	if strings.HasPrefix(objName, "arn:") {
		a, err := parseARN(objName)
		if err != nil {
			c.errorf(i, name, field+".objectName", "use a full ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or a plain name", "%v", err)
			return ""
		}
		switch a.Service {
		case "secretsmanager":
			arnType = SecretsManager
		case "ssm":
			arnType = SSMParameter
		default:
			c.errorf(i, name, field+".objectName", "use a Secrets Manager or SSM Parameter Store ARN", "ARN service %s is not secretsmanager or ssm", secrets.Quote(a.Service))
			return ""
		}
		if region != "" && a.Region != region {
			c.errorf(i, name, field+".objectName", fmt.Sprintf("use an ARN in %s (parameters.%s), or change parameters.%s", secrets.Quote(region), regionParam, regionParam),
				"ARN region %s differs from %s %s", secrets.Quote(a.Region), regionParam, secrets.Quote(region))
		}
	}
	switch typ {
	case "":
		if arnType == "" {
			c.errorf(i, name, field+".objectType", `set objectType: "secretsmanager" or "ssmparameter" (or give a full ARN as objectName)`, "missing")
		}
		return arnType
	case string(SecretsManager), string(SSMParameter):
		if arnType != "" && ObjectType(typ) != arnType {
			c.errorf(i, name, field+".objectType", fmt.Sprintf("use objectType %q or remove it (the ARN implies it)", arnType), "%s disagrees with the ARN's service", secrets.Quote(typ))
		}
		return ObjectType(typ)
	default:
		c.errorf(i, name, field+".objectType", `use "secretsmanager" or "ssmparameter"`, "%s is not a known object type", secrets.Quote(typ))
		return arnType
	}
}

type arn struct{ Partition, Service, Region, Account, Resource string }

func parseARN(s string) (arn, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[1] == "" || parts[2] == "" || parts[5] == "" {
		return arn{}, fmt.Errorf("%s is not a valid ARN", secrets.Quote(s))
	}
	a := arn{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}
	if !regionRE.MatchString(a.Region) {
		return arn{}, fmt.Errorf("ARN %s has no valid region", secrets.Quote(s))
	}
	return a, nil
}

// fileMode reads filePermission: a quoted four-digit octal mode starting with 0.
func (p *parser) fileMode(e *entry, i int, name, field string) (fs.FileMode, bool) {
	v, ok := e.get("filePermission")
	if !ok {
		return 0, false
	}
	s, isStr := v.(string)
	if !isStr || len(s) != 4 || s[0] != '0' {
		fix := `quote four octal digits starting with 0, e.g. filePermission: "0400"`
		if isStr && len(s) == 4 && s[0] >= '1' && s[0] <= '7' {
			// The AWS provider accepts setuid, setgid and sticky bits.
			p.c.refuse(i, name, field+".filePermission", fix,
				"setuid, setgid and sticky bits are refused: a setuid or setgid file whose content the secret's writer controls could run with another user's rights in the pod",
				"%s is not a quoted 4-digit octal mode", shortRepr(v))
			return 0, false
		}
		p.c.errorf(i, name, field+".filePermission", fix, "%s is not a quoted 4-digit octal mode", shortRepr(v))
		return 0, false
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		p.c.errorf(i, name, field+".filePermission", `quote four octal digits starting with 0, e.g. filePermission: "0400"`, "%s is not an octal mode", secrets.Quote(s))
		return 0, false
	}
	return fs.FileMode(n), true
}

// str reads an optional string key; numbers are accepted and formatted (objectVersion: 3).
func (p *parser) str(e *entry, i int, name, field, key string) string {
	v, ok := e.get(key)
	if !ok || v == nil {
		return ""
	}
	switch t := v.(type) {
	case string:
		return t
	case float64:
		if t == float64(int64(t)) {
			return strconv.FormatInt(int64(t), 10)
		}
		return strconv.FormatFloat(t, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(t, 10)
	default:
		p.c.errorf(i, name, field+"."+key, "use a string", "is a %s, not a string", KindOf(v))
		return ""
	}
}
