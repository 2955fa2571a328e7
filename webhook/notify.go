package webhook

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	execcontract "github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
)

// Signalling an app that reads plain files (no exec wrapper) after a
// rotation: the native sidecar of init mode sends the signal to the processes
// named by the command (injector/notify.go). The webhook checks the two
// annotations with the injector's own parsers and renders them as the
// sidecar's env; it denies them where they could do nothing: csi mode (no
// sidecar: the exec wrapper's exec-on-change signals there), init mode
// without refresh (no sidecar either), and a pod without
// shareProcessNamespace: true (the sidecar could not see the app). The webhook
// never turns shareProcessNamespace on itself: it shows every container's
// processes, and their environments to the same user, to the others, which is
// the pod owner's choice to make.

// Pod annotations of the sidecar's signal (injector/contract's names).
const (
	// AnnotationNotifySignal is the signal (SIGHUP or HUP) sent after a
	// refresh that changed the files.
	AnnotationNotifySignal = contract.AnnotationNotifySignal
	// AnnotationNotifyCommand names the app's processes to signal, as ps shows them.
	AnnotationNotifyCommand = contract.AnnotationNotifyCommand
)

// NotifyAnnotations is the parsed pair.
type NotifyAnnotations struct {
	// Signal is the canonical signal name (SIGHUP).
	Signal string
	// Command is the app's program name.
	Command string
}

// parseNotifyAnnotations reads notify-signal and notify-command: nil when
// neither is set; both or neither.
func parseNotifyAnnotations(ann map[string]string) (*NotifyAnnotations, error) {
	sig, hasSig := ann[AnnotationNotifySignal]
	cmd, hasCmd := ann[AnnotationNotifyCommand]
	switch {
	case !hasSig && !hasCmd:
		return nil, nil
	case !hasCmd:
		return nil, annErr(AnnotationNotifyCommand, `name the app's program as ps shows it, e.g. "nginx"`,
			"is missing: %s needs it to find the app", AnnotationNotifySignal)
	case !hasSig:
		return nil, annErr(AnnotationNotifySignal, `name the signal the app reloads on, e.g. "SIGHUP"`,
			"is missing: %s is set", AnnotationNotifyCommand)
	}
	name, _, err := execcontract.ParseSignal(AnnotationNotifySignal, sig)
	if err != nil {
		return nil, problemAnnErr(AnnotationNotifySignal, err)
	}
	if err := contract.CheckNotifyCommand(AnnotationNotifyCommand, cmd); err != nil {
		return nil, problemAnnErr(AnnotationNotifyCommand, err)
	}
	return &NotifyAnnotations{Signal: name, Command: cmd}, nil
}

// checkNotify denies the notify annotations where the sidecar cannot act on
// them.
func checkNotify(pod *corev1.Pod, a *Annotations) error {
	if a.Notify == nil {
		return nil
	}
	switch {
	case a.Mode != ModeInit:
		return annErr(AnnotationNotifySignal, fmt.Sprintf(`in csi mode wrap the app with %s: "true" and %s: "signal:%s", or use %s: init with %s: "true"`,
			AnnotationExec, AnnotationExecOnChange, a.Notify.Signal, AnnotationMode, AnnotationRefresh),
			"is sent by init mode's native sidecar, and this pod is in %s mode", a.Mode)
	case !a.Refresh:
		return annErr(AnnotationNotifySignal, fmt.Sprintf(`add %s: "true" (the sidecar that refreshes the files sends the signal)`, AnnotationRefresh),
			"needs refresh: without it no sidecar runs after the first fill")
	case pod.Spec.ShareProcessNamespace == nil || !*pod.Spec.ShareProcessNamespace:
		return annErr(AnnotationNotifySignal, "set spec.shareProcessNamespace: true on the pod (the webhook never sets it for you: it shows every container's processes to the others)",
			"needs one PID namespace for the pod, so the sidecar can find %s", quote(a.Notify.Command))
	}
	return nil
}

// notifyEnv is the sidecar's env of a.
func notifyEnv(a *Annotations) []corev1.EnvVar {
	if a.Notify == nil {
		return nil
	}
	return []corev1.EnvVar{{Name: contract.EnvNotifySignal, Value: a.Notify.Signal}, {Name: contract.EnvNotifyCommand, Value: a.Notify.Command}}
}
