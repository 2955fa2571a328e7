package secrets

import (
	"strings"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// Problem is the one shape of everything a user must fix, whichever stage
// finds it: a SecretProviderClass field (spc), a fetched value that does not
// fit (extract), an environment variable of the init-mode contract, a bound
// that was exceeded. It names the field, says what is wrong without any
// secret value, and says the fix.
type Problem struct {
	// Object is the index in the class's objects list, or -1 when the problem
	// is not about one object.
	Object int
	// ObjectName is the object's objectName when known.
	ObjectName string
	// Field is the path of the field, e.g. "objects[0].jmesPath[1].path",
	// "region" or an environment variable's name.
	Field string
	// Problem says what is wrong, without any secret value.
	Problem string
	// Fix says what to do about it, when there is something to say.
	Fix string
	// Why, when set, says why a verdict is stricter than the AWS provider's
	// (it protects the node or the pod); it is part of the message.
	Why string
	// Kind is the failure reason (InvalidClass when empty).
	Kind reason.Reason
}

// Error renders the problem on one line: field (object "name"): problem; fix: fix.
func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Field)
	if p.ObjectName != "" {
		b.WriteString(" (object ")
		b.WriteString(Quote(p.ObjectName))
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(p.Problem)
	if p.Why != "" {
		b.WriteString(" (")
		b.WriteString(p.Why)
		b.WriteString(")")
	}
	if p.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// Reason implements reason.Reasoner.
func (p *Problem) Reason() reason.Reason {
	if p.Kind == "" {
		return reason.InvalidClass
	}
	return p.Kind
}
