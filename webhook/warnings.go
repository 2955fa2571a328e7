package webhook

import (
	"fmt"
	"unicode/utf8"

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
// --strict-classes makes those denials), and spec.secretObjects, which this
// webhook's deliveries never sync into a Kubernetes Secret.
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
	if len(class.SecretObjects) > 0 {
		add("SecretProviderClass %q: spec.secretObjects is not synced into a Kubernetes Secret in %s mode (the values stay "+
			"out of etcd): read the files at the mount path, or have the exec wrapper hand them to the app as env", class.Name, mode)
	}
	for _, w := range spc.DeliveryWarnings(warns) {
		add("SecretProviderClass %q: %v", class.Name, w)
	}
	return out
}
