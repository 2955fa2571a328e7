package jmespath

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// secretDoc is a JSON object of about size bytes: string fields, a list of
// numbers and a list of records, like a large secret.
func secretDoc(size int) string {
	var b strings.Builder
	b.WriteString(`{"username":"admin","password":"hunter2hunter2","list":[`)
	for i := 0; b.Len() < size/4; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", i%97)
	}
	b.WriteString(`],"items":[`)
	for i := 0; b.Len() < size/2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"n%d","v":%d}`, i, i%13)
	}
	b.WriteString(`]`)
	for i := 0; b.Len() < size-40; i++ {
		fmt.Fprintf(&b, `,"key%04d":"value-%04d"`, i, i)
	}
	b.WriteString(`}`)
	if !json.Valid([]byte(b.String())) {
		panic("bad document")
	}
	return b.String()
}

func repeat(part string, n int, sep string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = part
	}
	return strings.Join(parts, sep)
}

// attacks are expressions whose result or work doubles at each step: with
// go-jmespath each ends in an out-of-memory crash or runs for minutes.
var attacks = map[string]string{
	"list doubling":        repeat("[@, @]", 30, " | "),
	"hash doubling":        repeat("{a: @, b: @}", 30, " | "),
	"list doubling, wide":  repeat("[@, @, @, @, @, @, @, @]", 12, " | "),
	"to_string of doubled": repeat("[@, @]", 24, " | ") + " | to_string(@)",
	"join of doubled":      "to_string(@) | " + repeat("[@, @] | join('', @)", 24, " | "),
	"flatten of doubled":   "list | " + repeat("[@, @][]", 24, " | "),
	"projection doubled":   repeat("[@, @]", 16, " | ") + " | " + repeat("[*]", 16, ""),
	"sort_by of doubled":   "list | " + repeat("[@, @][]", 20, " | ") + " | sort_by(@, &to_string(@))",
	"sort of doubled":      "list | " + repeat("[@, @][]", 20, " | ") + " | sort(@)",
	"merge of many":        "merge(" + repeat("@", 900, ", ") + ")",
	"keys of merged":       "keys(merge(" + repeat("@", 900, ", ") + "))",
	"equality of doubled":  "(" + repeat("[@, @]", 30, " | ") + ") == (" + repeat("[@, @]", 30, " | ") + ")",
	"contains of doubled":  "list | " + repeat("[@, @][]", 20, " | ") + " | contains(@, 'x')",
	"map of doubled":       "list | " + repeat("map(&[@, @], @)[]", 24, " | "),
	"nested filters":       "list | " + repeat("[?@ == @ || @ != @]", 40, " | ") + " | " + repeat("[@, @][]", 20, " | "),
	"deep data":            repeat("[@]", 60, " | ") + " | " + repeat("[@, @]", 20, " | ") + " | to_string(@)",
	"values doubling":      repeat("values({a: @, b: @, c: @})", 30, " | "),
	"reverse doubled":      "list | " + repeat("reverse([@, @][])", 20, " | "),
	"length of projection": "length(" + repeat("[@, @]", 12, " | ") + " | [*][*][*][*][*][*][*][*][*][*][*][*].items[*].name)",
}

// TestBudgetAttacks runs every attack over a 1 KB and a 64 KiB secret: each
// fails with a *LimitError (reason LimitExceeded), and the process allocates
// only a small multiple of the byte budget on the way.
func TestBudgetAttacks(t *testing.T) {
	for _, size := range []int{1 << 10, secrets.MaxValueBytes} {
		doc := secretDoc(size)
		for name, expr := range attacks {
			t.Run(fmt.Sprintf("%s/%dB", name, size), func(t *testing.T) {
				x, err := Compile(expr)
				if err != nil {
					t.Fatalf("compile %d bytes: %v", len(expr), err)
				}
				data := decode(t, doc)
				b := DefaultBudget()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				res, err := x.Search(data, b)
				took := time.Since(start)
				runtime.ReadMemStats(&after)
				var le *LimitError
				if !errors.As(err, &le) || reason.Of(err) != reason.LimitExceeded {
					t.Fatalf("result %.60s, error %v: want a *LimitError", show(res), err)
				}
				alloc := after.TotalAlloc - before.TotalAlloc
				// The budget counts what the interpreter builds; Go's size
				// classes and the sort's and map's own work add a little.
				if limit := uint64(2*b.Bytes + 256<<10); alloc > limit {
					t.Fatalf("allocated %d bytes for a budget of %d (limit %d)", alloc, b.Bytes, limit)
				}
				t.Logf("%-22s %6dB doc: %-14s after %8v, allocated %7d bytes (%.2f of the budget)",
					name, size, le.Limit, took.Round(time.Microsecond), alloc, float64(alloc)/float64(b.Bytes))
			})
		}
	}
}

// TestBudgetHeapStaysSmall runs every attack over the 64 KiB secret and
// reads the heap in use right after each (before any collection): it grows
// by about the byte budget at most, and nothing is kept once they are done.
func TestBudgetHeapStaysSmall(t *testing.T) {
	data := decode(t, secretDoc(secrets.MaxValueBytes))
	runtime.GC()
	var start runtime.MemStats
	runtime.ReadMemStats(&start)
	var worst int64
	worstName := ""
	for name, expr := range attacks {
		x, err := Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := x.Search(data, Budget{}); !isLimit(err) {
			t.Fatalf("%s: %v", name, err)
		}
		runtime.ReadMemStats(&after)
		if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > worst {
			worst, worstName = grown, name
		}
	}
	runtime.GC()
	var end runtime.MemStats
	runtime.ReadMemStats(&end)
	t.Logf("heap in use %d at the start, +%d at most right after an attack (%s), %d at the end",
		start.HeapInuse, worst, worstName, end.HeapInuse)
	if worst > 2*DefaultBytes {
		t.Fatalf("heap grew by %d bytes in one attack (%s), budget %d", worst, worstName, DefaultBytes)
	}
	if int64(end.HeapInuse)-int64(start.HeapInuse) > DefaultBytes/2 {
		t.Fatalf("heap in use %d at the end, %d at the start", end.HeapInuse, start.HeapInuse)
	}
}

// TestBudgetSmallBudgets: each bound alone stops an evaluation, and the
// error names it.
func TestBudgetSmallBudgets(t *testing.T) {
	data := decode(t, doc1)
	for _, c := range []struct {
		expr  string
		b     Budget
		limit string
	}{
		{"people[*].name", Budget{Steps: 5}, LimitSteps},
		{"people[*].name", Budget{Bytes: 40}, LimitBytes},
		{"to_string(people)", Budget{Bytes: 100}, LimitBytes},
		{"join('', names)", Budget{Bytes: 20}, LimitBytes},
		{"@", Budget{Bytes: 100}, LimitResultBytes},
		{"[@, @, @, @]", Budget{Bytes: 1500}, LimitResultBytes},
		{"username", Budget{Bytes: 3}, LimitResultBytes},
		{"sort(names)", Budget{Steps: 8}, LimitSteps},
		{"merge(obj, obj)", Budget{Bytes: 300}, LimitBytes},
		{"keys(@)", Budget{Bytes: 200}, LimitBytes},
		{"people[*].name == people[*].name", Budget{Steps: 12}, LimitSteps},
		{"map(&to_string(@), list)", Budget{Bytes: 200}, LimitBytes},
	} {
		x, err := Compile(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		_, err = x.Search(data, c.b)
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != c.limit {
			t.Errorf("%s with %+v: error %v, want the %s limit", c.expr, c.b, err, c.limit)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprint(le.Max)) {
			t.Errorf("%s: message %q does not say the budget", c.expr, err)
		}
		// With the default budget, the same expression succeeds.
		if _, err := x.Search(data, Budget{}); err != nil {
			t.Errorf("%s with the default budget: %v", c.expr, err)
		}
	}
}

// TestBudgetEnoughForRealWork: ordinary extractions over the largest secret
// fit the default budget with room to spare.
func TestBudgetEnoughForRealWork(t *testing.T) {
	data := decode(t, secretDoc(secrets.MaxValueBytes))
	for _, expr := range []string{
		"username", "items[*].name", "items[?v > `6`].name | [0]", "sort_by(items, &name)[-1].name",
		"length(to_string(@))", "keys(@) | length(@)", "max_by(items, &v).name", "join(',', items[*].name) | length(@)",
		"merge(@, {extra: 'x'}) | length(keys(@))", "sort(list) | [-1]", "@", "values(@) | length(@)",
	} {
		x, err := Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		e := evaluator{maxSteps: DefaultSteps, maxBytes: DefaultBytes}
		v, err := e.eval(x.root, data)
		if err == nil {
			err = e.checkResult(v)
		}
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if e.steps > DefaultSteps/4 || e.bytes > DefaultBytes/2 {
			t.Errorf("%s: %d steps, %d bytes: too close to the budget", expr, e.steps, e.bytes)
		}
		t.Logf("%-45s %7d steps %8d bytes", expr, e.steps, e.bytes)
	}
}
