package awsfetch

import "github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"

// Reason implements reason.Reasoner: the reason of the object's failure kind.
func (e *ObjectError) Reason() reason.Reason { return reason.Reason(kindReason(e.Kind)) }

// Reason implements reason.Reasoner: the first object's reason.
func (e *FetchError) Reason() reason.Reason {
	if len(e.Errs) == 0 {
		return reason.Internal
	}
	return e.Errs[0].Reason()
}
