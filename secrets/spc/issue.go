package spc

import (
	"fmt"
	"strings"
)

// Issue is one problem (or warning) found in a SecretProviderClass.
type Issue struct {
	// Object is the index in the objects list, or -1 for a class-level parameter.
	Object int
	// ObjectName is the object's objectName when known.
	ObjectName string
	// Field is the path of the field, e.g. "objects[0].jmesPath[1].objectAlias" or "region".
	Field string
	// Problem says what is wrong, without any secret value.
	Problem string
	// Fix says what to do about it.
	Fix string
}

// Error renders the issue on one line: where, what, fix.
func (i *Issue) Error() string {
	var b strings.Builder
	b.WriteString(i.Field)
	if i.ObjectName != "" {
		fmt.Fprintf(&b, " (object %q)", i.ObjectName)
	}
	b.WriteString(": ")
	b.WriteString(i.Problem)
	if i.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(i.Fix)
	}
	return b.String()
}

// InvalidError is returned by Parse when the class has one or more issues.
type InvalidError struct {
	Issues []*Issue
}

// Error lists every issue, separated by "; " after the first line's prefix.
func (e *InvalidError) Error() string {
	msgs := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		msgs[i] = is.Error()
	}
	if len(msgs) == 1 {
		return "invalid SecretProviderClass: " + msgs[0]
	}
	return fmt.Sprintf("invalid SecretProviderClass (%d problems): %s", len(msgs), strings.Join(msgs, " | "))
}

// collector gathers issues while parsing.
type collector struct {
	errs  []*Issue
	warns []*Issue
}

func (c *collector) errorf(obj int, name, field, fix, format string, args ...any) {
	c.errs = append(c.errs, &Issue{Object: obj, ObjectName: name, Field: field, Problem: fmt.Sprintf(format, args...), Fix: fix})
}

func (c *collector) warnf(obj int, name, field, fix, format string, args ...any) {
	c.warns = append(c.warns, &Issue{Object: obj, ObjectName: name, Field: field, Problem: fmt.Sprintf(format, args...), Fix: fix})
}
