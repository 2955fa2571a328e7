package atomicdir

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// The child of TestSIGKILLDuringWrites: the test binary run again, in the
// directory to write, with these set in its environment.
const (
	childEnv     = "ATOMICDIR_KILL_CHILD"
	childStepEnv = "ATOMICDIR_KILL_CHILD_STEP"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		killChild(".", os.Getenv(childStepEnv))
		return
	}
	os.Exit(m.Run())
}

// killSet is generation n of the SIGKILL test: every file carries n, and
// names come and go with n, so a mix or a lost file is visible.
func killSet(n int) []secrets.File {
	names := []string{"marker", "nested/x/y"}
	if n%2 == 0 {
		names = append(names, "even")
	} else {
		names = append(names, "odd")
	}
	if n%3 == 0 {
		names = append(names, "three")
	}
	set := make([]secrets.File, 0, len(names))
	for _, p := range names {
		mode := os.FileMode(0o644)
		if n%2 == 1 {
			mode = 0o600
		}
		set = append(set, file(p, mode, fmt.Sprintf("%d:%s", n, p)))
	}
	return set
}

var killPaths = []string{"even", "marker", "nested/x/y", "odd", "three"}

// classify names the generation a pod's view is of, or says what is wrong
// with it: "mixed" (files of two generations) or "lost" (a file of the
// generation missing).
func classify(got map[string]seen) (int, string) {
	m, ok := got["marker"]
	if !ok {
		return -1, "lost"
	}
	n, err := strconv.Atoi(strings.SplitN(m.content, ":", 2)[0])
	if err != nil {
		return -1, "mixed"
	}
	for _, s := range got {
		if !strings.HasPrefix(s.content, strconv.Itoa(n)+":") {
			return n, "mixed"
		}
	}
	if !is(got, killSet(n)) {
		for _, f := range killSet(n) {
			if _, ok := got[f.Path]; !ok {
				return n, "lost"
			}
		}
		return n, "mixed" // a name of another generation, or a wrong mode
	}
	return n, ""
}

// killChild rotates dir forever: generation n+1 after n. With step set it
// SIGKILLs itself just before that step (counted over all its writes);
// otherwise it waits for the parent's kill. It says "ready" once started.
func killChild(dir, step string) {
	at := -1
	if step != "" {
		at, _ = strconv.Atoi(step)
	}
	count := 0
	hook = func(string) error {
		if count == at {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		count++
		return nil
	}
	fmt.Println("ready")
	deadline := time.Now().Add(10 * time.Second) // a bound should the parent be gone
	for time.Now().Before(deadline) {
		set, err := Read(dir)
		n := 0
		for _, f := range set {
			if f.Path == "marker" {
				n, _ = strconv.Atoi(strings.SplitN(string(f.Content.Bytes()), ":", 2)[0])
			}
		}
		if err == nil {
			_, err = Write(dir, killSet(n+1))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
	}
	os.Exit(3)
}

// TestSIGKILLDuringWrites kills a real writer process at random moments and
// at chosen steps, while a reader in this process reads the set through the
// top-level names as a pod does. A read during which ..data did not move must
// see one whole generation; after every kill the directory, with no writer
// running, serves one whole generation; and one Write or Repair leaves it
// clean.
func TestSIGKILLDuringWrites(t *testing.T) {
	dir := scratch(t)
	mustWrite(t, dir, killSet(0))
	stepsPerWrite := 0
	withHook(t, func(string) error { stepsPerWrite++; return nil })
	mustWrite(t, dir, killSet(1))
	hook = nil

	var (
		stop                            atomic.Bool
		reads, raced, mixed, lost, back atomic.Int64
		lastN                           atomic.Int64
		wg                              sync.WaitGroup
		firstBad                        atomic.Value
	)
	lastN.Store(1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			g1, err1 := os.Readlink(filepath.Join(dir, DataLink))
			got := look(dir, killPaths)
			g2, err2 := os.Readlink(filepath.Join(dir, DataLink))
			if err1 != nil || err2 != nil || g1 != g2 {
				raced.Add(1) // a swap happened during the read: a pod reading file by file may see both sides of it
				continue
			}
			reads.Add(1)
			n, bad := classify(got)
			switch bad {
			case "mixed":
				mixed.Add(1)
			case "lost":
				lost.Add(1)
			}
			if bad != "" {
				firstBad.CompareAndSwap(nil, describe(got))
				continue
			}
			if prev := lastN.Load(); int64(n) < prev {
				back.Add(1) // an older generation came back
			} else {
				lastN.CompareAndSwap(prev, int64(n))
			}
		}
	}()

	var rounds, stepKills, dirty, stillDirty, afterBad int
	start := time.Now()
	for r := 0; r < 100 && time.Since(start) < 20*time.Second; r++ {
		rounds++
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), childEnv+"=1")
		byStep := r%2 == 0
		if byStep {
			stepKills++
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", childStepEnv, rand.IntN(3*stepsPerWrite)))
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child did not start: %q %s", line, stderr.String())
		}
		if !byStep {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }() // the ProcessState below says how it ended
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("round %d: the child did not stop at its step", r)
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, not by SIGKILL: %s", r, cmd.ProcessState, stderr.String())
		}

		// No writer runs now: the directory serves one whole generation.
		got := look(dir, killPaths)
		n, bad := classify(got)
		if bad != "" {
			afterBad++
			t.Errorf("round %d: after the kill a pod sees a %s set: %s", r, bad, describe(got))
			continue
		}
		if len(leftovers(dir, killSet(n))) != 0 {
			dirty++
		}
		// One call repairs it, without changing what is served.
		if r%4 < 2 {
			err = Repair(dir)
		} else {
			var changed bool
			changed, err = Write(dir, killSet(n))
			if changed {
				t.Errorf("round %d: rewriting the served set reported a change", r)
			}
		}
		if err != nil {
			t.Fatalf("round %d: repair: %v", r, err)
		}
		if len(leftovers(dir, killSet(n))) != 0 {
			stillDirty++
		}
		assertClean(t, dir, killSet(n))
	}
	stop.Store(true)
	wg.Wait()

	t.Logf("SIGKILL rounds: %d (%d at a chosen step, %d at a random moment); %d left leftovers before the repair, %d after it; last generation %d",
		rounds, stepKills, rounds-stepKills, dirty, stillDirty, lastN.Load())
	t.Logf("reader: %d whole reads, %d reads across a swap skipped, %d mixed sets, %d lost files, %d older sets after newer; %d bad views after a kill",
		reads.Load(), raced.Load(), mixed.Load(), lost.Load(), back.Load(), afterBad)
	if mixed.Load()+lost.Load()+back.Load() != 0 {
		t.Errorf("reader saw %d mixed sets, %d lost files, %d older sets after newer (first: %v)", mixed.Load(), lost.Load(), back.Load(), firstBad.Load())
	}
	if rounds < 20 || reads.Load() == 0 {
		t.Errorf("only %d rounds and %d reads: the test did not exercise the writer", rounds, reads.Load())
	}
	if dirty == 0 {
		t.Error("no kill landed inside a write: every round found the directory clean")
	}
	if lastN.Load() < 5 {
		t.Errorf("the children wrote only up to generation %d", lastN.Load())
	}
}
