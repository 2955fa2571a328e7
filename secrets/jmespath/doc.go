// Package jmespath owns the evaluation of the JMESPath expressions of a
// SecretProviderClass (jmesPath[].path) under a budget, so that no expression
// a tenant writes can exhaust the memory or the CPU of the process that
// serves every other volume of the node.
//
// Expressions are parsed by github.com/jmespath/go-jmespath v0.4.0, the
// implementation the AWS provider uses, so the same text means the same
// tree. The tree is then evaluated by this package's own interpreter, which
// counts its work (Budget.Steps: every node visited, every element iterated,
// the work of every function) and the bytes of every list, object, string and
// number it builds (Budget.Bytes), each checked before the allocation it
// pays for, and fails with a *LimitError (reason.LimitExceeded) as soon as
// either runs out. The JSON size of the result is bounded by Budget.Bytes too.
//
// Results are those of go-jmespath's Search, checked by a differential fuzz
// test, except where this package deliberately differs:
//
//   - Object iteration (keys, values, the "*" projection) follows the sorted
//     order of the keys; go-jmespath follows Go's randomised map order, so the
//     same secret could give a different file at every refresh.
//   - A "*" projection visits each value once; go-jmespath also visits one
//     null per key first (so "*.to_string(@)" gains a "null" per key and
//     "*.length(@)" fails).
//   - sort_by returns a sorted copy; go-jmespath sorts its argument in place,
//     so another reference to the same array in one expression sees it sorted.
//   - Compile rejects what can never run: an unknown function, a wrong number
//     of arguments, a slice step of 0, and the empty node the parser leaves
//     for some malformed brackets ("[[0.a]"). go-jmespath fails only when the
//     node is evaluated (and not at all when it is not reached).
//   - merge checks that every argument is an object, and contains compares
//     arrays and objects by value; go-jmespath panics on both.
//   - A slice step near the largest integer works; go-jmespath panics.
//   - A function name that is not a name ("@()") is a compile error;
//     go-jmespath panics.
//
// Error messages never contain a value of the data: they name the function,
// the argument and the JSON types involved.
package jmespath
