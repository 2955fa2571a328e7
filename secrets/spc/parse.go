package spc

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

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
	ParamUsePodIdentity, ParamPreferredAddressType, ParamRefreshInterval,
	ParamAssumeRoleARN, ParamAssumeRoleExternalID, ParamAssumeRoleDurationSeconds}

// Options tune parsing.
type Options struct {
	// DefaultRegion is used when parameters.region is not set (e.g. AWS_REGION).
	DefaultRegion string
	// DefaultFileMode is the mode of files whose filePermission is not set
	// (the Secrets Store CSI driver's MountRequest.permission in provider
	// mode); 0 means DefaultFileMode.
	DefaultFileMode fs.FileMode
	// Strict refuses what the AWS provider accepts but is likely a mistake:
	// unknown keys in objects entries, jmesPath entries and failoverObject
	// (a warning by default), and the AWS provider's looser rules listed in
	// the package documentation.
	Strict bool
}

// Result is the outcome of Check: a Spec when there are no errors, and every
// error and warning found.
type Result struct {
	Spec     *Spec
	Errors   []*secrets.Problem
	Warnings []*secrets.Problem
}

// Err is an *InvalidError listing r's errors, or nil when there are none.
func (r Result) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return &InvalidError{Issues: r.Errors}
}

// DeliveryWarnings are the warnings worth telling a pod's owner when a
// delivery path (webhook, mounter) serves the class: all of them but the
// missing region, which those paths resolve themselves (the node's label,
// the pod's AWS_REGION), so it would be noise on every pod of a class that
// rightly names none. The validate command shows them all.
func DeliveryWarnings(warns []*secrets.Problem) []*secrets.Problem {
	var out []*secrets.Problem
	for _, w := range warns {
		if w.Field != "parameters."+ParamRegion {
			out = append(out, w)
		}
	}
	return out
}

// Parse validates params and returns the Spec, or an *InvalidError listing every problem.
func Parse(params map[string]string, opts Options) (*Spec, error) {
	r := Check(params, opts)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return r.Spec, nil
}

var regionRE = regexp.MustCompile(`^[a-z]{2,}(-[a-z]+)+-[0-9]+$`)

// Check validates params, collecting every error and warning.
func Check(params map[string]string, opts Options) Result {
	c := &collector{strict: opts.Strict}
	// 1. The size bound first: a class over it is not decoded at all.
	if !checkClassSize(c, params) {
		return Result{Errors: c.errs}
	}
	p := &parser{c: c, s: &Spec{PathTranslation: "_", PreferredAddressType: "auto"}, mode: opts.DefaultFileMode}
	if p.mode == 0 {
		p.mode = DefaultFileMode
	}

	// 2. Class-level parameters.
	warnUnknownParams(c, params)
	p.classParams(params, opts)
	p.s.AssumeRole = parseAssumeRole(c, params)

	// 3. The objects, then the checks across them.
	raw, ok := params[ParamObjects]
	if !ok || strings.TrimSpace(raw) == "" {
		c.errorf(-1, "", "parameters.objects", "list the secrets to mount, e.g. objects: |\n  - objectName: \"my-app/db\"\n    objectType: \"secretsmanager\"", "missing or empty")
	} else {
		p.objects(raw)
	}
	if p.s.Region == "" {
		c.warnf(-1, "", "parameters.region", `set parameters.region (or AWS_REGION where this runs)`, "no region set: the region of the environment running the fetch will be used")
	}
	checkNames(c, p.s)
	warnJMESPath(c, p.s)

	r := Result{Errors: c.errs, Warnings: c.warns}
	if len(c.errs) == 0 {
		r.Spec = p.s
	}
	return r
}

func warnUnknownParams(c *collector, params map[string]string) {
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
		c.warnf(-1, "", "parameters."+fieldKey(k), fix, "unknown parameter, ignored")
	}
}

// classParams reads region, failoverRegion, pathTranslation, usePodIdentity,
// preferredAddressType and refreshInterval.
func (p *parser) classParams(params map[string]string, opts Options) {
	c, s := p.c, p.s
	s.Region = strings.TrimSpace(params[ParamRegion])
	if s.Region != "" && !regionRE.MatchString(s.Region) {
		c.errorf(-1, "", "parameters.region", `use an AWS region code such as "us-east-1"`, "%s is not a region code", secrets.Quote(s.Region))
	}
	if s.Region == "" {
		s.Region = opts.DefaultRegion
	}
	s.FailoverRegion = strings.TrimSpace(params[ParamFailoverRegion])
	switch {
	case s.FailoverRegion == "":
	case !regionRE.MatchString(s.FailoverRegion):
		c.errorf(-1, "", "parameters.failoverRegion", `use an AWS region code such as "us-west-2"`, "%s is not a region code", secrets.Quote(s.FailoverRegion))
	case s.FailoverRegion == s.Region:
		c.errorf(-1, "", "parameters.failoverRegion", "use a different region than parameters.region, or remove failoverRegion", "same as the primary region %s", secrets.Quote(s.Region))
	}

	if pt, ok := params[ParamPathTranslation]; ok && pt != "" {
		switch {
		case strings.EqualFold(pt, "false"):
			s.PathTranslation = ""
		case len(pt) != 1 || pt == "/" || pt == "." || pt[0] < 0x20 || pt[0] > 0x7e:
			c.errorf(-1, "", "parameters.pathTranslation", `use one printable character other than "/" and "." (default "_"), or "False" to disable`, "%s is not a single character", secrets.Quote(pt))
		default:
			s.PathTranslation = pt
		}
	}
	if v, ok := params[ParamUsePodIdentity]; ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.errorf(-1, "", "parameters.usePodIdentity", `use "true" or "false"`, "%s is not a boolean", secrets.Quote(v))
		}
		s.UsePodIdentity = b
	}
	if v, ok := params[ParamPreferredAddressType]; ok && v != "" {
		switch strings.ToLower(v) {
		case "ipv4", "ipv6", "auto":
			s.PreferredAddressType = strings.ToLower(v)
		default:
			c.errorf(-1, "", "parameters.preferredAddressType", `use "ipv4", "ipv6" or "auto"`, "%s is not an address type", secrets.Quote(v))
		}
		if !s.UsePodIdentity {
			c.warnf(-1, "", "parameters.preferredAddressType", `set usePodIdentity: "true" or remove it`, "only used with usePodIdentity")
		}
	}
	if v, ok := params[ParamRefreshInterval]; ok && v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			c.errorf(-1, "", "parameters.refreshInterval", `use a Go duration such as "2m" or "30s"`, "%s is not a duration", secrets.Quote(v))
		case d < MinRefreshInterval:
			c.errorf(-1, "", "parameters.refreshInterval", fmt.Sprintf("use %s or more", MinRefreshInterval), "%s is too short", d)
		default:
			s.RefreshInterval = d
		}
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
