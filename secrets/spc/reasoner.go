package spc

import "github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"

// Reason implements reason.Reasoner.
func (e *InvalidError) Reason() reason.Reason { return reason.InvalidClass }
