package webhook

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestOnWarmStackRunsAndWaits(t *testing.T) {
	for i := range 100 {
		got := -1
		onWarmStack(func() { got = i })
		if got != i {
			t.Fatalf("after onWarmStack returned: got %d, want %d", got, i)
		}
	}
}

func TestOnWarmStackPanicReachesCaller(t *testing.T) {
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v, want the job's panic", p)
		}
	}()
	for range 2 * runtime.GOMAXPROCS(0) { // on a worker, whichever ran it
		onWarmStack(func() { panic("boom") })
	}
	t.Error("a panicking job returned")
}

// With every worker busy, a job runs on the caller's goroutine at once
// instead of queueing behind them.
func TestOnWarmStackDoesNotQueue(t *testing.T) {
	release := make(chan struct{})
	var busy sync.WaitGroup
	n := runtime.GOMAXPROCS(0)
	busy.Add(n)
	var callers sync.WaitGroup
	for range n {
		callers.Go(func() { onWarmStack(func() { busy.Done(); <-release }) })
	}
	waitTimeout(t, &busy, "the workers to take the blocking jobs")
	ran := make(chan struct{})
	go onWarmStack(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Error("a job waited for busy workers")
	}
	close(release)
	callers.Wait()
}

func waitTimeout(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
