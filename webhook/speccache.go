package webhook

import (
	"sort"
	"strings"
	"sync"

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
	m   map[string]*spc.Spec
}

// NewSpecCache returns a cache of at most max classes (emptied when full).
func NewSpecCache(max int) *SpecCache {
	return &SpecCache{max: max, m: map[string]*spc.Spec{}}
}

// parse returns the cached Spec for c, or parses and caches it.
func (sc *SpecCache) parse(c *spc.Class, opts spc.Options) (*spc.Spec, error) {
	if sc == nil {
		return spc.Parse(c.Parameters, opts)
	}
	key := cacheKey(c, opts)
	sc.mu.Lock()
	s, ok := sc.m[key]
	sc.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := spc.Parse(c.Parameters, opts)
	if err != nil {
		return nil, err
	}
	sc.mu.Lock()
	if len(sc.m) >= sc.max {
		clear(sc.m)
	}
	sc.m[key] = s
	sc.mu.Unlock()
	return s, nil
}

func cacheKey(c *spc.Class, opts spc.Options) string {
	keys := make([]string, 0, len(c.Parameters))
	n := len(c.Namespace) + len(c.Name) + len(opts.DefaultRegion) + 3
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
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(c.Parameters[k])
	}
	return b.String()
}
