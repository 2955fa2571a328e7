package spc

import (
	"fmt"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// The bounds of secrets/limits.go as they apply to a class. Each check records
// a problem naming the field and the cap, with reason.LimitExceeded, and
// reports whether the input is within the bound.

// classBytes is the size of a class's parameters: every key and value.
func classBytes(params map[string]string) int {
	n := 0
	for k, v := range params {
		n += len(k) + len(v)
	}
	return n
}

// checkClassSize bounds the parameters together (secrets.MaxClassBytes). It
// runs before anything is decoded: a class over the bound is not parsed.
func checkClassSize(c *collector, params map[string]string) bool {
	n := classBytes(params)
	if n <= secrets.MaxClassBytes {
		return true
	}
	big, bigLen := "", -1
	for k, v := range params {
		if len(k)+len(v) > bigLen || (len(k)+len(v) == bigLen && k < big) {
			big, bigLen = k, len(k)+len(v)
		}
	}
	c.limit(-1, "", "parameters", fmt.Sprintf("split the class: at most %d bytes of parameters (the largest is %s, %d bytes)", secrets.MaxClassBytes, fieldKey(big), bigLen),
		"the parameters are %d bytes together, at most %d allowed", n, secrets.MaxClassBytes)
	return false
}

// checkObjectCount bounds the objects list (secrets.MaxObjects).
func checkObjectCount(c *collector, n int) bool {
	if n <= secrets.MaxObjects {
		return true
	}
	c.limit(-1, "", "parameters.objects", fmt.Sprintf("split the objects over several classes of at most %d objects each", secrets.MaxObjects),
		"%d objects, at most %d allowed", n, secrets.MaxObjects)
	return false
}

// checkObjectName bounds an objectName (secrets.MaxObjectNameBytes).
func checkObjectName(c *collector, i int, field, name string) bool {
	if len(name) <= secrets.MaxObjectNameBytes {
		return true
	}
	c.limit(i, "", field, fmt.Sprintf("use the secret's or parameter's name or ARN, at most %d bytes", secrets.MaxObjectNameBytes),
		"%s is over the bound of %d bytes", secrets.Quote(name), secrets.MaxObjectNameBytes)
	return false
}

// checkExpression bounds a JMESPath expression (secrets.MaxExpressionBytes).
func checkExpression(c *collector, i int, name, field, expr string) bool {
	if len(expr) <= secrets.MaxExpressionBytes {
		return true
	}
	c.limit(i, name, field, fmt.Sprintf("use an expression of at most %d bytes", secrets.MaxExpressionBytes),
		"the expression is %d bytes long, at most %d allowed", len(expr), secrets.MaxExpressionBytes)
	return false
}

// countFile counts one more fixed file (an object's file or a jmesPath
// entry's) against secrets.MaxFiles; the first one over records the problem,
// and false tells the caller to stop planning files.
func (p *parser) countFile(i int, name, field string) bool {
	p.files++
	if p.files <= secrets.MaxFiles {
		return true
	}
	if p.files == secrets.MaxFiles+1 {
		p.c.limit(i, name, field, fmt.Sprintf("split the class: at most %d files (objects and jmesPath entries together)", secrets.MaxFiles),
			"the class plans more than %d files", secrets.MaxFiles)
	}
	return false
}
