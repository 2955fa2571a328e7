package mounter

import "sync"

// inflight is a set of volume IDs with an operation in progress (the per-volume lock).
type inflight struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func newInflight() *inflight { return &inflight{ids: map[string]struct{}{}} }

// acquire takes the lock for id, or reports false when it is held.
func (f *inflight) acquire(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ids[id]; ok {
		return false
	}
	f.ids[id] = struct{}{}
	return true
}

func (f *inflight) release(id string) {
	f.mu.Lock()
	delete(f.ids, id)
	f.mu.Unlock()
}
