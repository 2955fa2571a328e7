package jmespath

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestCompliance runs the JMESPath compliance suite shipped with go-jmespath:
// every case gives what go-jmespath gives (or a documented divergence); every
// case the suite says must fail fails; every result the suite gives, we give.
func TestCompliance(t *testing.T) {
	cases := complianceCases(t)
	counts := map[verdict]int{}
	for _, c := range cases {
		doc := string(c.given)
		v := differential(t, c.expr, doc)
		counts[v]++
		if v == compileOnly && !c.isError {
			t.Errorf("%s %q: rejected at compile, the suite expects a result", c.file, c.expr)
		}
		x, err := Compile(c.expr)
		if err == nil {
			var res any
			res, err = x.Search(decode(t, doc), Budget{})
			if err == nil && !c.isError {
				var want any
				if uerr := json.Unmarshal(c.result, &want); uerr != nil {
					t.Fatal(uerr)
				}
				if !reflect.DeepEqual(unordered(normalize(want)), unordered(normalize(res))) {
					t.Errorf("%s %q: %s, the suite expects %s", c.file, c.expr, show(res), c.result)
				}
			}
		}
		if c.isError && err == nil {
			t.Errorf("%s %q: no error, the suite expects one", c.file, c.expr)
		}
		if !c.isError && err != nil {
			t.Errorf("%s %q: %v, the suite expects %s", c.file, c.expr, err, c.result)
		}
	}
	t.Logf("%d cases: %d same, %d both fail, %d same up to object order, %d go-jmespath panics, %d rejected at compile, %d null-padded projections",
		len(cases), counts[same], counts[bothFail], counts[sameUnordered], counts[goPanicked], counts[compileOnly], counts[padded])
	if len(cases) < 800 || counts[same]+counts[bothFail] < len(cases)-10 {
		t.Fatalf("only %d of %d cases compare exactly", counts[same]+counts[bothFail], len(cases))
	}
}
