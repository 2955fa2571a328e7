package spc

import (
	"fmt"
	"strings"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// InvalidError is returned by Parse, DecodeClass and ClassFromObject when the
// class has one or more problems.
type InvalidError struct {
	// Issues lists every problem found, in the order found.
	Issues []*secrets.Problem
}

// Error lists every problem, separated by " | " after the first line's prefix.
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

// Reason implements reason.Reasoner: reason.LimitExceeded when every problem
// is an exceeded bound, else reason.InvalidClass.
func (e *InvalidError) Reason() reason.Reason {
	if len(e.Issues) == 0 {
		return reason.InvalidClass
	}
	for _, p := range e.Issues {
		if p.Reason() != reason.LimitExceeded {
			return reason.InvalidClass
		}
	}
	return reason.LimitExceeded
}

// collector gathers problems while parsing.
type collector struct {
	// strict turns the lenient verdicts (unknown keys, the AWS provider's
	// looser rules) into errors: Options.Strict.
	strict bool
	errs   []*secrets.Problem
	warns  []*secrets.Problem
}

func problem(obj int, name, field, fix, format string, args ...any) *secrets.Problem {
	return &secrets.Problem{Object: obj, ObjectName: name, Field: field, Problem: fmt.Sprintf(format, args...), Fix: fix}
}

// errorf records an error.
func (c *collector) errorf(obj int, name, field, fix, format string, args ...any) {
	c.errs = append(c.errs, problem(obj, name, field, fix, format, args...))
}

// refuse records an error the AWS provider would not report, with why this
// project refuses it anyway (it protects the node or the pod).
func (c *collector) refuse(obj int, name, field, fix, why, format string, args ...any) {
	p := problem(obj, name, field, fix, format, args...)
	p.Why = why
	c.errs = append(c.errs, p)
}

// limit records an exceeded bound (reason.LimitExceeded).
func (c *collector) limit(obj int, name, field, fix, format string, args ...any) {
	p := problem(obj, name, field, fix, format, args...)
	p.Kind = reason.LimitExceeded
	c.errs = append(c.errs, p)
}

// warnf records a warning.
func (c *collector) warnf(obj int, name, field, fix, format string, args ...any) {
	c.warns = append(c.warns, problem(obj, name, field, fix, format, args...))
}

// lenient records what the AWS provider accepts but is likely a mistake: a
// warning, or an error with Options.Strict.
func (c *collector) lenient(obj int, name, field, fix, format string, args ...any) {
	if c.strict {
		c.errorf(obj, name, field, fix, format, args...)
		return
	}
	c.warnf(obj, name, field, fix, format, args...)
}
