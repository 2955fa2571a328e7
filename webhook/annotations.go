package webhook

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	execcontract "github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// AnnotationPrefix is the prefix of every pod annotation this webhook reads or writes.
const AnnotationPrefix = "aws-secrets-injector.io/"

// Pod annotations (the user's contract, see the package doc).
const (
	// AnnotationInject set to "true" asks for mutation.
	AnnotationInject = AnnotationPrefix + "inject"
	// AnnotationSecretProviderClass names a SecretProviderClass in the pod's namespace.
	AnnotationSecretProviderClass = AnnotationPrefix + "secret-provider-class"
	// AnnotationMode chooses the delivery: "csi" or "init".
	AnnotationMode = AnnotationPrefix + "mode"
	// AnnotationMountPath is the absolute path where the files appear in the containers.
	AnnotationMountPath = AnnotationPrefix + "mount-path"
	// AnnotationContainers is a comma-separated list of app container names to mount into.
	AnnotationContainers = AnnotationPrefix + "containers"
	// AnnotationRefresh set to "true" keeps the files current.
	AnnotationRefresh = AnnotationPrefix + "refresh"
	// AnnotationRefreshInterval is how often to refresh (a Go duration).
	AnnotationRefreshInterval = AnnotationPrefix + "refresh-interval"
	// AnnotationInitFirst set to "true" puts the init container before the pod's own (init mode).
	AnnotationInitFirst = AnnotationPrefix + "init-first"
	// AnnotationStatus is written by the webhook; StatusInjected makes mutation idempotent.
	AnnotationStatus = AnnotationPrefix + "status"
)

// Pod annotations of the exec wrapper (exec.go); the names and the parsers
// are the wrapper's own contract (package envexec/contract), so a pod
// admitted is a pod whose wrapper accepts its configuration.
const (
	// AnnotationExec "true" runs every container the secrets are mounted
	// into under the exec wrapper.
	AnnotationExec = execcontract.AnnotationExec
	// AnnotationExecContainers is a comma list of the containers to wrap (a
	// subset of those the secrets are mounted into); it implies exec.
	AnnotationExecContainers = execcontract.AnnotationExecContainers
	// AnnotationExecEnv maps files to variable names explicitly:
	// "db-password=PGPASSWORD,db-cert=-".
	AnnotationExecEnv = execcontract.AnnotationExecEnv
	// AnnotationExecOnChange is "none", "restart" or "signal:NAME".
	AnnotationExecOnChange = execcontract.AnnotationExecOnChange
	// AnnotationExecGracePeriod is restart's time between SIGTERM and SIGKILL (a Go duration).
	AnnotationExecGracePeriod = execcontract.AnnotationExecGracePeriod
)

// StatusInjected is the value of AnnotationStatus on a mutated pod.
const StatusInjected = "injected"

// NamespaceLabel is the namespace opt-in label (value NamespaceLabelValue)
// that the MutatingWebhookConfiguration's namespaceSelector matches.
const (
	NamespaceLabel      = AnnotationPrefix + "inject"
	NamespaceLabelValue = "enabled"
)

// MirrorPodAnnotation marks a static pod's mirror; such pods are never mutated.
const MirrorPodAnnotation = "kubernetes.io/config.mirror"

// Mode is how secrets are delivered into a pod.
type Mode string

// Delivery modes.
const (
	// ModeCSI adds an inline CSI volume served by the mounter DaemonSet.
	ModeCSI Mode = "csi"
	// ModeInit adds a memory emptyDir filled by an init container (or native sidecar).
	ModeInit Mode = "init"
)

// ParseMode parses "csi" or "init".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeCSI, ModeInit:
		return m, nil
	}
	return "", fmt.Errorf("%q is not a mode; use %q or %q", s, ModeCSI, ModeInit)
}

// Annotations is the parsed, validated form of a pod's annotations.
type Annotations struct {
	// Inject is true when AnnotationInject is "true".
	Inject bool
	// Injected is true when AnnotationStatus is StatusInjected.
	Injected bool
	// SecretProviderClass is the class name (required when Inject).
	SecretProviderClass string
	// Mode is the delivery mode (the default when the annotation is absent).
	Mode Mode
	// MountPath is the absolute, clean mount path.
	MountPath string
	// Containers are the selected app container names; nil means all.
	Containers []string
	// Refresh asks to keep the files current.
	Refresh bool
	// RefreshInterval is the refresh period; 0 means the default.
	RefreshInterval time.Duration
	// InitFirst puts the init container first (init mode).
	InitFirst bool
	// Exec, when set, asks for the exec wrapper.
	Exec *ExecAnnotations
	// Notify, when set, asks the native sidecar to signal the app (notify.go).
	Notify *NotifyAnnotations
}

// ExecAnnotations is the parsed form of the exec wrapper's annotations,
// each value checked with the wrapper's own parser. The raw strings are kept
// as written: they are rendered into the wrapper's environment unchanged.
type ExecAnnotations struct {
	// Containers are the containers to wrap; nil means every container the
	// secrets are mounted into.
	Containers []string
	// Env is the exec-env annotation as written ("" when absent).
	Env string
	// Mapping is Env parsed.
	Mapping map[string]string
	// OnChange is the exec-on-change annotation as written.
	OnChange string
	// Action is OnChange parsed.
	Action execcontract.OnChange
	// GracePeriod is the exec-grace-period annotation as written.
	GracePeriod string
}

// AnnotationError is a problem with one annotation; its message names the
// annotation, the problem and the fix. The webhook denies the pod with it.
type AnnotationError struct {
	// Annotation is the full annotation key.
	Annotation string
	// Problem says what is wrong.
	Problem string
	// Fix says what to do.
	Fix string
}

// Error renders "annotation KEY: PROBLEM; fix: FIX".
func (e *AnnotationError) Error() string {
	msg := fmt.Sprintf("annotation %s: %s", e.Annotation, e.Problem)
	if e.Fix != "" {
		msg += "; fix: " + e.Fix
	}
	return msg
}

func annErr(key, fix, format string, args ...any) *AnnotationError {
	return &AnnotationError{Annotation: key, Problem: fmt.Sprintf(format, args...), Fix: fix}
}

// ParseAnnotations reads the webhook's annotations. Only a pod with
// inject: "true" is checked further; for it every malformed annotation is an
// *AnnotationError (the first found, in a fixed order).
func ParseAnnotations(ann map[string]string, defaultMode Mode, defaultMountPath string) (*Annotations, error) {
	a := &Annotations{
		Inject:   ann[AnnotationInject] == "true",
		Injected: ann[AnnotationStatus] == StatusInjected,
	}
	if !a.Inject {
		return a, nil
	}

	name, ok := ann[AnnotationSecretProviderClass]
	switch {
	case !ok || name == "":
		return nil, annErr(AnnotationSecretProviderClass, "name the SecretProviderClass (in the pod's namespace) to mount",
			"missing or empty")
	case len(validation.IsDNS1123Subdomain(name)) > 0:
		return nil, annErr(AnnotationSecretProviderClass, "use the metadata.name of a SecretProviderClass",
			"%s is not a valid object name", quote(name))
	}
	a.SecretProviderClass = name

	a.Mode = defaultMode
	if v, ok := ann[AnnotationMode]; ok {
		m, err := ParseMode(v)
		if err != nil {
			return nil, annErr(AnnotationMode, fmt.Sprintf("use %q or %q", ModeCSI, ModeInit), "%s is not a mode", quote(v))
		}
		a.Mode = m
	}

	a.MountPath = defaultMountPath
	if v, ok := ann[AnnotationMountPath]; ok {
		p, err := checkMountPath(v)
		if err != nil {
			return nil, annErr(AnnotationMountPath, `use an absolute path such as "/mnt/secrets-store"`, "%s %v", quote(v), err)
		}
		a.MountPath = p
	}

	if v, ok := ann[AnnotationContainers]; ok {
		names, err := parseContainerList(v)
		if err != nil {
			return nil, annErr(AnnotationContainers, `list container names separated by commas, e.g. "app,worker"`, "%v", err)
		}
		a.Containers = names
	}

	var err error
	if a.Refresh, err = parseBool(ann, AnnotationRefresh); err != nil {
		return nil, err
	}
	if a.InitFirst, err = parseBool(ann, AnnotationInitFirst); err != nil {
		return nil, err
	}
	if v, ok := ann[AnnotationRefreshInterval]; ok {
		d, perr := time.ParseDuration(v)
		switch {
		case perr != nil:
			return nil, annErr(AnnotationRefreshInterval, `use a Go duration such as "2m" or "30s"`, "%s is not a duration", quote(v))
		case d < spc.MinRefreshInterval:
			return nil, annErr(AnnotationRefreshInterval, fmt.Sprintf("use %s or more", spc.MinRefreshInterval), "%s is too short", d)
		}
		a.RefreshInterval = d
	}
	if a.Exec, err = parseExecAnnotations(ann); err != nil {
		return nil, err
	}
	if a.Notify, err = parseNotifyAnnotations(ann); err != nil {
		return nil, err
	}
	return a, nil
}

// parseExecAnnotations reads the exec wrapper's annotations: nil when the pod
// does not ask for the wrapper (exec absent or "false", no exec-containers).
// The settings without exec or exec-containers are an error: they would
// silently do nothing.
func parseExecAnnotations(ann map[string]string) (*ExecAnnotations, error) {
	on, err := parseBool(ann, AnnotationExec)
	if err != nil {
		return nil, err
	}
	list, listed := ann[AnnotationExecContainers]
	if listed && !on {
		if v, set := ann[AnnotationExec]; set && v != "true" {
			return nil, annErr(AnnotationExecContainers, fmt.Sprintf(`remove %s: "false", or this annotation`, AnnotationExec),
				"lists containers to wrap, but %s is %s", AnnotationExec, quote(v))
		}
		on = true
	}
	if !on {
		for _, k := range []string{AnnotationExecEnv, AnnotationExecOnChange, AnnotationExecGracePeriod} {
			if _, ok := ann[k]; ok {
				return nil, annErr(k, fmt.Sprintf(`add %s: "true" (or %s), or remove this annotation`, AnnotationExec, AnnotationExecContainers),
					"configures the exec wrapper, which this pod does not ask for")
			}
		}
		return nil, nil
	}
	e := &ExecAnnotations{Env: ann[AnnotationExecEnv], OnChange: ann[AnnotationExecOnChange], GracePeriod: ann[AnnotationExecGracePeriod]}
	if listed {
		if e.Containers, err = parseContainerList(list); err != nil {
			return nil, annErr(AnnotationExecContainers, `list container names separated by commas, e.g. "app,worker"`, "%v", err)
		}
	}
	// The wrapper's own parsers, so the wrapper accepts what is admitted.
	if e.Mapping, err = execcontract.ParseEnvMap(AnnotationExecEnv, e.Env); err != nil {
		return nil, problemAnnErr(AnnotationExecEnv, err)
	}
	if e.Action, err = execcontract.ParseOnChange(AnnotationExecOnChange, e.OnChange); err != nil {
		return nil, problemAnnErr(AnnotationExecOnChange, err)
	}
	if _, err = execcontract.ParseGracePeriod(AnnotationExecGracePeriod, e.GracePeriod); err != nil {
		return nil, problemAnnErr(AnnotationExecGracePeriod, err)
	}
	return e, nil
}

// problemAnnErr is the *AnnotationError of a problem the exec contract's
// parsers found in annotation key (a *secrets.Problem naming it).
func problemAnnErr(key string, err error) *AnnotationError {
	var p *secrets.Problem
	if errors.As(err, &p) {
		return annErr(key, p.Fix, "%s", p.Problem)
	}
	return annErr(key, "", "%v", err)
}

// checkMountPath returns the cleaned absolute path, or why it is not one.
func checkMountPath(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("is empty")
	case !strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("is a relative path")
	case strings.ContainsAny(p, ":\x00\n\r"):
		return "", fmt.Errorf("contains a character not allowed in a mount path")
	case len(p) > 4096:
		return "", fmt.Errorf("is longer than 4096 bytes")
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fmt.Errorf(`contains a ".." element`)
		}
	}
	c := path.Clean(p)
	if c == "/" {
		return "", fmt.Errorf("is the root directory")
	}
	return c, nil
}

// parseContainerList splits a comma list, trimming spaces; it rejects empty
// entries, invalid names and duplicates.
func parseContainerList(v string) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, raw := range strings.Split(v, ",") {
		n := strings.TrimSpace(raw)
		switch {
		case n == "":
			return nil, fmt.Errorf("%s has an empty entry", quote(v))
		case len(validation.IsDNS1123Label(n)) > 0:
			return nil, fmt.Errorf("%s is not a valid container name", quote(n))
		case seen[n]:
			return nil, fmt.Errorf("%s is listed twice", quote(n))
		}
		seen[n] = true
		names = append(names, n)
	}
	return names, nil
}

func parseBool(ann map[string]string, key string) (bool, error) {
	v, ok := ann[key]
	if !ok {
		return false, nil
	}
	switch v {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, annErr(key, `use "true" or "false"`, "%s is not a boolean", quote(v))
}

// quote quotes an annotation value for a message, cut to a readable length.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
