package webhook

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// SpecCache remembers validated SecretProviderClass parameters, so that
// admitting many pods of one class parses (YAML, JMESPath compilation) once.
// The key is the class's namespace, name and every parameter, so a changed
// class is parsed again. Only valid classes are cached. Safe for concurrent
// use; a cached *spc.Spec is shared and must not be modified.
type SpecCache struct {
	mu  sync.Mutex
	max int
	m   map[string]parsed
}

// parsed is a valid class's Spec and its warnings.
type parsed struct {
	spec     *spc.Spec
	warnings []*secrets.Problem
}

// NewSpecCache returns a cache of at most max classes (emptied when full).
func NewSpecCache(max int) *SpecCache {
	return &SpecCache{max: max, m: map[string]parsed{}}
}

// parse returns the cached Spec for c and its warnings, or parses and
// caches them. An invalid class is an *spc.InvalidError.
func (sc *SpecCache) parse(c *spc.Class, opts spc.Options) (*spc.Spec, []*secrets.Problem, error) {
	if sc == nil {
		p, err := check(c, opts)
		return p.spec, p.warnings, err
	}
	key := cacheKey(c, opts)
	sc.mu.Lock()
	p, ok := sc.m[key]
	sc.mu.Unlock()
	if ok {
		return p.spec, p.warnings, nil
	}
	p, err := check(c, opts)
	if err != nil {
		return nil, nil, err
	}
	sc.mu.Lock()
	if len(sc.m) >= sc.max {
		clear(sc.m)
	}
	sc.m[key] = p
	sc.mu.Unlock()
	return p.spec, p.warnings, nil
}

func check(c *spc.Class, opts spc.Options) (parsed, error) {
	r := spc.Check(c.Parameters, opts)
	if err := r.Err(); err != nil {
		return parsed{}, err
	}
	return parsed{spec: r.Spec, warnings: r.Warnings}, nil
}

func cacheKey(c *spc.Class, opts spc.Options) string {
	keys := make([]string, 0, len(c.Parameters))
	n := len(c.Namespace) + len(c.Name) + len(opts.DefaultRegion) + 6
	for k, v := range c.Parameters {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(n)
	b.WriteString(c.Namespace)
	b.WriteByte(0)
	b.WriteString(c.Name)
	b.WriteByte(0)
	b.WriteString(opts.DefaultRegion)
	b.WriteByte(0)
	b.WriteString(strconv.FormatBool(opts.Strict))
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(c.Parameters[k])
	}
	return b.String()
}
