//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
)

// The rotating secret: a JSON object of killKeys keys, each value
// "fsv-g<generation>-<key>-" and killPad bytes (about 50 KiB in all, under
// the 64 KiB a secret may hold); the class writes the whole object as "all"
// and each key as killCopies files ("k3", "k3.c1", ...), so that a write,
// ~190 KiB in 49 files, is long enough for kills to land in it.
const (
	killKeys    = 16
	killCopies  = 3
	killPad     = 3000
	valueMarker = "fsv-g" // begins every value; never in a log
)

var killNames = func() []string {
	names := []string{"all"}
	for i := range killKeys {
		for c := range killCopies {
			name := "k" + strconv.Itoa(i)
			if c > 0 {
				name += ".c" + strconv.Itoa(c)
			}
			names = append(names, name)
		}
	}
	return names
}()

func killValue(gen, key int) string {
	return fmt.Sprintf("%s%d-k%d-%s", valueMarker, gen, key, strings.Repeat("x", killPad))
}

func killSecret(gen int) string {
	m := map[string]string{}
	for i := range killKeys {
		m["k"+strconv.Itoa(i)] = killValue(gen, i)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func killClass() string {
	var b strings.Builder
	b.WriteString("- objectName: faults/rotating\n  objectType: secretsmanager\n  objectAlias: all\n  jmesPath:\n")
	for _, name := range killNames[1:] {
		key, _, _ := strings.Cut(name, ".")
		fmt.Fprintf(&b, "    - {path: %s, objectAlias: %s}\n", key, name)
	}
	return b.String()
}

// fileGeneration checks a file's content whole and returns its generation:
// -1 when it is not a complete value of some generation.
func fileGeneration(name string, b []byte) int {
	if name == "all" {
		var m map[string]string
		if json.Unmarshal(b, &m) != nil || len(m) != killKeys {
			return -1
		}
		gen := -2
		for i := range killKeys {
			g := fileGeneration("k"+strconv.Itoa(i), []byte(m["k"+strconv.Itoa(i)]))
			if g < 0 || (gen != -2 && g != gen) {
				return -1
			}
			gen = g
		}
		return gen
	}
	base, _, _ := strings.Cut(name, ".")
	key, err := strconv.Atoi(strings.TrimPrefix(base, "k"))
	if err != nil {
		return -1
	}
	rest, ok := strings.CutPrefix(string(b), valueMarker)
	if !ok {
		return -1
	}
	genStr, _, ok := strings.Cut(rest, "-")
	gen, err := strconv.Atoi(genStr)
	if !ok || err != nil || string(b) != killValue(gen, key) {
		return -1
	}
	return gen
}

// readerStats are what the readers saw.
type readerStats struct {
	fileReads atomic.Int64 // top-level files read (each a whole value)
	setReads  atomic.Int64 // whole sets read below one ..data resolution
	raced     atomic.Int64 // set reads begun again: the generation read was collected meanwhile
	mixed     atomic.Int64 // sets whose files are of different generations
	lost      atomic.Int64 // top-level names (or ..data) that failed to open
	torn      atomic.Int64 // files whose content was not a whole value

	mu     sync.Mutex
	errors []string
}

func (s *readerStats) fail(format string, args ...any) {
	s.mu.Lock()
	if len(s.errors) < 10 {
		s.errors = append(s.errors, fmt.Sprintf(format, args...))
	}
	s.mu.Unlock()
}

// readVolume reads a volume as a pod does: every top-level file, then one
// whole set below a single resolution of ..data (the way to read several
// files of one set, as the writer documents).
func (s *readerStats) readVolume(target string) {
	for _, name := range killNames {
		b, err := os.ReadFile(filepath.Join(target, name))
		if err != nil {
			s.lost.Add(1)
			s.fail("read %s/%s: %v", target, name, err)
			continue
		}
		s.fileReads.Add(1)
		if fileGeneration(name, b) < 0 {
			s.torn.Add(1)
			s.fail("%s/%s holds %d bytes that are no whole value", target, name, len(b))
		}
	}
	gen, err := os.Readlink(filepath.Join(target, atomicdir.DataLink))
	if err != nil {
		s.lost.Add(1)
		s.fail("readlink %s/..data: %v", target, err)
		return
	}
	gens := map[int]bool{}
	for _, name := range killNames {
		b, err := os.ReadFile(filepath.Join(target, gen, name))
		if errors.Is(err, fs.ErrNotExist) {
			s.raced.Add(1) // the next write collected this generation: read again
			return
		}
		if err != nil {
			s.lost.Add(1)
			s.fail("read %s/%s/%s: %v", target, gen, name, err)
			return
		}
		gens[fileGeneration(name, b)] = true
	}
	s.setReads.Add(1)
	if len(gens) != 1 || gens[-1] {
		s.mixed.Add(1)
		s.fail("set %s/%s mixes generations %v", target, gen, gens)
	}
}

// volumeGeneration is the generation a volume serves (one consistent read).
func volumeGeneration(t *testing.T, target string) int {
	t.Helper()
	link, err := os.Readlink(filepath.Join(target, atomicdir.DataLink))
	if err != nil {
		t.Fatal(err)
	}
	gen := -2
	for _, name := range killNames {
		b, err := os.ReadFile(filepath.Join(target, link, name))
		if err != nil {
			t.Fatal(err)
		}
		g := fileGeneration(name, b)
		if g < 0 || (gen != -2 && g != gen) {
			t.Fatalf("%s: %s is not of generation %d", target, name, gen)
		}
		gen = g
	}
	return gen
}

// testKillDuringRotation: the mounter is SIGKILLed at random moments of
// rotations (republishes that fetch and write a new set) while readers read
// every volume through its target, restarted, and driven on. Readers never
// see a mixed set, a missing or torn file; every restart restores every
// volume and leaves no stale generation (Restore repairs); the next write
// brings every volume to the newest set.
//
// FAULTS_KILL_ROUNDS (default 50) kills, FAULTS_KILL_VOLUMES (default 24)
// volumes, of which up to 4 rotate in each round.
func testKillDuringRotation(t *testing.T, c *cluster) {
	rounds := envInt(t, "FAULTS_KILL_ROUNDS", 50)
	volumes := envInt(t, "FAULTS_KILL_VOLUMES", 24)
	perRound := min(volumes, 4)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const ns = "faults-kill"
	c.namespace(ctx, t, ns, map[string]string{"rotating": killClass()})
	gen := 1
	c.putSecret(t, "faults/rotating", killSecret(gen))
	n := c.newNode(t, nil, valueMarker)
	n.start(ctx)

	pods := make([]string, volumes)
	targets := make([]string, volumes)
	touched := make([]time.Time, volumes) // last republish sent or answered
	for i := range pods {
		pods[i] = fmt.Sprintf("kill-%02d", i)
		targets[i] = n.target(pods[i])
		if err := n.publish(ctx, ns, pods[i], "rotating", i%2 == 0); err != nil {
			t.Fatalf("publish %s: %v", pods[i], err)
		}
		touched[i] = time.Now()
	}

	// Readers: two goroutines, three reads in four on the volumes rotating.
	var stats readerStats
	var hot atomic.Pointer[[]int]
	hot.Store(&[]int{0})
	rctx, stopReaders := context.WithCancel(ctx)
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for rctx.Err() == nil {
				v := rand.IntN(volumes)
				if h := *hot.Load(); rand.IntN(4) > 0 {
					v = h[rand.IntN(len(h))]
				}
				stats.readVolume(targets[v])
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	defer func() { stopReaders(); readers.Wait() }()

	// due picks k volumes whose interval has passed, waiting when fewer are.
	due := func(k int) []int {
		order := make([]int, volumes)
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return touched[a].Compare(touched[b]) })
		pick := order[:k]
		if wait := time.Until(touched[pick[k-1]].Add(interval + 300*time.Millisecond)); wait > 0 {
			time.Sleep(wait)
		}
		return pick
	}
	// rotate sends a republish of each volume in pick; kill, when set, is
	// called once when returns with the number of republishes still unanswered.
	var answered, unanswered atomic.Int64
	rotate := func(pick []int, when func(), kill func(inFlight int64)) (durations []time.Duration) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var inFlight atomic.Int64
		for _, v := range pick {
			req := n.request(ns, pods[v], "rotating", v%2 == 0)
			inFlight.Add(1)
			wg.Go(func() {
				start := time.Now()
				_, err := n.csi.NodePublishVolume(ctx, req)
				inFlight.Add(-1)
				switch code := status.Code(err); {
				case err == nil:
					answered.Add(1)
					mu.Lock()
					durations = append(durations, time.Since(start))
					mu.Unlock()
				case code == codes.Unavailable && kill != nil:
					unanswered.Add(1) // cut by the kill; the kubelet retries
				default:
					t.Errorf("republish %s: %v", pods[v], err)
				}
			})
		}
		if kill != nil {
			when()
			kill(inFlight.Load())
		}
		wg.Wait()
		for _, v := range pick {
			touched[v] = time.Now()
		}
		return durations
	}

	// Calibrate: how long a rotation takes here, unkilled.
	gen++
	c.putSecret(t, "faults/rotating", killSecret(gen))
	pick := due(perRound)
	hot.Store(&pick)
	ds := rotate(pick, nil, nil)
	slices.Sort(ds)
	window := 2 * ds[len(ds)/2]
	window = min(max(window, 2*time.Millisecond), 500*time.Millisecond)
	firstWindow := window
	staging := stagingsByVolume(t, n)

	// Two kinds of rounds, alternating: a kill at a uniform random moment of
	// the window (which adapts so that kills land while republishes are in
	// flight), and a kill just after a new generation directory appears in a
	// rotating volume (the write under way), with up to 0.5ms of jitter.
	var kills [2]struct{ inFlight, leftovers int }
	var staleAfterRestart int
	var restarts []time.Duration
	for r := range rounds {
		gen++
		c.putSecret(t, "faults/rotating", killSecret(gen))
		pick := due(perRound)
		hot.Store(&pick)
		mode := r % 2
		when := func() { time.Sleep(time.Duration(rand.Int64N(int64(window)))) }
		if mode == 1 {
			dirs := make([]string, len(pick))
			for i, v := range pick {
				dirs[i] = staging[v]
			}
			when = func() {
				waitNewGeneration(dirs, 3*time.Second)
				time.Sleep(time.Duration(rand.Int64N(int64(500 * time.Microsecond))))
			}
		}
		var inFlight int64
		rotate(pick, when, func(f int64) {
			n.kill()
			inFlight = f
		})
		if inFlight > 0 {
			kills[mode].inFlight++
		}
		if mode == 0 {
			switch {
			case inFlight == 0: // every republish was answered: kill sooner
				window = max(window*4/5, time.Millisecond)
			case inFlight == int64(len(pick)): // none was: the window may grow
				window = min(window*11/10, 2*time.Second)
			}
		}
		// What the kill left (before the restart repairs it).
		for _, st := range n.stagings() {
			if len(leftovers(st)) > 0 {
				kills[mode].leftovers++
				break
			}
		}
		restarts = append(restarts, n.start(ctx))
		if got := n.metric(ctx, "volumes", ""); int(got) != volumes {
			t.Fatalf("round %d: %v volumes restored, want %d", r, got, volumes)
		}
		sts := n.stagings()
		if len(sts) != volumes {
			t.Fatalf("round %d: %d staging dirs, want %d", r, len(sts), volumes)
		}
		for _, st := range sts {
			if l := leftovers(st); len(l) > 0 {
				staleAfterRestart++
				t.Errorf("round %d: after the restart %s holds %q", r, st, l)
			}
		}
	}

	// The next write: every volume republished once its interval passed.
	gen++
	c.putSecret(t, "faults/rotating", killSecret(gen))
	all := make([]int, volumes)
	for i := range all {
		all[i] = i
	}
	hot.Store(&all)
	time.Sleep(time.Until(slices.MaxFunc(touched, func(a, b time.Time) int { return a.Compare(b) }).Add(interval + 300*time.Millisecond)))
	rotate(all, nil, nil)
	stopReaders()
	readers.Wait()
	behind := 0
	for i, target := range targets {
		if g := volumeGeneration(t, target); g != gen {
			behind++
			t.Errorf("%s serves generation %d after the last write, want %d", pods[i], g, gen)
		}
	}
	for _, st := range n.stagings() {
		if l := leftovers(st); len(l) > 0 {
			t.Errorf("after the last write %s holds %q", st, l)
		}
	}
	for _, pod := range pods {
		if err := n.unpublish(ctx, ns, pod); err != nil {
			t.Errorf("unpublish %s: %v", pod, err)
		}
	}
	if m := mountsUnder(n.dir); m != 0 {
		t.Errorf("%d mounts left after unpublishing every volume", m)
	}

	slices.Sort(restarts)
	random, write := (rounds+1)/2, rounds/2
	t.Logf("kill -9 during rotation: %d rounds, %d volumes (%d rotating a round, %d files of %d KiB a set); "+
		"%d kills at a random moment (window %s, from %s), %d with a republish in flight, %d left a partial generation or link; "+
		"%d kills during a write, %d with a republish in flight, %d left a partial generation or link; "+
		"%d republishes answered, %d cut by a kill; "+
		"readers: %d file reads, %d whole-set reads (%d begun again), %d mixed sets, %d lost files, %d torn files; "+
		"%d stale generations after a restart, %d volumes behind after the next write; restart to ready p50 %s max %s; %s in all",
		rounds, volumes, perRound, len(killNames), (killCopies+1)*killKeys*(killPad+20)/1024,
		random, window, firstWindow, kills[0].inFlight, kills[0].leftovers,
		write, kills[1].inFlight, kills[1].leftovers,
		answered.Load(), unanswered.Load(),
		stats.fileReads.Load(), stats.setReads.Load(), stats.raced.Load(), stats.mixed.Load(), stats.lost.Load(), stats.torn.Load(),
		staleAfterRestart, behind, restarts[len(restarts)/2].Round(time.Millisecond), restarts[len(restarts)-1].Round(time.Millisecond),
		time.Since(began).Round(time.Second))
	if stats.mixed.Load() != 0 || stats.lost.Load() != 0 || stats.torn.Load() != 0 {
		t.Errorf("readers saw %d mixed sets, %d lost files, %d torn files: %q", stats.mixed.Load(), stats.lost.Load(), stats.torn.Load(), stats.errors)
	}
	if stats.setReads.Load() < int64(rounds) {
		t.Errorf("only %d whole-set reads in %d rounds: the readers did not read", stats.setReads.Load(), rounds)
	}
	if kills[0].inFlight+kills[1].inFlight == 0 {
		t.Errorf("no kill landed while a republish was in flight: the battery killed only idle mounters")
	}
}

// stagingsByVolume maps each volume (by its index in the kill test's pods)
// to its staging directory, from the mounter's state files.
func stagingsByVolume(t *testing.T, n *node) map[int]string {
	t.Helper()
	out := map[int]string{}
	files, _ := filepath.Glob(filepath.Join(n.pluginDir, "volumes", "*", "state.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			VolumeID    string `json:"volumeID"`
			StagingPath string `json:"stagingPath"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var i int
		if _, err := fmt.Sscanf(st.VolumeID, "csi-faults-kill-kill-%d", &i); err != nil {
			t.Fatalf("%s: volume %q: %v", f, st.VolumeID, err)
		}
		out[i] = st.StagingPath
	}
	return out
}

// waitNewGeneration returns once a generation directory that was not there
// when it was called appears in one of dirs (a write under way), or after
// limit.
func waitNewGeneration(dirs []string, limit time.Duration) {
	seen := map[string]bool{}
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			seen[filepath.Join(d, e.Name())] = true
		}
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, d := range dirs {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				if generationName.MatchString(e.Name()) && !seen[filepath.Join(d, e.Name())] {
					return
				}
			}
		}
		runtime.Gosched()
	}
}
