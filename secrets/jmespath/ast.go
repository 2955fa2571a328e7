package jmespath

// kind is the type of a node of a compiled expression. Each of go-jmespath's
// node types has its own kind (equal expression references compare their
// trees, so even node types that evaluate alike stay distinct).
type kind uint8

const (
	kField           kind = iota + 1 // name
	kSubexpr                         // kids: left, right
	kIndexExpr                       // kids: left, right (left[...])
	kIndex                           // index
	kSlice                           // slice
	kProjection                      // kids: left, right
	kValueProjection                 // kids: left, right (left.*)
	kFilter                          // kids: left, right, condition
	kFlatten                         // kids: operand
	kCompare                         // op; kids: left, right
	kPipe                            // kids: left, right
	kOr                              // kids: left, right
	kAnd                             // kids: left, right
	kNot                             // kids: operand
	kList                            // kids: elements ([a, b])
	kHash                            // keys; kids: values ({k: a})
	kLiteral                         // lit
	kCurrent                         // @
	kIdentity                        // the implicit right side of a projection
	kFunction                        // fn, name; kids: arguments
	kExpRef                          // kids: the referenced expression (&expr)
)

// cmpOp is the operator of a comparison.
type cmpOp uint8

const (
	opEQ cmpOp = iota + 1
	opNE
	opLT
	opLTE
	opGT
	opGTE
)

// sliceSpec is [start:stop:step]; has says which parts were written.
type sliceSpec struct {
	start, stop, step int
	has               [3]bool
}

// node is one node of a compiled expression; which fields are set depends on kind.
type node struct {
	kind  kind
	op    cmpOp
	fn    fnID
	name  string
	index int
	slice sliceSpec
	lit   any
	keys  []string
	kids  []*node
}

// expref is the value of an expression reference (&expr): the tree, to be
// evaluated by a function (map, sort_by, max_by, min_by) against each element.
type expref struct{ n *node }

// nodeEqual reports whether a and b are the same tree (the equality of two
// expression references), counting one step per node.
func (e *evaluator) nodeEqual(a, b *node) (bool, error) {
	if err := e.step(1); err != nil {
		return false, err
	}
	if a == b {
		return true, nil
	}
	if a.kind != b.kind || a.op != b.op || a.name != b.name || a.index != b.index || a.slice != b.slice ||
		len(a.keys) != len(b.keys) || len(a.kids) != len(b.kids) {
		return false, nil
	}
	for i := range a.keys {
		if a.keys[i] != b.keys[i] {
			return false, nil
		}
	}
	if a.kind == kLiteral {
		if eq, err := e.equal(a.lit, b.lit, 0); err != nil || !eq {
			return false, err
		}
	}
	for i := range a.kids {
		if eq, err := e.nodeEqual(a.kids[i], b.kids[i]); err != nil || !eq {
			return false, err
		}
	}
	return true, nil
}
