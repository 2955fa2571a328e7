package jmespath

import (
	"errors"
	"fmt"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// Defaults of a Budget.
const (
	// DefaultSteps is the work one evaluation may do: far more than any
	// extraction from a 64 KiB secret needs (a sort_by over 2000 items takes
	// about 30 000), and a few tens of milliseconds of CPU at most.
	DefaultSteps = 1 << 20
	// DefaultBytes is what one evaluation may allocate.
	DefaultBytes = secrets.MaxResultBytes
)

// Budget bounds one evaluation. A zero or negative field takes its default.
type Budget struct {
	// Steps bounds the work: one step per node visited, per element
	// iterated, per node compared, encoded or measured, per 8 bytes of string
	// scanned, and n·log2(n) per sort of n elements.
	Steps int
	// Bytes bounds the memory the evaluation allocates, all values together
	// (the result and every intermediate list, object, string and number:
	// 24+16n bytes for a list of n, 320+80n for an object, 16+n for a string,
	// 8 for a number), each charged before it is allocated; and the size of
	// the result as JSON (a value it only refers to, such as the data itself,
	// costs nothing to build but counts here).
	Bytes int
}

// DefaultBudget is the budget of an extraction.
func DefaultBudget() Budget { return Budget{Steps: DefaultSteps, Bytes: DefaultBytes} }

func (b Budget) withDefaults() Budget {
	if b.Steps <= 0 {
		b.Steps = DefaultSteps
	}
	if b.Bytes <= 0 {
		b.Bytes = DefaultBytes
	}
	return b
}

// String renders the budget for a message: "1048576 steps, 1048576 bytes".
func (b Budget) String() string {
	b = b.withDefaults()
	return fmt.Sprintf("%d steps, %d bytes", b.Steps, b.Bytes)
}

// Bounds of a compiled expression.
const (
	// MaxExpressionBytes bounds the text of an expression.
	MaxExpressionBytes = secrets.MaxExpressionBytes
	// MaxNodes bounds the nodes of an expression's tree ("a.b[0]" has 4).
	MaxNodes = 1000
	// MaxDepth bounds the nesting of an expression's tree; a chain of n
	// fields, pipes or brackets nests n deep.
	MaxDepth = 100
	// maxDataDepth bounds the nesting of the values the interpreter walks
	// (encoding/json decodes at most 10000 levels; an expression adds at most
	// MaxNodes).
	maxDataDepth = 1 << 14
)

// Limit names of a LimitError.
const (
	LimitSteps           = "steps"
	LimitBytes           = "bytes"
	LimitResultBytes     = "result bytes"
	LimitExpressionBytes = "expression bytes"
	LimitNodes           = "nodes"
	LimitDepth           = "depth"
	LimitDataDepth       = "data depth"
)

// LimitError reports a bound exceeded: by an expression at Compile, or by an
// evaluation at Search.
type LimitError struct {
	// Limit names the bound (LimitSteps, LimitBytes, ...).
	Limit string
	// Max is its value.
	Max int
}

// Error implements error.
func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitSteps:
		return fmt.Sprintf("JMESPath evaluation needs more than its budget of %d steps", e.Max)
	case LimitBytes:
		return fmt.Sprintf("JMESPath evaluation would build more than its budget of %d bytes", e.Max)
	case LimitResultBytes:
		return fmt.Sprintf("JMESPath result is larger than %d bytes as JSON", e.Max)
	case LimitExpressionBytes:
		return fmt.Sprintf("JMESPath expression is longer than %d bytes", e.Max)
	case LimitNodes:
		return fmt.Sprintf("JMESPath expression has more than %d nodes", e.Max)
	case LimitDepth:
		return fmt.Sprintf("JMESPath expression nests deeper than %d levels", e.Max)
	case LimitDataDepth:
		return fmt.Sprintf("JMESPath evaluation meets a value nested deeper than %d levels", e.Max)
	}
	return fmt.Sprintf("JMESPath %s over %d", e.Limit, e.Max)
}

// Reason implements reason.Reasoner: LimitExceeded.
func (e *LimitError) Reason() reason.Reason { return reason.LimitExceeded }

func isLimit(err error) bool {
	var l *LimitError
	return errors.As(err, &l)
}

// Error is an expression that does not compile (Reason InvalidClass), or an
// evaluation that fails for the data it meets (Reason InvalidValue): a
// function given the wrong type, a sort key of mixed types. The message holds
// no data, only JSON type names and positions.
type Error struct {
	// Kind is the reason.
	Kind reason.Reason
	// Offset is, for a syntax error, the byte offset in the expression; -1 otherwise.
	Offset int
	// Msg says what is wrong.
	Msg string
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// Reason implements reason.Reasoner.
func (e *Error) Reason() reason.Reason { return e.Kind }

func evalErrorf(format string, args ...any) error {
	return &Error{Kind: reason.InvalidValue, Offset: -1, Msg: fmt.Sprintf(format, args...)}
}

func compileErrorf(offset int, format string, args ...any) error {
	return &Error{Kind: reason.InvalidClass, Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

// Allocation estimates charged to Budget.Bytes (64-bit Go: an interface slot
// is 16 bytes, a slice header 24, a string header 16).
const (
	listBytes  = 24 // the header of a list boxed in an interface
	slotBytes  = 16 // one element of a list
	mapBytes   = 320
	entryBytes = 80 // one entry of a map, with the table's slack
	strBytes   = 16 // the header of a string boxed in an interface
	numBytes   = 8  // a float64 boxed in an interface
)

// evaluator is the state of one Search: what has been spent.
type evaluator struct {
	steps, maxSteps int
	bytes, maxBytes int
}

// step spends n steps.
func (e *evaluator) step(n int) error {
	if n < 0 || n > e.maxSteps-e.steps {
		return e.overSteps()
	}
	e.steps += n
	return nil
}

// alloc spends n bytes; call it before allocating them.
func (e *evaluator) alloc(n int) error {
	if n < 0 || n > e.maxBytes-e.bytes {
		return e.overBytes()
	}
	e.bytes += n
	return nil
}

func (e *evaluator) overSteps() error {
	e.steps = e.maxSteps
	return &LimitError{Limit: LimitSteps, Max: e.maxSteps}
}

func (e *evaluator) overBytes() error {
	e.bytes = e.maxBytes
	return &LimitError{Limit: LimitBytes, Max: e.maxBytes}
}

// scan spends the steps of reading a string of n bytes.
func (e *evaluator) scan(n int) error { return e.step(1 + n/8) }

// sortSteps spends n·log2(n) steps, the comparisons of sorting n elements.
func (e *evaluator) sortSteps(n int) error {
	lg := 1
	for m := n; m > 1; m >>= 1 {
		lg++
	}
	if n > e.maxSteps/lg {
		return e.overSteps()
	}
	return e.step(n * lg)
}

// newList allocates an empty list with room for n elements.
func (e *evaluator) newList(n int) ([]any, error) {
	if n > (e.maxBytes-e.bytes)/slotBytes {
		return nil, e.overBytes()
	}
	if err := e.alloc(listBytes + n*slotBytes); err != nil {
		return nil, err
	}
	return make([]any, 0, n), nil
}

// newMap allocates an empty object with room for n entries.
func (e *evaluator) newMap(n int) (map[string]any, error) {
	if n > (e.maxBytes-e.bytes)/entryBytes {
		return nil, e.overBytes()
	}
	if err := e.alloc(mapBytes + n*entryBytes); err != nil {
		return nil, err
	}
	return make(map[string]any, n), nil
}

// num boxes a number the evaluation computed.
func (e *evaluator) num(f float64) (any, error) {
	if err := e.alloc(numBytes); err != nil {
		return nil, err
	}
	return f, nil
}
