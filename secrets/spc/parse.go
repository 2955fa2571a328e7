package spc

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmespath/go-jmespath"
	"sigs.k8s.io/yaml"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// Parameter keys of a SecretProviderClass for the AWS provider.
const (
	ParamObjects              = "objects"
	ParamRegion               = "region"
	ParamFailoverRegion       = "failoverRegion"
	ParamPathTranslation      = "pathTranslation"
	ParamUsePodIdentity       = "usePodIdentity"
	ParamPreferredAddressType = "preferredAddressType"
	// ParamRefreshInterval is our addition: the rotation interval for this class.
	ParamRefreshInterval = "refreshInterval"
)

// MinRefreshInterval is the shortest refreshInterval accepted.
const MinRefreshInterval = 5 * time.Second

// knownParams are the class-level keys; others draw a warning (a likely typo).
var knownParams = []string{ParamObjects, ParamRegion, ParamFailoverRegion, ParamPathTranslation,
	ParamUsePodIdentity, ParamPreferredAddressType, ParamRefreshInterval}

// Options tune parsing.
type Options struct {
	// DefaultRegion is used when parameters.region is not set (e.g. AWS_REGION).
	DefaultRegion string
	// DefaultFileMode is the mode of files whose filePermission is not set
	// (the Secrets Store CSI driver's MountRequest.permission in provider
	// mode); 0 means DefaultFileMode.
	DefaultFileMode fs.FileMode
}

// Result is the outcome of Check: a Spec when there are no errors, and every
// error and warning found.
type Result struct {
	Spec     *Spec
	Errors   []*Issue
	Warnings []*Issue
}

// Parse validates params and returns the Spec, or an *InvalidError listing every problem.
func Parse(params map[string]string, opts Options) (*Spec, error) {
	r := Check(params, opts)
	if len(r.Errors) > 0 {
		return nil, &InvalidError{Issues: r.Errors}
	}
	return r.Spec, nil
}

var regionRE = regexp.MustCompile(`^[a-z]{2,}(-[a-z]+)+-[0-9]+$`)

// Check validates params, collecting every error and warning.
func Check(params map[string]string, opts Options) Result {
	c := &collector{}
	s := &Spec{PathTranslation: "_", PreferredAddressType: "auto"}

	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "csi.storage.k8s.io/") || contains(knownParams, k) {
			continue
		}
		fix := "remove it"
		if near := closest(k, knownParams); near != "" {
			fix = fmt.Sprintf("did you mean %q?", near)
		}
		c.warnf(-1, "", "parameters."+k, fix, "unknown parameter, ignored")
	}

	s.Region = strings.TrimSpace(params[ParamRegion])
	if s.Region != "" && !regionRE.MatchString(s.Region) {
		c.errorf(-1, "", "parameters.region", `use an AWS region code such as "us-east-1"`, "%q is not a region code", s.Region)
	}
	if s.Region == "" {
		s.Region = opts.DefaultRegion
	}
	s.FailoverRegion = strings.TrimSpace(params[ParamFailoverRegion])
	switch {
	case s.FailoverRegion == "":
	case !regionRE.MatchString(s.FailoverRegion):
		c.errorf(-1, "", "parameters.failoverRegion", `use an AWS region code such as "us-west-2"`, "%q is not a region code", s.FailoverRegion)
	case s.FailoverRegion == s.Region:
		c.errorf(-1, "", "parameters.failoverRegion", "use a different region than parameters.region, or remove failoverRegion", "same as the primary region %q", s.Region)
	}

	if pt, ok := params[ParamPathTranslation]; ok && pt != "" {
		switch {
		case strings.EqualFold(pt, "false"):
			s.PathTranslation = ""
		case len(pt) != 1 || pt == "/" || pt == "." || pt[0] < 0x20 || pt[0] > 0x7e:
			c.errorf(-1, "", "parameters.pathTranslation", `use one printable character other than "/" and "." (default "_"), or "False" to disable`, "%q is not a single character", pt)
		default:
			s.PathTranslation = pt
		}
	}
	if v, ok := params[ParamUsePodIdentity]; ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.errorf(-1, "", "parameters.usePodIdentity", `use "true" or "false"`, "%q is not a boolean", v)
		}
		s.UsePodIdentity = b
	}
	if v, ok := params[ParamPreferredAddressType]; ok && v != "" {
		switch strings.ToLower(v) {
		case "ipv4", "ipv6", "auto":
			s.PreferredAddressType = strings.ToLower(v)
		default:
			c.errorf(-1, "", "parameters.preferredAddressType", `use "ipv4", "ipv6" or "auto"`, "%q is not an address type", v)
		}
		if !s.UsePodIdentity {
			c.warnf(-1, "", "parameters.preferredAddressType", `set usePodIdentity: "true" or remove it`, "only used with usePodIdentity")
		}
	}
	if v, ok := params[ParamRefreshInterval]; ok && v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			c.errorf(-1, "", "parameters.refreshInterval", `use a Go duration such as "2m" or "30s"`, "%q is not a duration", v)
		case d < MinRefreshInterval:
			c.errorf(-1, "", "parameters.refreshInterval", fmt.Sprintf("use %s or more", MinRefreshInterval), "%s is too short", d)
		default:
			s.RefreshInterval = d
		}
	}

	raw, ok := params[ParamObjects]
	if !ok || strings.TrimSpace(raw) == "" {
		c.errorf(-1, "", "parameters.objects", "list the secrets to mount, e.g. objects: |\n  - objectName: \"my-app/db\"\n    objectType: \"secretsmanager\"", "missing or empty")
	} else {
		mode := opts.DefaultFileMode
		if mode == 0 {
			mode = DefaultFileMode
		}
		parseObjects(c, s, raw, mode)
	}
	if s.Region == "" {
		c.warnf(-1, "", "parameters.region", `set parameters.region (or AWS_REGION where this runs)`, "no region set: the region of the environment running the fetch will be used")
	}
	checkNames(c, s)
	warnJMESPath(c, s)

	r := Result{Errors: c.errs, Warnings: c.warns}
	if len(c.errs) == 0 {
		r.Spec = s
	}
	return r
}

// Object-level keys.
var objectKeys = []string{"objectName", "objectType", "objectAlias", "objectVersion", "objectVersionLabel",
	"filePermission", "jmesPath", "failoverObject", "allKeys"}

var jmesKeys = []string{"path", "objectAlias", "filePermission", "allowNonString"}

var failoverKeys = []string{"objectName", "objectVersion", "objectVersionLabel"}

func parseObjects(c *collector, s *Spec, raw string, mode fs.FileMode) {
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
	for i, item := range list {
		field := fmt.Sprintf("objects[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			c.errorf(i, "", field, "each entry must be a mapping with objectName and objectType", "is a %s, not a mapping", KindOf(item))
			continue
		}
		if o, ok := parseObject(c, s, i, m, mode); ok {
			s.Objects = append(s.Objects, o)
		}
	}
}

func parseObject(c *collector, s *Spec, i int, m map[string]any, mode fs.FileMode) (Object, bool) {
	field := fmt.Sprintf("objects[%d]", i)
	nerr := len(c.errs)
	o := Object{Index: i, Mode: mode}
	o.Name = str(c, i, "", m, field, "objectName")
	name := o.Name
	unknownKeys(c, i, name, m, field, objectKeys, map[string]string{
		"objectTemplate": "objectTemplate is not supported: extract fields with jmesPath instead",
	})
	typ := str(c, i, name, m, field, "objectType")
	o.Alias = str(c, i, name, m, field, "objectAlias")
	o.Version = str(c, i, name, m, field, "objectVersion")
	o.VersionLabel = str(c, i, name, m, field, "objectVersionLabel")

	if o.Name == "" {
		c.errorf(i, "", field+".objectName", "set objectName to the secret or parameter name, or its ARN", "missing")
	} else if strings.TrimSpace(o.Name) != o.Name || strings.ContainsFunc(o.Name, isControl) {
		c.errorf(i, name, field+".objectName", "remove the surrounding spaces or control characters", "has leading/trailing whitespace or control characters")
	}
	o.Type = resolveType(c, i, name, field, o.Name, typ, s.Region, ParamRegion)

	if o.Type == SSMParameter {
		if o.Version != "" && o.VersionLabel != "" {
			c.errorf(i, name, field+".objectVersion", "keep one of objectVersion and objectVersionLabel", "SSM parameters take either objectVersion or objectVersionLabel, not both")
		}
		if o.Version != "" {
			if n, err := strconv.ParseUint(o.Version, 10, 63); err != nil || n == 0 {
				c.errorf(i, name, field+".objectVersion", `use the parameter's version number, e.g. "3"`, "%q is not a positive version number", o.Version)
			}
		}
	}
	if mode, ok := fileMode(c, i, name, m, field); ok {
		o.Mode = mode
	}
	if v, ok := m["allKeys"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			c.errorf(i, name, field+".allKeys", "use allKeys: true", "must be a boolean")
		}
		o.AllKeys = b
	}

	o.FileName = translate(s.PathTranslation, name)
	if o.Alias != "" {
		o.FileName = translate(s.PathTranslation, o.Alias)
	}
	if o.Name != "" {
		checkPath(c, i, name, field+aliasOr(o.Alias, ".objectAlias", ".objectName"), o.FileName)
	}

	if raw, ok := m["jmesPath"]; ok {
		o.JMESPath = parseJMESPath(c, s, &o, raw, field+".jmesPath")
	}
	if o.AllKeys && len(o.JMESPath) > 0 {
		c.errorf(i, name, field+".allKeys", "remove allKeys or the jmesPath list", "allKeys and jmesPath cannot be combined")
	}
	if raw, ok := m["failoverObject"]; ok {
		o.Failover = parseFailover(c, s, &o, raw, field+".failoverObject")
	}
	if o.Failover == nil && s.FailoverRegion != "" && strings.HasPrefix(o.Name, "arn:") {
		c.errorf(i, name, field+".failoverObject", "add failoverObject.objectName with the ARN of the replica in "+s.FailoverRegion,
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

func parseJMESPath(c *collector, s *Spec, o *Object, raw any, field string) []JMESPathEntry {
	list, ok := raw.([]any)
	if !ok {
		c.errorf(o.Index, o.Name, field, "jmesPath must be a list of {path, objectAlias}", "is a %s, not a list", KindOf(raw))
		return nil
	}
	var out []JMESPathEntry
	for k, item := range list {
		f := fmt.Sprintf("%s[%d]", field, k)
		m, ok := item.(map[string]any)
		if !ok {
			c.errorf(o.Index, o.Name, f, "each entry needs path and objectAlias", "is a %s, not a mapping", KindOf(item))
			continue
		}
		unknownKeys(c, o.Index, o.Name, m, f, jmesKeys, nil)
		e := JMESPathEntry{Mode: o.Mode}
		e.Path = str(c, o.Index, o.Name, m, f, "path")
		alias := str(c, o.Index, o.Name, m, f, "objectAlias")
		if e.Path == "" {
			c.errorf(o.Index, o.Name, f+".path", `set path to a JMESPath expression, e.g. "username"`, "missing")
		} else if expr, err := jmespath.Compile(e.Path); err != nil {
			c.errorf(o.Index, o.Name, f+".path", "fix the expression (JMESPath syntax: https://jmespath.org/specification.html)", "invalid JMESPath %q: %s", e.Path, firstLine(err.Error()))
		} else {
			e.Expr = expr
		}
		if alias == "" {
			c.errorf(o.Index, o.Name, f+".objectAlias", "set objectAlias to the file name for this value", "missing")
		} else {
			e.FileName = translate(s.PathTranslation, alias)
			checkPath(c, o.Index, o.Name, f+".objectAlias", e.FileName)
		}
		if mode, ok := fileMode(c, o.Index, o.Name, m, f); ok {
			e.Mode = mode
		}
		if v, ok := m["allowNonString"]; ok {
			b, isBool := v.(bool)
			if !isBool {
				c.errorf(o.Index, o.Name, f+".allowNonString", "use allowNonString: true", "must be a boolean")
			}
			e.AllowNonString = b
		}
		out = append(out, e)
	}
	return out
}

func parseFailover(c *collector, s *Spec, o *Object, raw any, field string) *Failover {
	m, ok := raw.(map[string]any)
	if !ok {
		c.errorf(o.Index, o.Name, field, "failoverObject must be a mapping with objectName", "is a %s, not a mapping", KindOf(raw))
		return nil
	}
	unknownKeys(c, o.Index, o.Name, m, field, failoverKeys, nil)
	f := &Failover{}
	f.Name = str(c, o.Index, o.Name, m, field, "objectName")
	f.Version = str(c, o.Index, o.Name, m, field, "objectVersion")
	f.VersionLabel = str(c, o.Index, o.Name, m, field, "objectVersionLabel")
	if f.Name == "" {
		c.errorf(o.Index, o.Name, field+".objectName", "set the name or ARN of the replica in the failover region", "missing")
	}
	if s.FailoverRegion == "" {
		c.errorf(o.Index, o.Name, field, "set parameters.failoverRegion, or remove failoverObject", "failoverObject needs parameters.failoverRegion")
	}
	if o.Alias == "" {
		c.errorf(o.Index, o.Name, field, "set objectAlias on the object so both regions write the same file", "an object with failoverObject needs objectAlias")
	}
	if f.Name != "" {
		if t := resolveType(c, o.Index, o.Name, field, f.Name, string(o.Type), s.FailoverRegion, ParamFailoverRegion); t != o.Type && t != "" {
			c.errorf(o.Index, o.Name, field+".objectName", "the replica must be of the same type as the object", "type %s differs from the object's %s", t, o.Type)
		}
	}
	if f.Version != o.Version {
		c.errorf(o.Index, o.Name, field+".objectVersion", "use the same objectVersion in both regions", "differs from the object's objectVersion")
	}
	if o.Type == SSMParameter && f.Version != "" && f.VersionLabel != "" {
		c.errorf(o.Index, o.Name, field+".objectVersion", "keep one of objectVersion and objectVersionLabel", "SSM parameters take either objectVersion or objectVersionLabel, not both")
	}
	return f
}

// resolveType checks objectType against the ARN (when name is one) and returns the type.
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
			c.errorf(i, name, field+".objectName", "use a Secrets Manager or SSM Parameter Store ARN", "ARN service %q is not secretsmanager or ssm", a.Service)
			return ""
		}
		if region != "" && a.Region != region {
			c.errorf(i, name, field+".objectName", fmt.Sprintf("use an ARN in %s (parameters.%s), or change parameters.%s", region, regionParam, regionParam),
				"ARN region %q differs from %s %q", a.Region, regionParam, region)
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
			c.errorf(i, name, field+".objectType", fmt.Sprintf("use objectType %q or remove it (the ARN implies it)", arnType), "%q disagrees with the ARN's service", typ)
		}
		return ObjectType(typ)
	default:
		c.errorf(i, name, field+".objectType", `use "secretsmanager" or "ssmparameter"`, "%q is not a known object type", typ)
		return arnType
	}
}

type arn struct{ Partition, Service, Region, Account, Resource string }

func parseARN(s string) (arn, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[1] == "" || parts[2] == "" || parts[5] == "" {
		return arn{}, fmt.Errorf("%q is not a valid ARN", s)
	}
	a := arn{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}
	if !regionRE.MatchString(a.Region) {
		return arn{}, fmt.Errorf("ARN %q has no valid region", s)
	}
	return a, nil
}

// checkNames finds duplicate file names across the whole class.
func checkNames(c *collector, s *Spec) {
	type owner struct {
		field string
		obj   *Object
	}
	seen := map[string]owner{}
	folded := map[string]string{}
	add := func(o *Object, field, p string) {
		if p == "" {
			return
		}
		if prev, dup := seen[p]; dup {
			c.errorf(o.Index, o.Name, field, "give one of them a different objectAlias",
				"file name %q is already used by %s (object %q)", p, prev.field, prev.obj.Name)
			return
		}
		seen[p] = owner{field: field, obj: o}
		if prev, ok := folded[strings.ToLower(p)]; ok {
			c.warnf(o.Index, o.Name, field, "use names that differ by more than case", "file name %q differs from %q only by case", p, prev)
		}
		folded[strings.ToLower(p)] = p
	}
	for i := range s.Objects {
		o := &s.Objects[i]
		f := fmt.Sprintf("objects[%d]", o.Index)
		add(o, f+aliasOr(o.Alias, ".objectAlias", ".objectName"), o.FileName)
		for k, j := range o.JMESPath {
			add(o, fmt.Sprintf("%s.jmesPath[%d].objectAlias", f, k), j.FileName)
		}
	}
}

func checkPath(c *collector, i int, name, field, p string) {
	if prob := secrets.PathProblem(p); prob != "" {
		c.errorf(i, name, field, "use a relative file name without \"..\" elements, at most 255 bytes per element (set objectAlias if the object name does not make one)", "file name %s", prob)
	}
}

// translate maps an object name or alias to a file name as the AWS provider does:
// "/" becomes the translation character, or with translation disabled a leading "/" is dropped.
func translate(tr, name string) string {
	if tr == "" {
		return strings.TrimLeft(name, "/")
	}
	return strings.ReplaceAll(name, "/", tr)
}

func fileMode(c *collector, i int, name string, m map[string]any, field string) (fs.FileMode, bool) {
	v, ok := m["filePermission"]
	if !ok {
		return 0, false
	}
	s, isStr := v.(string)
	if !isStr || len(s) != 4 || s[0] != '0' {
		c.errorf(i, name, field+".filePermission", `quote four octal digits starting with 0, e.g. filePermission: "0400"`, "%s is not a quoted 4-digit octal mode", shortRepr(v))
		return 0, false
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		c.errorf(i, name, field+".filePermission", `quote four octal digits starting with 0, e.g. filePermission: "0400"`, "%q is not an octal mode", s)
		return 0, false
	}
	return fs.FileMode(n), true
}

// str reads an optional string key; numbers are accepted and formatted (objectVersion: 3).
func str(c *collector, i int, name string, m map[string]any, field, key string) string {
	v, ok := m[key]
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
		c.errorf(i, name, field+"."+key, "use a string", "is a %s, not a string", KindOf(v))
		return ""
	}
}

func unknownKeys(c *collector, i int, name string, m map[string]any, field string, known []string, special map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if contains(known, k) {
			continue
		}
		if msg, ok := special[k]; ok {
			c.errorf(i, name, field+"."+k, "remove "+k, "%s", msg)
			continue
		}
		fix := "remove it (known fields: " + strings.Join(known, ", ") + ")"
		if near := closest(k, known); near != "" {
			fix = fmt.Sprintf("did you mean %q?", near)
		}
		c.errorf(i, name, field+"."+k, fix, "unknown field")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// closest returns the known key within edit distance 2 of k (case-insensitive), if any.
func closest(k string, known []string) string {
	best, bestD := "", 3
	for _, cand := range known {
		if d := editDistance(strings.ToLower(k), strings.ToLower(cand)); d < bestD {
			best, bestD = cand, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// KindOf names the YAML kind of a decoded value (string, number, list, ...) for
// error messages.
func KindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, int64, int:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func shortRepr(v any) string {
	switch t := v.(type) {
	case string:
		return strconv.Quote(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64) + " (a number)"
	default:
		return "a " + KindOf(v)
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func yamlErr(err error) string {
	s := firstLine(err.Error())
	return strings.TrimPrefix(s, "error converting YAML to JSON: ")
}
