package jmespath

import (
	"reflect"
	"sort"
)

// Search evaluates the expression against data within budget b (zero fields
// take their defaults). data is a value as encoding/json decodes into an
// any: nil, bool, float64, string, []any, map[string]any. The result may
// share storage with data and with the expression's literals: do not modify
// it. Over budget, Search returns a *LimitError; an evaluation that fails
// for the data it meets (a function given the wrong type) returns an *Error.
func (x *Expression) Search(data any, b Budget) (any, error) {
	b = b.withDefaults()
	e := evaluator{maxSteps: b.Steps, maxBytes: b.Bytes}
	v, err := e.eval(x.root, data)
	if err != nil {
		return nil, err
	}
	if err := e.checkResult(v); err != nil {
		return nil, err
	}
	return v, nil
}

// eval evaluates n against the current value v.
func (e *evaluator) eval(n *node, v any) (any, error) {
	if e.steps >= e.maxSteps {
		return nil, e.overSteps()
	}
	e.steps++
	switch n.kind {
	case kField:
		if m, ok := v.(map[string]any); ok {
			return m[n.name], nil
		}
		return nil, nil
	case kSubexpr, kIndexExpr, kPipe:
		left, err := e.eval(n.kids[0], v)
		if err != nil {
			return nil, err
		}
		return e.eval(n.kids[1], left)
	case kIndex:
		list, ok := v.([]any)
		if !ok {
			return nil, nil
		}
		i := n.index
		if i < 0 {
			i += len(list)
		}
		if i < 0 || i >= len(list) {
			return nil, nil
		}
		return list[i], nil
	case kSlice:
		list, ok := v.([]any)
		if !ok {
			return nil, nil
		}
		return e.slice(list, n.slice)
	case kProjection:
		left, err := e.eval(n.kids[0], v)
		if err != nil {
			return nil, err
		}
		list, ok := left.([]any)
		if !ok {
			return nil, nil
		}
		return e.project(len(list), func(i int) any { return list[i] }, n.kids[1])
	case kValueProjection:
		left, err := e.eval(n.kids[0], v)
		if err != nil {
			return nil, swallow(err)
		}
		m, ok := left.(map[string]any)
		if !ok {
			return nil, nil
		}
		keys, err := e.sortedKeys(m)
		if err != nil {
			return nil, err
		}
		return e.project(len(keys), func(i int) any { return m[keys[i]] }, n.kids[1])
	case kFilter:
		left, err := e.eval(n.kids[0], v)
		if err != nil {
			return nil, swallow(err)
		}
		list, ok := left.([]any)
		if !ok {
			return nil, nil
		}
		return e.filter(list, n.kids[2], n.kids[1])
	case kFlatten:
		left, err := e.eval(n.kids[0], v)
		if err != nil {
			return nil, swallow(err)
		}
		list, ok := left.([]any)
		if !ok {
			return nil, nil
		}
		return e.flatten(list)
	case kCompare:
		return e.compare(n, v)
	case kOr:
		left, err := e.eval(n.kids[0], v)
		if err != nil || truthy(left) {
			return left, err
		}
		return e.eval(n.kids[1], v)
	case kAnd:
		left, err := e.eval(n.kids[0], v)
		if err != nil || !truthy(left) {
			return left, err
		}
		return e.eval(n.kids[1], v)
	case kNot:
		x, err := e.eval(n.kids[0], v)
		if err != nil {
			return nil, err
		}
		return !truthy(x), nil
	case kList:
		if v == nil {
			return nil, nil
		}
		out, err := e.newList(len(n.kids))
		if err != nil {
			return nil, err
		}
		for _, k := range n.kids {
			x, err := e.eval(k, v)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case kHash:
		if v == nil {
			return nil, nil
		}
		out, err := e.newMap(len(n.kids))
		if err != nil {
			return nil, err
		}
		for i, k := range n.kids {
			x, err := e.eval(k, v)
			if err != nil {
				return nil, err
			}
			out[n.keys[i]] = x
		}
		return out, nil
	case kLiteral:
		return n.lit, nil
	case kCurrent, kIdentity:
		return v, nil
	case kFunction:
		return e.call(n, v)
	case kExpRef:
		return expref{n.kids[0]}, nil
	}
	return nil, evalErrorf("unknown JMESPath node %d", n.kind)
}

// swallow is what go-jmespath does with an error of the left side of a
// filter, a flatten or a "*" projection: the result is null. A bound
// exceeded is never swallowed.
func swallow(err error) error {
	if isLimit(err) {
		return err
	}
	return nil
}

// truthy is JMESPath's truth: false, null, "", [] and {} are false.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// project evaluates rhs against each element at(i), i < count, and collects
// the results that are not null.
func (e *evaluator) project(count int, at func(int) any, rhs *node) (any, error) {
	if err := e.step(count); err != nil {
		return nil, err
	}
	out, err := e.newList(count)
	if err != nil {
		return nil, err
	}
	for i := range count {
		x, err := e.eval(rhs, at(i))
		if err != nil {
			return nil, err
		}
		if x != nil {
			out = append(out, x)
		}
	}
	return out, nil
}

// filter keeps the elements for which cond is true and projects rhs over them.
func (e *evaluator) filter(list []any, cond, rhs *node) (any, error) {
	if err := e.step(len(list)); err != nil {
		return nil, err
	}
	out, err := e.newList(len(list))
	if err != nil {
		return nil, err
	}
	for _, el := range list {
		c, err := e.eval(cond, el)
		if err != nil {
			return nil, err
		}
		if !truthy(c) {
			continue
		}
		x, err := e.eval(rhs, el)
		if err != nil {
			return nil, err
		}
		if x != nil {
			out = append(out, x)
		}
	}
	return out, nil
}

// flatten splices the elements that are lists into their parent, one level.
func (e *evaluator) flatten(list []any) (any, error) {
	if err := e.step(len(list)); err != nil {
		return nil, err
	}
	total := 0
	for _, el := range list {
		if sub, ok := el.([]any); ok {
			total += len(sub)
		} else {
			total++
		}
	}
	if err := e.step(total); err != nil {
		return nil, err
	}
	out, err := e.newList(total)
	if err != nil {
		return nil, err
	}
	for _, el := range list {
		if sub, ok := el.([]any); ok {
			out = append(out, sub...)
		} else {
			out = append(out, el)
		}
	}
	return out, nil
}

// slice is list[start:stop:step], with Python's rules for negative and
// out-of-range bounds, computed without overflow for any int bounds.
func (e *evaluator) slice(list []any, s sliceSpec) (any, error) {
	length := len(list)
	step := 1
	if s.has[2] {
		step = s.step
	}
	if step == 0 {
		return nil, evalErrorf("invalid slice: the step cannot be 0")
	}
	clamp := func(v int) int {
		switch {
		case v < 0:
			v += length
			if v < 0 {
				if step < 0 {
					return -1
				}
				return 0
			}
		case v >= length:
			if step < 0 {
				return length - 1
			}
			return length
		}
		return v
	}
	var start, stop int
	switch {
	case s.has[0]:
		start = clamp(s.start)
	case step < 0:
		start = length - 1
	}
	switch {
	case s.has[1]:
		stop = clamp(s.stop)
	case step < 0:
		stop = -1
	default:
		stop = length
	}
	// The count of elements, from distances that fit an int (both bounds
	// are within [-1, length]); the step's magnitude as a uint (it may be
	// the smallest int).
	count := 0
	if step > 0 && start < stop {
		count = int(uint(stop-start-1)/uint(step)) + 1
	} else if step < 0 && start > stop {
		count = int(uint(start-stop-1)/(uint(-(step+1))+1)) + 1
	}
	if err := e.step(count); err != nil {
		return nil, err
	}
	out, err := e.newList(count)
	if err != nil {
		return nil, err
	}
	for i := range count {
		out = append(out, list[start+i*step])
	}
	return out, nil
}

// compare evaluates a comparison: == and != compare any two values; the
// orderings compare two numbers and are null for anything else.
func (e *evaluator) compare(n *node, v any) (any, error) {
	left, err := e.eval(n.kids[0], v)
	if err != nil {
		return nil, err
	}
	right, err := e.eval(n.kids[1], v)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case opEQ, opNE:
		eq, err := e.equal(left, right, 0)
		if err != nil {
			return nil, err
		}
		return eq == (n.op == opEQ), nil
	}
	l, ok := left.(float64)
	if !ok {
		return nil, nil
	}
	r, ok := right.(float64)
	if !ok {
		return nil, nil
	}
	switch n.op {
	case opLT:
		return l < r, nil
	case opLTE:
		return l <= r, nil
	case opGT:
		return l > r, nil
	default:
		return l >= r, nil
	}
}

// equal is the equality of JMESPath values, as go-jmespath has it
// (reflect.DeepEqual): the same type and the same content; numbers by ==
// (so NaN differs from itself, except inside the very same list or object).
func (e *evaluator) equal(a, b any, depth int) (bool, error) {
	if err := e.step(1); err != nil {
		return false, err
	}
	if depth > maxDataDepth {
		return false, &LimitError{Limit: LimitDataDepth, Max: maxDataDepth}
	}
	switch x := a.(type) {
	case nil:
		return b == nil, nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y, nil
	case float64:
		y, ok := b.(float64)
		return ok && x == y, nil
	case string:
		y, ok := b.(string)
		if ok && len(x) == len(y) {
			if err := e.scan(len(x)); err != nil {
				return false, err
			}
		}
		return ok && x == y, nil
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false, nil
		}
		if len(x) == 0 || &x[0] == &y[0] {
			return true, nil
		}
		for i := range x {
			if eq, err := e.equal(x[i], y[i], depth+1); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false, nil
		}
		if sameMap(x, y) {
			return true, nil
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok {
				return false, nil
			}
			if eq, err := e.equal(xv, yv, depth+1); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	case expref:
		y, ok := b.(expref)
		if !ok {
			return false, nil
		}
		return e.nodeEqual(x.n, y.n)
	}
	return false, evalErrorf("unsupported value in JMESPath data")
}

// sortedKeys returns the keys of m in sorted order (the order in which this
// package visits an object).
func (e *evaluator) sortedKeys(m map[string]any) ([]string, error) {
	if err := e.alloc(listBytes + len(m)*strBytes); err != nil {
		return nil, err
	}
	if err := e.sortSteps(len(m)); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// sameMap reports whether a and b are the very same map.
func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
