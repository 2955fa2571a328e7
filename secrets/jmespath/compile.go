package jmespath

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	gojmespath "github.com/jmespath/go-jmespath"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// Expression is a compiled JMESPath expression. It is immutable and safe for
// concurrent use.
type Expression struct {
	src  string
	root *node
}

// String returns the expression as written.
func (x *Expression) String() string { return x.src }

// Compile parses expr and checks that it can run: at most MaxExpressionBytes
// long, at most MaxNodes nodes nested at most MaxDepth deep (a *LimitError
// otherwise), only known functions with the right number of arguments, and
// no slice step of 0 (an *Error with reason InvalidClass otherwise). It is
// what a SecretProviderClass's validation calls for every jmesPath entry.
func Compile(expr string) (*Expression, error) {
	// 1. Bound the text before the parser sees it.
	if len(expr) > MaxExpressionBytes {
		return nil, &LimitError{Limit: LimitExpressionBytes, Max: MaxExpressionBytes}
	}
	// 2. Parse with go-jmespath, so the tree is the AWS provider's.
	ast, err := parse(expr)
	if err != nil {
		return nil, err
	}
	// 3. Convert its tree into ours, bounding it and resolving functions.
	l, err := layout()
	if err != nil {
		return nil, err
	}
	c := converter{l: l}
	root, err := c.convert(reflect.ValueOf(ast), 1)
	if err != nil {
		return nil, err
	}
	return &Expression{src: expr, root: root}, nil
}

// parse runs go-jmespath's parser, turning its panics into errors.
func parse(expr string) (ast gojmespath.ASTNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = compileErrorf(-1, "invalid JMESPath expression")
		}
	}()
	ast, err = gojmespath.NewParser().Parse(expr)
	if err == nil {
		return ast, nil
	}
	var se gojmespath.SyntaxError
	if errors.As(err, &se) {
		return ast, compileErrorf(se.Offset, "syntax error at offset %d: %s", se.Offset, strings.TrimPrefix(firstLine(se.Error()), "SyntaxError: "))
	}
	return ast, compileErrorf(-1, "invalid JMESPath expression: %s", firstLine(err.Error()))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// astLayout is where go-jmespath keeps the parts of its ASTNode. Its fields
// are unexported in v0.4.0, so they are read with reflect (reading only).
// Should a later version change the layout, Compile fails for every
// expression, and every test says so.
type astLayout struct {
	typ, value, children int
	// cmp maps go-jmespath's comparator tokens to ours (found by parsing one
	// expression per operator, not by hard-coding its private numbering).
	cmp map[int64]cmpOp
}

var layout = sync.OnceValues(func() (*astLayout, error) {
	bad := compileErrorf(-1, "unsupported version of github.com/jmespath/go-jmespath (its syntax tree changed)")
	t := reflect.TypeFor[gojmespath.ASTNode]()
	l := &astLayout{cmp: map[int64]cmpOp{}}
	for name, want := range map[string]reflect.Kind{"nodeType": reflect.Int, "value": reflect.Interface, "children": reflect.Slice} {
		f, ok := t.FieldByName(name)
		if !ok || f.Type.Kind() != want || len(f.Index) != 1 || (want == reflect.Slice && f.Type.Elem() != t) {
			return nil, bad
		}
		switch name {
		case "nodeType":
			l.typ = f.Index[0]
		case "value":
			l.value = f.Index[0]
		default:
			l.children = f.Index[0]
		}
	}
	for src, op := range map[string]cmpOp{"a==b": opEQ, "a!=b": opNE, "a<b": opLT, "a<=b": opLTE, "a>b": opGT, "a>=b": opGTE} {
		ast, err := gojmespath.NewParser().Parse(src)
		if err != nil {
			return nil, bad
		}
		v := reflect.ValueOf(ast)
		val := v.Field(l.value)
		if v.Field(l.typ).Int() != int64(gojmespath.ASTComparator) || val.IsNil() || val.Elem().Kind() != reflect.Int {
			return nil, bad
		}
		l.cmp[val.Elem().Int()] = op
	}
	if len(l.cmp) != 6 {
		return nil, bad
	}
	return l, nil
})

// converter turns a go-jmespath tree into ours, counting nodes.
type converter struct {
	l     *astLayout
	nodes int
}

func (c *converter) convert(v reflect.Value, depth int) (*node, error) {
	if depth > MaxDepth {
		return nil, &LimitError{Limit: LimitDepth, Max: MaxDepth}
	}
	if c.nodes++; c.nodes > MaxNodes {
		return nil, &LimitError{Limit: LimitNodes, Max: MaxNodes}
	}
	typ := v.Field(c.l.typ).Int()
	val := v.Field(c.l.value)
	kidsV := v.Field(c.l.children)
	kids := func(want int) ([]*node, error) {
		if want >= 0 && kidsV.Len() != want {
			return nil, compileErrorf(-1, "unexpected JMESPath syntax tree")
		}
		out := make([]*node, kidsV.Len())
		for i := range out {
			k, err := c.convert(kidsV.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = k
		}
		return out, nil
	}
	binary := func(k kind) (*node, error) {
		ks, err := kids(2)
		return &node{kind: k, kids: ks}, err
	}

	switch typ {
	case int64(gojmespath.ASTField):
		name, ok := stringValue(val)
		if !ok {
			return nil, compileErrorf(-1, "unexpected JMESPath syntax tree")
		}
		return &node{kind: kField, name: name}, nil
	case int64(gojmespath.ASTSubexpression):
		return binary(kSubexpr)
	case int64(gojmespath.ASTIndexExpression):
		return binary(kIndexExpr)
	case int64(gojmespath.ASTIndex):
		if val.IsNil() || val.Elem().Kind() != reflect.Int {
			return nil, compileErrorf(-1, "unexpected JMESPath syntax tree")
		}
		return &node{kind: kIndex, index: int(val.Elem().Int())}, nil
	case int64(gojmespath.ASTSlice):
		return sliceNode(val)
	case int64(gojmespath.ASTProjection):
		return binary(kProjection)
	case int64(gojmespath.ASTValueProjection):
		return binary(kValueProjection)
	case int64(gojmespath.ASTFilterProjection):
		ks, err := kids(3)
		return &node{kind: kFilter, kids: ks}, err
	case int64(gojmespath.ASTFlatten):
		ks, err := kids(1)
		return &node{kind: kFlatten, kids: ks}, err
	case int64(gojmespath.ASTComparator):
		if val.IsNil() || val.Elem().Kind() != reflect.Int {
			return nil, compileErrorf(-1, "unexpected JMESPath syntax tree")
		}
		op, ok := c.l.cmp[val.Elem().Int()]
		if !ok {
			return nil, compileErrorf(-1, "unexpected JMESPath syntax tree")
		}
		n, err := binary(kCompare)
		n.op = op
		return n, err
	case int64(gojmespath.ASTPipe):
		return binary(kPipe)
	case int64(gojmespath.ASTOrExpression):
		return binary(kOr)
	case int64(gojmespath.ASTAndExpression):
		return binary(kAnd)
	case int64(gojmespath.ASTNotExpression):
		ks, err := kids(1)
		return &node{kind: kNot, kids: ks}, err
	case int64(gojmespath.ASTMultiSelectList):
		ks, err := kids(-1)
		return &node{kind: kList, kids: ks}, err
	case int64(gojmespath.ASTMultiSelectHash):
		return c.hashNode(kidsV, depth)
	case int64(gojmespath.ASTLiteral):
		lit, err := literalValue(val, 0)
		return &node{kind: kLiteral, lit: lit}, err
	case int64(gojmespath.ASTCurrentNode):
		return &node{kind: kCurrent}, nil
	case int64(gojmespath.ASTIdentity):
		return &node{kind: kIdentity}, nil
	case int64(gojmespath.ASTFunctionExpression):
		return c.functionNode(val, kids)
	case int64(gojmespath.ASTExpRef):
		ks, err := kids(1)
		return &node{kind: kExpRef, kids: ks}, err
	case int64(gojmespath.ASTEmpty):
		// The parser leaves an empty node for some malformed brackets ("[[0.a]").
		return nil, compileErrorf(-1, "invalid JMESPath expression (a malformed index or slice)")
	}
	return nil, compileErrorf(-1, "unexpected JMESPath syntax tree")
}

func (c *converter) hashNode(kidsV reflect.Value, depth int) (*node, error) {
	n := &node{kind: kHash, keys: make([]string, kidsV.Len()), kids: make([]*node, kidsV.Len())}
	for i := range n.kids {
		pair := kidsV.Index(i)
		key, ok := stringValue(pair.Field(c.l.value))
		pairKids := pair.Field(c.l.children)
		if pair.Field(c.l.typ).Int() != int64(gojmespath.ASTKeyValPair) || !ok || pairKids.Len() != 1 {
			return nil, compileErrorf(-1, "unexpected JMESPath syntax tree")
		}
		if c.nodes++; c.nodes > MaxNodes {
			return nil, &LimitError{Limit: LimitNodes, Max: MaxNodes}
		}
		v, err := c.convert(pairKids.Index(0), depth+2)
		if err != nil {
			return nil, err
		}
		n.keys[i], n.kids[i] = key, v
	}
	return n, nil
}

func (c *converter) functionNode(val reflect.Value, kids func(int) ([]*node, error)) (*node, error) {
	name, ok := stringValue(val)
	if !ok {
		return nil, compileErrorf(-1, "invalid JMESPath expression: only a name can be called as a function")
	}
	f, ok := functions[name]
	if !ok {
		return nil, compileErrorf(-1, "unknown JMESPath function %s", secrets.Quote(name+"()"))
	}
	args, err := kids(-1)
	if err != nil {
		return nil, err
	}
	switch {
	case f.variadic && len(args) < f.arity:
		return nil, compileErrorf(-1, "function %s() takes at least %d argument(s), not %d", name, f.arity, len(args))
	case !f.variadic && len(args) != f.arity:
		return nil, compileErrorf(-1, "function %s() takes %d argument(s), not %d", name, f.arity, len(args))
	}
	return &node{kind: kFunction, fn: f.id, name: name, kids: args}, nil
}

func sliceNode(val reflect.Value) (*node, error) {
	if val.IsNil() || val.Elem().Kind() != reflect.Slice || val.Elem().Len() != 3 {
		return nil, compileErrorf(-1, "unexpected JMESPath syntax tree")
	}
	parts := val.Elem()
	n := &node{kind: kSlice}
	vals := [3]*int{&n.slice.start, &n.slice.stop, &n.slice.step}
	for i := range 3 {
		p := parts.Index(i)
		if p.Kind() != reflect.Pointer || (!p.IsNil() && p.Elem().Kind() != reflect.Int) {
			return nil, compileErrorf(-1, "unexpected JMESPath syntax tree")
		}
		if !p.IsNil() {
			n.slice.has[i] = true
			*vals[i] = int(p.Elem().Int())
		}
	}
	if n.slice.has[2] && n.slice.step == 0 {
		return nil, compileErrorf(-1, "invalid JMESPath slice: the step cannot be 0")
	}
	return n, nil
}

func stringValue(v reflect.Value) (string, bool) {
	if v.Kind() != reflect.Interface || v.IsNil() || v.Elem().Kind() != reflect.String {
		return "", false
	}
	return v.Elem().String(), true
}

// literalValue copies a literal of the tree (what encoding/json decoded from
// the expression's `...` or '...' text) into a value of our own.
func literalValue(v reflect.Value, depth int) (any, error) {
	if depth > maxDataDepth {
		return nil, &LimitError{Limit: LimitDataDepth, Max: maxDataDepth}
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return literalValue(v.Elem(), depth)
	case reflect.String:
		return v.String(), nil
	case reflect.Float64:
		return v.Float(), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			x, err := literalValue(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			break
		}
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			x, err := literalValue(it.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = x
		}
		return out, nil
	}
	return nil, compileErrorf(-1, "unexpected JMESPath literal of kind %s", fmt.Sprint(v.Kind()))
}
