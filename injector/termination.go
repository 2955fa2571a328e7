package injector

import (
	"os"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// DefaultTerminationLog is the container's terminationMessagePath unless the
// pod spec sets another (the webhook leaves the default).
const DefaultTerminationLog = "/dev/termination-log"

// maxTermination is what the kubelet keeps of a termination message.
const maxTermination = 4096

// writeTermination puts a failed fill's one line, its reason first, into the
// container's termination message, so `kubectl describe pod` shows why the
// init container failed (Last State: Terminated, Message) without its logs.
// The line names the class, the stage, the object and the fix; never a
// value. Without a termination log (not in a container) it does nothing.
func writeTermination(path string, err error) {
	if path == "" {
		path = DefaultTerminationLog
	}
	f, oerr := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if oerr != nil {
		return // not in a container, or no termination log: the stderr line is all there is
	}
	defer f.Close() //nolint:errcheck // best effort: the stderr line says the same
	msg := string(reason.Of(err)) + ": " + err.Error()
	if len(msg) > maxTermination {
		msg = msg[:maxTermination-len("…")] + "…"
	}
	_, _ = f.WriteString(msg)
}
