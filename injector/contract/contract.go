// Package contract is the init-mode contract between the webhook, which
// renders the injector container, and `aws-secrets-injector inject`, which
// runs in it: the environment variables, their encodings and defaults, the
// subcommand, its flags and the startup probe. It is a leaf (it imports
// nothing of the AWS SDK or of Kubernetes), so the webhook links none of what
// the injector needs to fetch.
package contract

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"strings"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// Environment variables of the contract between the webhook (which renders the
// init container) and `aws-secrets-injector inject` (which reads them). See the
// package doc for the rules.
const (
	// EnvSPC holds the SecretProviderClass spec.parameters, resolved at admission,
	// as a compact JSON object of strings (EncodeSpec). Required.
	EnvSPC = "AWS_SECRETS_INJECTOR_SPC"
	// EnvSPCName is "namespace/name" of that SecretProviderClass, used only in
	// messages. Optional.
	EnvSPCName = "AWS_SECRETS_INJECTOR_SPC_NAME"
	// EnvMountPath is the absolute path, inside the injector container, of the
	// memory emptyDir to fill. Required (or the --mount-path flag).
	EnvMountPath = "AWS_SECRETS_INJECTOR_MOUNT_PATH"
	// EnvRefreshInterval is a Go duration ("2m"); unset, empty or "0" means
	// one-shot (init container), more keeps refreshing (native sidecar). Optional.
	EnvRefreshInterval = "AWS_SECRETS_INJECTOR_REFRESH_INTERVAL"
	// EnvDeadline is a Go duration: the total time allowed to write the first
	// complete file set, transient AWS errors retried within it. Optional,
	// default DefaultDeadline.
	EnvDeadline = "AWS_SECRETS_INJECTOR_DEADLINE"
	// EnvNotifySignal is a signal name (SIGHUP or HUP; envexec/contract's
	// ParseSignal) the native sidecar sends to the app after each refresh that
	// changed the set. Optional; needs EnvNotifyCommand, a refresh interval
	// and a pod with shareProcessNamespace: true.
	EnvNotifySignal = "AWS_SECRETS_INJECTOR_NOTIFY_SIGNAL"
	// EnvNotifyCommand is the command name of the processes to signal
	// (NotifyTargets says which). Optional; needs EnvNotifySignal.
	EnvNotifyCommand = "AWS_SECRETS_INJECTOR_NOTIFY_COMMAND"
)

// Annotations of a pod asking the native sidecar to signal its app; the
// webhook renders them as EnvNotifySignal and EnvNotifyCommand (after
// checking the signal with envexec/contract's ParseSignal and the command
// with CheckNotifyCommand), and denies them unless the pod sets
// shareProcessNamespace: true and refresh is on.
const (
	AnnotationNotifySignal  = "aws-secrets-injector.io/notify-signal"
	AnnotationNotifyCommand = "aws-secrets-injector.io/notify-command"
)

// MaxNotifyCommandBytes bounds a notify command name (a file name).
const MaxNotifyCommandBytes = 255

// CheckNotifyCommand checks a notify command name: a program's file name,
// without '/' or NUL, at most MaxNotifyCommandBytes; field names the
// annotation, variable or flag.
func CheckNotifyCommand(field, name string) error {
	fix := `use the app's program name as ps shows it, e.g. "nginx"`
	switch {
	case name == "":
		return envError(field, "empty", fix)
	case len(name) > MaxNotifyCommandBytes:
		return envError(field, fmt.Sprintf("%d bytes, at most %d allowed", len(name), MaxNotifyCommandBytes), fix)
	case strings.ContainsAny(name, "/\x00"):
		return envError(field, fmt.Sprintf("%s holds a '/' or a NUL byte", secrets.Quote(name)), fix+" (the base name, not a path)")
	}
	return nil
}

// Defaults of the contract's optional values.
const (
	// DefaultDeadline bounds the first fill when EnvDeadline is unset.
	DefaultDeadline = 2 * time.Minute
	// DefaultJitter is the default --jitter: each refresh wait is the interval
	// ±10 %.
	DefaultJitter = 0.1
	// MinRefreshInterval is the shortest refresh interval accepted.
	MinRefreshInterval = time.Second
)

// envError is a contract variable (or flag) with a bad value: a Problem
// whose field is the variable, with the fix (usually in the webhook or the
// pod spec). Its message renders "VAR: problem; fix: ...".
func envError(name, problem, fix string) *secrets.Problem {
	return &secrets.Problem{Object: -1, Field: name, Problem: problem, Fix: fix, Kind: reason.InvalidRequest}
}

// EncodeSpec encodes SecretProviderClass parameters for EnvSPC: compact JSON,
// keys sorted, so the same class always renders the same value (the webhook's
// reinvocation stays idempotent). Parameters the kubelet adds at mount time
// (keys starting with "csi.storage.k8s.io/") are dropped: they mean nothing here.
func EncodeSpec(params map[string]string) (string, error) {
	clean := make(map[string]string, len(params))
	for k, v := range params {
		if strings.HasPrefix(k, "csi.storage.k8s.io/") {
			continue
		}
		clean[k] = v
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return "", fmt.Errorf("encode SecretProviderClass parameters: %w", err)
	}
	return string(b), nil
}

// DecodeSpec decodes a value of EnvSPC. It checks the encoding only (a JSON
// object of strings with an "objects" key); spc.Parse validates the content.
func DecodeSpec(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, envError(EnvSPC, "not set or empty",
			"run inject only in a pod mutated by the aws-secrets-injector webhook (mode: init), or set it to the SecretProviderClass parameters as a JSON object")
	}
	var params map[string]string
	if err := json.Unmarshal([]byte(s), &params); err != nil {
		return nil, envError(EnvSPC, "not a JSON object of strings: "+jsonProblem(err),
			`set it to the SecretProviderClass parameters as JSON, e.g. {"objects":"- objectName: my-app/db\n  objectType: secretsmanager\n"}`)
	}
	if params == nil {
		return nil, envError(EnvSPC, "null instead of a JSON object", "set it to the SecretProviderClass parameters as a JSON object")
	}
	if _, ok := params["objects"]; !ok {
		return nil, envError(EnvSPC, `no "objects" key`,
			"set it to the whole spec.parameters of the SecretProviderClass, including objects")
	}
	return params, nil
}

// jsonProblem shortens a JSON error to its message; encoding/json never quotes
// the input's string values, so no secret can leak through it (nor would one be
// here: the parameters name secrets, they do not hold them).
func jsonProblem(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// Env is the decoded contract.
type Env struct {
	// Params are the SecretProviderClass parameters (EnvSPC).
	Params map[string]string
	// ClassName is "namespace/name" of the class (EnvSPCName), for messages.
	ClassName string
	// MountPath is the directory to fill (EnvMountPath).
	MountPath string
	// RefreshInterval is 0 for one-shot (EnvRefreshInterval).
	RefreshInterval time.Duration
	// Deadline bounds the first fill (EnvDeadline); 0 means DefaultDeadline.
	Deadline time.Duration
}

// Var is one environment variable to render.
type Var struct {
	Name  string
	Value string
}

// Vars renders e as environment variables in a fixed order, omitting optional
// values that are unset (ClassName "", RefreshInterval 0, Deadline 0), so the
// webhook can append them to the container's env as they are.
func (e Env) Vars() ([]Var, error) {
	spec, err := EncodeSpec(e.Params)
	if err != nil {
		return nil, err
	}
	if err := CheckMountPath(EnvMountPath, e.MountPath); err != nil {
		return nil, err
	}
	vars := []Var{{Name: EnvSPC, Value: spec}}
	if e.ClassName != "" {
		vars = append(vars, Var{Name: EnvSPCName, Value: e.ClassName})
	}
	vars = append(vars, Var{Name: EnvMountPath, Value: e.MountPath})
	if e.RefreshInterval > 0 {
		vars = append(vars, Var{Name: EnvRefreshInterval, Value: e.RefreshInterval.String()})
	}
	if e.Deadline > 0 {
		vars = append(vars, Var{Name: EnvDeadline, Value: e.Deadline.String()})
	}
	return vars, nil
}

// DecodeEnv reads every contract variable through getenv (os.Getenv in
// production). Errors name the variable.
func DecodeEnv(getenv func(string) string) (Env, error) {
	var e Env
	var err error
	if e.Params, err = DecodeSpec(getenv(EnvSPC)); err != nil {
		return Env{}, err
	}
	e.ClassName = getenv(EnvSPCName)
	if e.MountPath, err = MountPathFromEnv(getenv); err != nil {
		return Env{}, err
	}
	if e.RefreshInterval, err = RefreshFromEnv(getenv); err != nil {
		return Env{}, err
	}
	if e.Deadline, err = DeadlineFromEnv(getenv); err != nil {
		return Env{}, err
	}
	return e, nil
}

// MountPathFromEnv reads EnvMountPath through getenv and checks it.
func MountPathFromEnv(getenv func(string) string) (string, error) {
	p := getenv(EnvMountPath)
	if p == "" {
		return "", envError(EnvMountPath, "not set",
			"set it (or --mount-path) to the mount path of the memory emptyDir in this container")
	}
	return p, CheckMountPath(EnvMountPath, p)
}

// CheckMountPath accepts a clean absolute path other than "/"; name is the
// variable or flag it came from, for the error.
func CheckMountPath(name, p string) error {
	fix := "use the absolute path where the memory emptyDir is mounted, e.g. /mnt/secrets-store"
	switch {
	case p == "":
		return envError(name, "empty", fix)
	case !path.IsAbs(p):
		return envError(name, fmt.Sprintf("%q is not an absolute path", p), fix)
	case path.Clean(p) != p && path.Clean(p)+"/" != p:
		return envError(name, fmt.Sprintf("%q is not a clean path", p), fix)
	case path.Clean(p) == "/":
		return envError(name, "the root directory cannot be the mount path", fix)
	}
	for _, el := range strings.Split(strings.Trim(p, "/"), "/") {
		if strings.HasPrefix(el, "..") || el == "." {
			return envError(name, fmt.Sprintf("%q has an element starting with \"..\"", p), fix)
		}
	}
	return nil
}

// RefreshFromEnv reads EnvRefreshInterval through getenv and checks it.
func RefreshFromEnv(getenv func(string) string) (time.Duration, error) {
	return ParseRefresh(EnvRefreshInterval, getenv(EnvRefreshInterval))
}

// ParseRefresh parses a refresh interval: "" or "0" is one-shot, else a Go
// duration of at least MinRefreshInterval; name is the variable or flag.
func ParseRefresh(name, v string) (time.Duration, error) {
	if v == "" || v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, envError(name, fmt.Sprintf("%q is not a duration", v), `use a Go duration such as "2m", or "0" for one-shot`)
	case d < 0:
		return 0, envError(name, fmt.Sprintf("%s is negative", d), `use a positive duration, or "0" for one-shot`)
	case d > 0 && d < MinRefreshInterval:
		return 0, envError(name, fmt.Sprintf("%s is too short", d), fmt.Sprintf("use %s or more", MinRefreshInterval))
	}
	return d, nil
}

// DeadlineFromEnv reads EnvDeadline through getenv and checks it.
func DeadlineFromEnv(getenv func(string) string) (time.Duration, error) {
	return ParseDeadline(EnvDeadline, getenv(EnvDeadline))
}

// ParseDeadline parses a first-fill deadline: "" is the default (0), else a
// positive Go duration; name is the variable or flag.
func ParseDeadline(name, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, envError(name, fmt.Sprintf("%q is not a duration", v), `use a Go duration such as "2m"`)
	case d <= 0:
		return 0, envError(name, fmt.Sprintf("%s is not positive", d), `use a positive duration such as "2m"`)
	}
	return d, nil
}

// Flag names of the inject command.
const (
	FlagMountPath       = "mount-path"
	FlagRefreshInterval = "refresh-interval"
	FlagDeadline        = "deadline"
	FlagJitter          = "jitter"
	FlagCheck           = "check"
	FlagNotifySignal    = "notify-signal"
	FlagNotifyCommand   = "notify-command"
)

// Subcommand is the injector container's subcommand: an image whose entrypoint
// is the injector runs it with args [Subcommand]; everything else travels in
// the environment (Env.Vars). Every binary of the image accepts these args:
// the lean injector (its role's name may lead its command line) and the full
// CLI, whose subcommand it is.
const Subcommand = "inject"

// DefaultBinary is the injector's path in the project's image and the image's
// entrypoint: the lean injector (cmd/asi-inject), which links only what a fill
// needs. The full CLI beside it (FullCLIBinary) still has Subcommand, for
// containers rendered by an older webhook, whose probe named it.
const DefaultBinary = "/asi-inject"

// FullCLIBinary is the operator CLI's path in the project's image
// (cmd/aws-secrets-injector, every subcommand).
const FullCLIBinary = "/aws-secrets-injector"

// ProbeCommand is the exec command of the native sidecar's startupProbe, for
// the binary at path binary (DefaultBinary in the project's image). It reads
// the mount path from EnvMountPath, which the probe inherits from the container.
func ProbeCommand(binary string) []string {
	return []string{binary, Subcommand, "--" + FlagCheck}
}

// probeSlack covers process start and the configuration load before the
// deadline starts counting.
const probeSlack = 10 * time.Second

// ProbeFailureThreshold is the startupProbe failureThreshold, for a probe every
// periodSeconds, that outlasts the first fill's deadline (0 = DefaultDeadline):
// the injector itself exits non-zero when the deadline passes, so the probe
// never needs to be the one that gives up.
func ProbeFailureThreshold(deadline time.Duration, periodSeconds int32) int32 {
	if deadline <= 0 {
		deadline = DefaultDeadline
	}
	if periodSeconds <= 0 {
		periodSeconds = 1
	}
	period := time.Duration(periodSeconds) * time.Second
	n := (deadline + probeSlack + period - 1) / period
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(n) //nolint:gosec // n is checked against MaxInt32 above
}
