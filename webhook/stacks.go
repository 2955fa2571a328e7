package webhook

import (
	"runtime"
	"sync"
)

// Admissions run on long-lived goroutines whose stacks are already grown.
//
// net/http serves each HTTP/2 request on a goroutine of its own, which starts
// with a small stack; decoding a pod (encoding/json recursing through
// reflection) grows it to tens of KB, doubling and copying it several times,
// every request: 11.6% of the webhook's CPU at saturation went to
// runtime.copystack. A worker's stack stays grown between requests (the
// collector shrinks an idle one by half at most per cycle).
//
// A request runs on a worker only when one is idle, and on its own goroutine
// otherwise: the workers never queue requests, so a slow admission (a lookup
// that waits on the API server) delays no other.

// warm is the process's pool, started on first use: GOMAXPROCS workers, as
// many as can run at once.
var warm = sync.OnceValue(func() chan<- func() {
	jobs := make(chan func())
	for range runtime.GOMAXPROCS(0) {
		go func() {
			for job := range jobs {
				job()
			}
		}()
	}
	return jobs
})

// onWarmStack runs f on an idle worker and waits for it, or runs it here
// when every worker is busy. A panic in f is raised again here, on the
// request's goroutine, where net/http recovers it as it would have.
func onWarmStack(f func()) {
	done := make(chan struct{})
	var panicked any
	job := func() {
		defer close(done)
		defer func() { panicked = recover() }()
		f()
	}
	select {
	case warm() <- job:
		<-done
		if panicked != nil {
			panic(panicked)
		}
	default:
		f()
	}
}
