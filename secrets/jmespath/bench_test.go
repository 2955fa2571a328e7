package jmespath

import (
	"fmt"
	"strings"
	"testing"

	gojmespath "github.com/jmespath/go-jmespath"
)

// benchDoc is a 1 KB secret.
func benchDoc(b *testing.B) any {
	var s strings.Builder
	s.WriteString(`{"username":"admin","password":"s3cr3t-p4ss","a":{"b":{"c":"deep"}},"items":[`)
	for i := range 8 {
		if i > 0 {
			s.WriteByte(',')
		}
		fmt.Fprintf(&s, `{"name":"item-%d","port":%d}`, i, 5000+i)
	}
	s.WriteString(`]`)
	for i := 0; s.Len() < 1000; i++ {
		fmt.Fprintf(&s, `,"key%02d":"value-%02d"`, i, i)
	}
	s.WriteString(`}`)
	return decode(b, s.String())
}

// BenchmarkSearch compares our Search with go-jmespath's for typical
// expressions on a 1 KB secret.
func BenchmarkSearch(b *testing.B) {
	data := benchDoc(b)
	for _, expr := range []string{"username", "a.b.c", "keys(@)", "items[*].name", "items[?port > `5003`].name | [0]"} {
		ours, err := Compile(expr)
		if err != nil {
			b.Fatal(err)
		}
		theirs, err := gojmespath.Compile(expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("ours/"+expr, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ours.Search(data, Budget{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("go-jmespath/"+expr, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := theirs.Search(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompile compares compiling (parse and, for us, the tree's
// conversion and checks).
func BenchmarkCompile(b *testing.B) {
	const expr = "items[?port > `5003`].name | [0]"
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Compile(expr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-jmespath", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := gojmespath.Compile(expr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
