package jmespath

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// fnID names a built-in function.
type fnID uint8

const (
	fnAbs fnID = iota + 1
	fnAvg
	fnCeil
	fnContains
	fnEndsWith
	fnFloor
	fnJoin
	fnKeys
	fnLength
	fnMap
	fnMax
	fnMaxBy
	fnMerge
	fnMin
	fnMinBy
	fnNotNull
	fnReverse
	fnSort
	fnSortBy
	fnStartsWith
	fnSum
	fnToArray
	fnToNumber
	fnToString
	fnType
	fnValues
)

// fnSpec is a built-in function's identity and arity (the least number of
// arguments when variadic).
type fnSpec struct {
	id       fnID
	arity    int
	variadic bool
}

// functions are the built-in functions of go-jmespath v0.4.0, all of them.
var functions = map[string]fnSpec{
	"abs":         {fnAbs, 1, false},
	"avg":         {fnAvg, 1, false},
	"ceil":        {fnCeil, 1, false},
	"contains":    {fnContains, 2, false},
	"ends_with":   {fnEndsWith, 2, false},
	"floor":       {fnFloor, 1, false},
	"join":        {fnJoin, 2, false},
	"keys":        {fnKeys, 1, false},
	"length":      {fnLength, 1, false},
	"map":         {fnMap, 2, false},
	"max":         {fnMax, 1, false},
	"max_by":      {fnMaxBy, 2, false},
	"merge":       {fnMerge, 1, true},
	"min":         {fnMin, 1, false},
	"min_by":      {fnMinBy, 2, false},
	"not_null":    {fnNotNull, 1, true},
	"reverse":     {fnReverse, 1, false},
	"sort":        {fnSort, 1, false},
	"sort_by":     {fnSortBy, 2, false},
	"starts_with": {fnStartsWith, 2, false},
	"sum":         {fnSum, 1, false},
	"to_array":    {fnToArray, 1, false},
	"to_number":   {fnToNumber, 1, false},
	"to_string":   {fnToString, 1, false},
	"type":        {fnType, 1, false},
	"values":      {fnValues, 1, false},
}

// Type names of argument errors.
const (
	tNumber  = "number"
	tString  = "string"
	tArray   = "array"
	tObject  = "object"
	tExpref  = "expression reference (&...)"
	tNumbers = "array of numbers"
	tStrings = "array of strings"
)

// typeName is the JMESPath type of v, for messages and type().
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return tNumber
	case string:
		return tString
	case []any:
		return tArray
	case map[string]any:
		return tObject
	case expref:
		return "expref"
	}
	return "unknown"
}

func typeError(n *node, arg int, got any, want string) error {
	return evalErrorf("function %s(): argument %d has the wrong type: %s, expected %s", n.name, arg+1, typeName(got), want)
}

// call evaluates a function: every argument first, in order (as go-jmespath
// does, so an argument's error wins over a type error), then the function.
func (e *evaluator) call(n *node, v any) (any, error) {
	if n.fn == fnMerge || n.fn == fnNotNull {
		args, err := e.newList(len(n.kids))
		if err != nil {
			return nil, err
		}
		for _, k := range n.kids {
			x, err := e.eval(k, v)
			if err != nil {
				return nil, err
			}
			args = append(args, x)
		}
		if n.fn == fnMerge {
			return e.merge(n, args)
		}
		for _, a := range args {
			if a != nil {
				return a, nil
			}
		}
		return nil, nil
	}
	var a [2]any
	for i, k := range n.kids {
		x, err := e.eval(k, v)
		if err != nil {
			return nil, err
		}
		a[i] = x
	}
	a0, a1 := a[0], a[1]
	switch n.fn {
	case fnAbs, fnCeil, fnFloor:
		x, ok := a0.(float64)
		if !ok {
			return nil, typeError(n, 0, a0, tNumber)
		}
		switch n.fn {
		case fnAbs:
			return e.num(math.Abs(x))
		case fnCeil:
			return e.num(math.Ceil(x))
		}
		return e.num(math.Floor(x))
	case fnAvg, fnSum:
		list, ok, err := e.allOf(a0, tNumber)
		if err != nil || !ok {
			return nil, orTypeError(err, n, 0, a0, tNumbers)
		}
		sum := 0.0
		for _, x := range list {
			sum += x.(float64)
		}
		if n.fn == fnAvg {
			sum /= float64(len(list))
		}
		return e.num(sum)
	case fnContains:
		return e.contains(n, a0, a1)
	case fnStartsWith, fnEndsWith:
		s, ok := a0.(string)
		if !ok {
			return nil, typeError(n, 0, a0, tString)
		}
		affix, ok := a1.(string)
		if !ok {
			return nil, typeError(n, 1, a1, tString)
		}
		if err := e.scan(len(affix)); err != nil {
			return nil, err
		}
		if n.fn == fnStartsWith {
			return strings.HasPrefix(s, affix), nil
		}
		return strings.HasSuffix(s, affix), nil
	case fnJoin:
		return e.join(n, a0, a1)
	case fnKeys, fnValues:
		m, ok := a0.(map[string]any)
		if !ok {
			return nil, typeError(n, 0, a0, tObject)
		}
		return e.keysOrValues(m, n.fn == fnKeys)
	case fnLength:
		switch x := a0.(type) {
		case string:
			if err := e.scan(len(x)); err != nil {
				return nil, err
			}
			return e.num(float64(utf8.RuneCountInString(x)))
		case []any:
			return e.num(float64(len(x)))
		case map[string]any:
			return e.num(float64(len(x)))
		}
		return nil, typeError(n, 0, a0, "string, array or object")
	case fnMap:
		return e.mapExpr(n, a0, a1)
	case fnMax, fnMin:
		return e.extreme(n, a0)
	case fnMaxBy, fnMinBy:
		return e.extremeBy(n, a0, a1)
	case fnReverse:
		return e.reverse(n, a0)
	case fnSort:
		return e.sort(n, a0)
	case fnSortBy:
		return e.sortBy(n, a0, a1)
	case fnToArray:
		if _, ok := a0.([]any); ok {
			return a0, nil
		}
		out, err := e.newList(1)
		if err != nil {
			return nil, err
		}
		return append(out, a0), nil
	case fnToNumber:
		switch x := a0.(type) {
		case float64:
			return a0, nil
		case string:
			if err := e.scan(len(x)); err != nil {
				return nil, err
			}
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil, nil
			}
			return e.num(f)
		case nil, bool, []any, map[string]any:
			return nil, nil
		}
		return nil, evalErrorf("function to_number(): argument 1 has the wrong type: %s", typeName(a0))
	case fnToString:
		if _, ok := a0.(string); ok {
			return a0, nil
		}
		return e.toJSON(a0)
	case fnType:
		t := typeName(a0)
		if t == "expref" || t == "unknown" {
			return nil, evalErrorf("function type(): argument 1 has the wrong type: %s", t)
		}
		return t, nil
	}
	return nil, evalErrorf("unknown function %s()", n.name)
}

// orTypeError is err if set, else the type error.
func orTypeError(err error, n *node, arg int, got any, want string) error {
	if err != nil {
		return err
	}
	return typeError(n, arg, got, want)
}

// allOf reports whether v is a list whose elements are all of JMESPath type t
// (number or string); an empty list is both.
func (e *evaluator) allOf(v any, t string) ([]any, bool, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, false, nil
	}
	if err := e.step(len(list)); err != nil {
		return nil, false, err
	}
	for _, x := range list {
		switch x.(type) {
		case float64:
			if t != tNumber {
				return nil, false, nil
			}
		case string:
			if t != tString {
				return nil, false, nil
			}
		default:
			return nil, false, nil
		}
	}
	return list, true, nil
}

func (e *evaluator) contains(n *node, a0, a1 any) (any, error) {
	switch subject := a0.(type) {
	case string:
		s, ok := a1.(string)
		if !ok {
			return false, nil
		}
		if err := e.scan(len(subject) + len(s)); err != nil {
			return nil, err
		}
		return strings.Contains(subject, s), nil
	case []any:
		if err := e.step(len(subject)); err != nil {
			return nil, err
		}
		for _, x := range subject {
			eq, err := e.equal(x, a1, 0)
			if err != nil {
				return nil, err
			}
			if eq {
				return true, nil
			}
		}
		return false, nil
	}
	return nil, typeError(n, 0, a0, "array or string")
}

func (e *evaluator) join(n *node, a0, a1 any) (any, error) {
	sep, ok := a0.(string)
	if !ok {
		return nil, typeError(n, 0, a0, tString)
	}
	list, ok, err := e.allOf(a1, tString)
	if err != nil || !ok {
		return nil, orTypeError(err, n, 1, a1, tStrings)
	}
	// 1. The length, checked against the budget before anything is built.
	size := 0
	for i, x := range list {
		if i > 0 {
			size += len(sep)
		}
		size += len(x.(string))
		if size > e.maxBytes {
			return nil, e.overBytes()
		}
	}
	if err := e.alloc(strBytes + size); err != nil {
		return nil, err
	}
	if err := e.scan(size); err != nil {
		return nil, err
	}
	// 2. One allocation of exactly that length.
	var b strings.Builder
	b.Grow(size)
	for i, x := range list {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(x.(string))
	}
	return b.String(), nil
}

func (e *evaluator) keysOrValues(m map[string]any, keys bool) (any, error) {
	names, err := e.sortedKeys(m)
	if err != nil {
		return nil, err
	}
	out, err := e.newList(len(names))
	if err != nil {
		return nil, err
	}
	if keys {
		// Each key boxed in an interface takes a string header.
		if err := e.alloc(len(names) * strBytes); err != nil {
			return nil, err
		}
	}
	for _, k := range names {
		if keys {
			out = append(out, k)
		} else {
			out = append(out, m[k])
		}
	}
	return out, nil
}

func (e *evaluator) mapExpr(n *node, a0, a1 any) (any, error) {
	ref, ok := a0.(expref)
	if !ok {
		return nil, typeError(n, 0, a0, tExpref)
	}
	list, ok := a1.([]any)
	if !ok {
		return nil, typeError(n, 1, a1, tArray)
	}
	if err := e.step(len(list)); err != nil {
		return nil, err
	}
	out, err := e.newList(len(list))
	if err != nil {
		return nil, err
	}
	for _, x := range list {
		r, err := e.eval(ref.n, x)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// extreme is max or min of numbers or of strings (null for an empty list).
func (e *evaluator) extreme(n *node, a0 any) (any, error) {
	list, ok, err := e.allOf(a0, tNumber)
	if err == nil && !ok {
		list, ok, err = e.allOf(a0, tString)
	}
	if err != nil || !ok {
		return nil, orTypeError(err, n, 0, a0, tNumbers+" or "+tStrings)
	}
	if len(list) == 0 {
		return nil, nil
	}
	max := n.fn == fnMax
	best := list[0]
	for _, x := range list[1:] {
		if better(x, best, max) {
			best = x
		}
	}
	return best, nil
}

// better reports whether x beats best (both numbers or both strings): greater
// for max, less for min.
func better(x, best any, max bool) bool {
	switch b := best.(type) {
	case float64:
		if max {
			return x.(float64) > b
		}
		return x.(float64) < b
	case string:
		if max {
			return x.(string) > b
		}
		return x.(string) < b
	}
	return false
}

// extremeBy is max_by or min_by: the element whose key (the expression's
// value for it) is greatest or least; keys must all be numbers or all strings.
func (e *evaluator) extremeBy(n *node, a0, a1 any) (any, error) {
	list, ok := a0.([]any)
	if !ok {
		return nil, typeError(n, 0, a0, tArray)
	}
	ref, ok := a1.(expref)
	if !ok {
		return nil, typeError(n, 1, a1, tExpref)
	}
	switch len(list) {
	case 0:
		return nil, nil
	case 1:
		return list[0], nil
	}
	bestKey, err := e.eval(ref.n, list[0])
	if err != nil {
		return nil, err
	}
	switch bestKey.(type) {
	case float64, string:
	default:
		return nil, evalErrorf("function %s(): the expression yields a %s for element 1, expected a number or a string", n.name, typeName(bestKey))
	}
	if err := e.step(len(list)); err != nil {
		return nil, err
	}
	max := n.fn == fnMaxBy
	best := list[0]
	for i, x := range list[1:] {
		k, err := e.eval(ref.n, x)
		if err != nil {
			return nil, err
		}
		if !sameType(k, bestKey) {
			return nil, evalErrorf("function %s(): the expression yields a %s for element %d, expected a %s like for element 1", n.name, typeName(k), i+2, typeName(bestKey))
		}
		if better(k, bestKey, max) {
			best, bestKey = x, k
		}
	}
	return best, nil
}

func sameType(a, b any) bool {
	switch b.(type) {
	case float64:
		_, ok := a.(float64)
		return ok
	case string:
		_, ok := a.(string)
		return ok
	}
	return false
}

func (e *evaluator) merge(n *node, args []any) (any, error) {
	total := 0
	for i, a := range args {
		m, ok := a.(map[string]any)
		if !ok {
			return nil, typeError(n, i, a, tObject)
		}
		total += len(m)
	}
	if err := e.step(total); err != nil {
		return nil, err
	}
	out, err := e.newMap(total)
	if err != nil {
		return nil, err
	}
	for _, a := range args {
		for k, v := range a.(map[string]any) {
			out[k] = v
		}
	}
	return out, nil
}

func (e *evaluator) reverse(n *node, a0 any) (any, error) {
	switch x := a0.(type) {
	case string:
		// As go-jmespath reverses the runes of the string, an invalid byte
		// becomes U+FFFD (3 bytes).
		if err := e.scan(len(x)); err != nil {
			return nil, err
		}
		size := 0
		for _, r := range x {
			size += utf8.RuneLen(r)
		}
		if err := e.alloc(strBytes + 2*size); err != nil {
			return nil, err
		}
		b := make([]byte, size)
		at := size
		for _, r := range x {
			at -= utf8.RuneLen(r)
			utf8.EncodeRune(b[at:], r)
		}
		return string(b), nil
	case []any:
		if err := e.step(len(x)); err != nil {
			return nil, err
		}
		out, err := e.newList(len(x))
		if err != nil {
			return nil, err
		}
		for i := len(x) - 1; i >= 0; i-- {
			out = append(out, x[i])
		}
		return out, nil
	}
	return nil, typeError(n, 0, a0, "array or string")
}

// numbers sorts numbers as sort.Float64Slice does: NaN first.
type numbers []any

func (s numbers) Len() int      { return len(s) }
func (s numbers) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s numbers) Less(i, j int) bool {
	a, b := s[i].(float64), s[j].(float64)
	return a < b || (math.IsNaN(a) && !math.IsNaN(b))
}

// texts sorts strings by their bytes.
type texts []any

func (s texts) Len() int           { return len(s) }
func (s texts) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
func (s texts) Less(i, j int) bool { return s[i].(string) < s[j].(string) }

func (e *evaluator) sort(n *node, a0 any) (any, error) {
	list, ok, err := e.allOf(a0, tString)
	isText := ok
	if err == nil && !ok {
		list, ok, err = e.allOf(a0, tNumber)
	}
	if err != nil || !ok {
		return nil, orTypeError(err, n, 0, a0, tStrings+" or "+tNumbers)
	}
	if err := e.sortSteps(len(list)); err != nil {
		return nil, err
	}
	out, err := e.newList(len(list))
	if err != nil {
		return nil, err
	}
	out = append(out, list...)
	if isText {
		sort.Stable(texts(out))
	} else {
		sort.Stable(numbers(out))
	}
	return out, nil
}

// byNumber and byText sort items by their keys, stably; the order for a
// NaN key is whatever sort.Stable makes of "<", as in go-jmespath.
type byNumber struct {
	items []any
	keys  []float64
}

func (s byNumber) Len() int           { return len(s.items) }
func (s byNumber) Less(i, j int) bool { return s.keys[i] < s.keys[j] }
func (s byNumber) Swap(i, j int) {
	s.items[i], s.items[j] = s.items[j], s.items[i]
	s.keys[i], s.keys[j] = s.keys[j], s.keys[i]
}

type byText struct {
	items []any
	keys  []string
}

func (s byText) Len() int           { return len(s.items) }
func (s byText) Less(i, j int) bool { return s.keys[i] < s.keys[j] }
func (s byText) Swap(i, j int) {
	s.items[i], s.items[j] = s.items[j], s.items[i]
	s.keys[i], s.keys[j] = s.keys[j], s.keys[i]
}

// sortBy sorts a copy of the list by each element's key; the keys must all
// be numbers or all strings.
func (e *evaluator) sortBy(n *node, a0, a1 any) (any, error) {
	list, ok := a0.([]any)
	if !ok {
		return nil, typeError(n, 0, a0, tArray)
	}
	ref, ok := a1.(expref)
	if !ok {
		return nil, typeError(n, 1, a1, tExpref)
	}
	if len(list) <= 1 {
		return list, nil
	}
	// 1. The key of every element, once each.
	first, err := e.eval(ref.n, list[0])
	if err != nil {
		return nil, err
	}
	var nums []float64
	var strs []string
	switch first.(type) {
	case float64:
		if err := e.alloc(listBytes + 8*len(list)); err != nil {
			return nil, err
		}
		nums = make([]float64, len(list))
	case string:
		if err := e.alloc(listBytes + strBytes*len(list)); err != nil {
			return nil, err
		}
		strs = make([]string, len(list))
	default:
		return nil, evalErrorf("function sort_by(): the expression yields a %s for element 1, expected a number or a string", typeName(first))
	}
	if err := e.step(len(list)); err != nil {
		return nil, err
	}
	for i, x := range list {
		k := first
		if i > 0 {
			if k, err = e.eval(ref.n, x); err != nil {
				return nil, err
			}
		}
		switch key := k.(type) {
		case float64:
			if nums != nil {
				nums[i] = key
				continue
			}
		case string:
			if strs != nil {
				strs[i] = key
				continue
			}
		}
		return nil, evalErrorf("function sort_by(): the expression yields a %s for element %d, expected a %s like for element 1", typeName(k), i+1, typeName(first))
	}
	// 2. A sorted copy (go-jmespath sorts the argument itself).
	if err := e.sortSteps(len(list)); err != nil {
		return nil, err
	}
	out, err := e.newList(len(list))
	if err != nil {
		return nil, err
	}
	out = append(out, list...)
	if nums != nil {
		sort.Stable(byNumber{out, nums})
	} else {
		sort.Stable(byText{out, strs})
	}
	return out, nil
}
