package webhook

import (
	"fmt"
	"unicode/utf8"

	execcontract "github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Bounds of the admission warnings: the API server truncates a warning over
// 256 characters and drops what exceeds 4 KiB in all.
const (
	maxWarnings     = 8
	maxWarningRunes = 250
)

// classWarnings are the admission warnings of a pod that mounts class: the
// class's own warnings that matter to it (spc.DeliveryWarnings: an unknown
// key and its "did you mean", a JMESPath result that cannot be a string;
// --strict-classes makes those denials), and spec.secretObjects, which init
// mode never syncs into a Kubernetes Secret and csi mode syncs only with the
// chart's mounter.syncSecrets.
func classWarnings(class *spc.Class, warns []*secrets.Problem, mode Mode) []string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) == maxWarnings {
			return
		}
		w := fmt.Sprintf(format, args...)
		if utf8.RuneCountInString(w) > maxWarningRunes {
			w = string([]rune(w)[:maxWarningRunes-1]) + "…"
		}
		out = append(out, w)
	}
	switch {
	case len(class.SecretObjects) == 0:
	case mode == ModeCSI:
		add("SecretProviderClass %q: spec.secretObjects is synced into Kubernetes Secrets in csi mode only where the chart value "+
			"mounter.syncSecrets is true (off by default: the values would sit in etcd); else read the files at the mount path", class.Name)
	default:
		add("SecretProviderClass %q: spec.secretObjects is never synced into a Kubernetes Secret in %s mode (the values stay "+
			"out of etcd): read the files at the mount path, or have the exec wrapper hand them to the app as env", class.Name, mode)
	}
	for _, w := range spc.DeliveryWarnings(warns) {
		add("SecretProviderClass %q: %v", class.Name, w)
	}
	return out
}

// execWarnings are the admission warnings of exec annotations that are
// valid but cannot do what they say: an on-change action in init mode
// without refresh (the files are written once, so they never change), and
// a grace period without restart (only a restart uses it).
func execWarnings(a *Annotations) []string {
	e := a.Exec
	if e == nil {
		return nil
	}
	var out []string
	if e.Action.Action != execcontract.ActionNone && a.Mode == ModeInit && !a.Refresh {
		out = append(out, fmt.Sprintf("annotation %s: %s does nothing in init mode without %s: \"true\" (the files are written once, before the app starts)",
			AnnotationExecOnChange, e.Action, AnnotationRefresh))
	}
	if e.GracePeriod != "" && e.Action.Action != execcontract.ActionRestart {
		out = append(out, fmt.Sprintf("annotation %s: does nothing without %s: restart", AnnotationExecGracePeriod, AnnotationExecOnChange))
	}
	return out
}
