package spc

import (
	"fmt"
	"reflect"

	"github.com/jmespath/go-jmespath"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// resultKind is what a JMESPath expression can evaluate to, as far as its shape tells.
type resultKind int

const (
	kindAny resultKind = iota // unknown: may be a string
	kindString
	kindNumber
	kindBool
	kindNull
	kindArray
	kindObject
	kindNonString // a mix of the non-string kinds above
)

func (k resultKind) canBeString() bool { return k == kindAny || k == kindString }

func (k resultKind) describe() string {
	switch k {
	case kindNumber:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindNull:
		return "null"
	case kindArray:
		return "a list"
	case kindObject:
		return "an object"
	default:
		return "a value that is not a string"
	}
}

// functionKinds are the result kinds of the JMESPath built-in functions whose
// result is known from the name alone. max, min, max_by, min_by, reverse and
// not_null may return a string and are left out (kindAny).
var functionKinds = map[string]resultKind{
	"length": kindNumber, "abs": kindNumber, "avg": kindNumber, "ceil": kindNumber, "floor": kindNumber,
	"sum": kindNumber, "to_number": kindNumber,
	"starts_with": kindBool, "ends_with": kindBool, "contains": kindBool,
	"keys": kindArray, "values": kindArray, "sort": kindArray, "sort_by": kindArray, "map": kindArray,
	"to_array": kindArray,
	"merge":    kindObject,
	"join":     kindString, "to_string": kindString, "type": kindString,
}

// warnJMESPath adds a warning for every jmesPath entry whose expression can never
// yield a string (e.g. length(...), keys(@), a multiselect list or hash, a number or
// boolean literal, a comparison), unless the entry opts in with allowNonString:
// extraction would fail on every fetch.
func warnJMESPath(c *collector, s *Spec) {
	for i := range s.Objects {
		o := &s.Objects[i]
		for k, e := range o.JMESPath {
			if e.AllowNonString || e.Path == "" {
				continue
			}
			kind := expressionKind(e.Path)
			if kind.canBeString() {
				continue
			}
			c.warnf(o.Index, o.Name, fmt.Sprintf("objects[%d].jmesPath[%d].path", o.Index, k),
				"select a string field, wrap the expression in to_string(...), or set allowNonString: true to write it as JSON text",
				"%s always yields %s, never a string: extraction will fail", secrets.Quote(e.Path), kind.describe())
		}
	}
}

// expressionKind classifies what the JMESPath expression can evaluate to from its
// syntax tree alone. It returns kindAny when the expression does not parse or its
// result may be a string.
//
// go-jmespath keeps the fields of its ASTNode unexported, so the tree is read with
// reflect (read-only). Should a future version change the node's layout, every
// expression classifies as kindAny: the warning disappears but nothing breaks (the
// tests in warnings_test.go notice).
func expressionKind(expr string) resultKind {
	node, err := jmespath.NewParser().Parse(expr)
	if err != nil {
		return kindAny
	}
	return kindOfNode(reflect.ValueOf(node), 0)
}

// maxDepth bounds the walk; deeper trees classify as kindAny.
const maxDepth = 200

func kindOfNode(n reflect.Value, depth int) resultKind {
	if depth > maxDepth || n.Kind() != reflect.Struct {
		return kindAny
	}
	typ := n.FieldByName("nodeType")
	children := n.FieldByName("children")
	value := n.FieldByName("value")
	if !typ.IsValid() || typ.Kind() != reflect.Int || !children.IsValid() || children.Kind() != reflect.Slice ||
		!value.IsValid() || value.Kind() != reflect.Interface {
		return kindAny
	}
	child := func(i int) resultKind {
		if i >= children.Len() {
			return kindAny
		}
		return kindOfNode(children.Index(i), depth+1)
	}
	switch typ.Int() {
	case int64(jmespath.ASTLiteral):
		return literalKind(value)
	case int64(jmespath.ASTComparator), int64(jmespath.ASTNotExpression):
		return kindBool
	case int64(jmespath.ASTMultiSelectList), int64(jmespath.ASTProjection), int64(jmespath.ASTValueProjection),
		int64(jmespath.ASTFilterProjection), int64(jmespath.ASTFlatten), int64(jmespath.ASTSlice):
		return kindArray
	case int64(jmespath.ASTMultiSelectHash):
		return kindObject
	case int64(jmespath.ASTSubexpression), int64(jmespath.ASTPipe), int64(jmespath.ASTIndexExpression):
		// The right-hand side decides the result (or null when the left is null).
		return child(1)
	case int64(jmespath.ASTOrExpression), int64(jmespath.ASTAndExpression):
		return union(child(0), child(1))
	case int64(jmespath.ASTFunctionExpression):
		if value.IsNil() || value.Elem().Kind() != reflect.String {
			return kindAny
		}
		if k, ok := functionKinds[value.Elem().String()]; ok {
			return k
		}
		return kindAny
	default:
		// Fields, indexes, @, and anything new: may be a string.
		return kindAny
	}
}

func literalKind(v reflect.Value) resultKind {
	if v.IsNil() {
		return kindNull
	}
	switch v.Elem().Kind() {
	case reflect.String:
		return kindString
	case reflect.Float64, reflect.Int, reflect.Int64:
		return kindNumber
	case reflect.Bool:
		return kindBool
	case reflect.Slice:
		return kindArray
	case reflect.Map:
		return kindObject
	default:
		return kindAny
	}
}

// union is the kind of "a || b" or "a && b": either operand.
func union(a, b resultKind) resultKind {
	switch {
	case a == b:
		return a
	case a.canBeString() || b.canBeString():
		return kindAny
	default:
		return kindNonString
	}
}
