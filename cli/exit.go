// Package cli holds the operator tools, run from a workstation or CI rather
// than in the cluster: fetch (a class's files by hand), validate (classes
// checked offline), doctor (why a pod lacks its secrets, from the cluster's
// metadata) and what they share: one bounded manifest reader
// (cli/manifest) and one exit-error type (this package).
package cli

// ExitError is an error that chooses the process's exit code; the main
// package prints the message and exits with Code.
type ExitError struct {
	// Code is the process exit code (each tool documents its codes).
	Code int
	// Err says why.
	Err error
}

// Error returns the wrapped error's message.
func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode returns the process exit code.
func (e *ExitError) ExitCode() int { return e.Code }
