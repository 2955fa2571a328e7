package simulate

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Config is the fleet and the time the simulation covers.
type Config struct {
	Nodes             int
	PodsPerNode       int
	SecretsPerPod     int
	IdentitiesPerNode int
	// PodsPerApp is how many pods an app has across the fleet (its secrets
	// and its identity are shared by all of them).
	PodsPerApp int
	// Interval is the refresh (rotation poll) interval.
	Interval time.Duration
	// RotationShare of all secrets rotates every Interval.
	RotationShare float64
	// Sync is the kubelet's pod sync period: a volume is republished (and
	// refreshed when due) once a Sync.
	Sync time.Duration
	// StartSpread: pods start at random times within it.
	StartSpread time.Duration
	// Warmup is the time before figures are taken; Measure how long they are.
	Warmup, Measure time.Duration
	Seed            uint64
}

// Default is the fleet of issue #14.
func Default() Config {
	return Config{Nodes: 5000, PodsPerNode: 30, SecretsPerPod: 10, IdentitiesPerNode: 5, PodsPerApp: 150,
		Interval: 2 * time.Minute, RotationShare: 0.10, Sync: time.Minute, StartSpread: 10 * time.Minute,
		Warmup: 15 * time.Minute, Measure: 30 * time.Minute, Seed: 1}
}

// Mode is how the fleet polls.
type Mode int

const (
	// Revalidate is the mounter's default: node cache, batched first reads,
	// refreshes by DescribeSecret version check (--revalidate).
	Revalidate Mode = iota
	// Batch is the mounter with --revalidate=false: every refresh reads its
	// secrets again (one BatchGetSecretValue per identity and node).
	Batch
	// ASCP is AWS's provider's way: every poll, one GetSecretValue per object
	// per pod, no node cache, the SDK's default retryer (3 attempts).
	ASCP
)

func (m Mode) String() string {
	switch m {
	case Revalidate:
		return "ours (--revalidate, default)"
	case Batch:
		return "ours (--revalidate=false)"
	default:
		return "ASCP-style polling"
	}
}

// APIFigures are one API's calls in the measured window.
type APIFigures struct {
	PerSecond float64 // admitted calls a second
	Peak      int     // the busiest second's admitted calls
	Quota     int
	Throttled int // throttled attempts in the window
}

// Result is what one run measured.
type Result struct {
	Mode     Mode
	Config   Config
	APIs     map[string]APIFigures
	Attempts int // every attempt in the window, throttled ones included
	// Staleness: from a secret's change to the pod's files holding it (or a
	// later version), over every pod using the secret, for changes in the window.
	P50, P99, Max time.Duration
	Samples       int
	// Undelivered counts (pod, change) pairs of the window whose files still
	// lacked the change when the run ended (three intervals and a sync after
	// the window): not in the percentiles, which they would only raise.
	Undelivered int
	Refreshes   int // refreshes (and first publishes) in the window
	Failed      int // of them failed (throttled past the retries)
	Wall        time.Duration
}

type event struct {
	at  time.Duration // since start
	pod int32         // -1: a rotation
}

type queue []event

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q queue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)        { *q = append(*q, x.(event)) }
func (q *queue) Pop() any          { o := *q; e := o[len(o)-1]; *q = o[:len(o)-1]; return e }

// fleet is the state of one run.
type fleet struct {
	cfg     Config
	mode    Mode
	start   time.Time
	rng     *rand.Rand
	aws     *AWS
	clients *Clients
	clock   *Clock

	apps      int
	appOf     []int32 // pod → app
	phase     []time.Duration
	held      []int32 // pod*K + j → version the pod's files hold
	fetchers  []*awsfetch.Fetcher
	specs     []*spc.Spec
	ids       []awsfetch.Identity
	stale     []int64 // staleness histogram, 100 ms bins
	samples   int
	refreshes int
	failed    int
}

// Run simulates cfg in mode.
func Run(cfg Config, mode Mode) (Result, error) {
	began := time.Now()
	if cfg.PodsPerNode%cfg.IdentitiesPerNode != 0 {
		return Result{}, fmt.Errorf("PodsPerNode %d is no multiple of IdentitiesPerNode %d", cfg.PodsPerNode, cfg.IdentitiesPerNode)
	}
	pods := cfg.Nodes * cfg.PodsPerNode
	apps := max(cfg.IdentitiesPerNode, pods/cfg.PodsPerApp)
	f := &fleet{cfg: cfg, mode: mode, start: time.Unix(1_800_000_000, 0), rng: rand.New(rand.NewPCG(cfg.Seed, 7)),
		clock: &Clock{}, apps: apps, appOf: make([]int32, pods), phase: make([]time.Duration, cfg.Nodes),
		held: make([]int32, pods*cfg.SecretsPerPod), stale: make([]int64, 36000)}
	f.clock.set(f.start)
	end := cfg.Warmup + cfg.Measure
	f.aws = NewAWS(f.start, apps*cfg.SecretsPerPod, float64(cfg.Nodes)/5000, int((end+10*time.Minute)/time.Second))
	attempts, backoff := awsfetch.DefaultMaxAttempts, awsfetch.DefaultMaxBackoff
	if mode == ASCP {
		attempts, backoff = 3, 20*time.Second // the SDK's defaults
	}
	f.clients = &Clients{AWS: f.aws, Clock: f.clock, Retrier: NewRetrier(attempts, backoff, cfg.Seed)}
	for a := range apps {
		s := &spc.Spec{Region: "us-east-1"}
		for j := range cfg.SecretsPerPod {
			s.Objects = append(s.Objects, spc.Object{Index: j, Name: secretName(a*cfg.SecretsPerPod + j), Type: spc.SecretsManager})
		}
		f.specs = append(f.specs, s)
		f.ids = append(f.ids, awsfetch.Identity{Key: fmt.Sprintf("irsa:app-%d", a)})
	}
	perApp := cfg.PodsPerNode / cfg.IdentitiesPerNode
	q := &queue{}
	for n := range cfg.Nodes {
		f.phase[n] = time.Duration(f.rng.Int64N(int64(cfg.Interval)))
		if mode != ASCP {
			f.fetchers = append(f.fetchers, awsfetch.New(awsBase, awsfetch.Options{Clients: f.clients, CacheTTL: cfg.Interval,
				Revalidate: mode == Revalidate, Now: f.clock.Now}))
		}
		seen := map[int]bool{}
		var chosen []int
		for len(chosen) < cfg.IdentitiesPerNode {
			if a := f.rng.IntN(apps); !seen[a] {
				seen[a] = true
				chosen = append(chosen, a)
			}
		}
		p := n * cfg.PodsPerNode
		for _, a := range chosen {
			for range perApp {
				f.appOf[p] = int32(a)
				heap.Push(q, event{at: time.Duration(f.rng.Int64N(int64(cfg.StartSpread))), pod: int32(p)})
				p++
			}
		}
	}
	for i := range f.held {
		f.held[i] = 1
	}
	rate := float64(apps*cfg.SecretsPerPod) * cfg.RotationShare / cfg.Interval.Seconds()
	heap.Push(q, event{at: f.exp(rate), pod: -1})

	// Changes up to end are measured; the run goes on until they reached every pod.
	stop := end + 3*cfg.Interval + cfg.Sync
	for q.Len() > 0 {
		ev := heap.Pop(q).(event)
		if ev.at >= stop {
			break
		}
		f.clock.set(f.start.Add(ev.at))
		if ev.pod < 0 {
			if ev.at < end {
				f.aws.Rotate(f.rng.IntN(apps*cfg.SecretsPerPod), f.start.Add(ev.at))
				heap.Push(q, event{at: ev.at + f.exp(rate), pod: -1})
			}
			continue
		}
		next := f.refresh(int(ev.pod), ev.at, ev.at >= cfg.Warmup && ev.at < end)
		heap.Push(q, event{at: next, pod: ev.pod})
	}
	return f.result(began), nil
}

func (f *fleet) exp(rate float64) time.Duration {
	return time.Duration(f.rng.ExpFloat64() / rate * float64(time.Second))
}

// refresh serves one republish of pod p at at and returns when the next one is.
func (f *fleet) refresh(p int, at time.Duration, counted bool) time.Duration {
	cfg := f.cfg
	node := p / cfg.PodsPerNode
	app := int(f.appOf[p])
	if f.mode == ASCP {
		// The driver polls every pod of the node each interval, from the node's phase.
		// In sequence; the first failure fails the mount.
		ok, done := true, f.clock.Now()
		for range cfg.SecretsPerPod {
			if ok, done = f.clients.Retrier.Call(f.aws, GetSecretValue, done); !ok {
				break
			}
		}
		if counted {
			f.refreshes++
			if !ok {
				f.failed++
			}
		}
		if ok {
			base := app * cfg.SecretsPerPod
			for j := range cfg.SecretsPerPod {
				f.hold(p, j, base+j, f.aws.versions[base+j], done)
			}
		}
		return f.nextTick(at+time.Millisecond, f.phase[node], cfg.Interval)
	}

	vals, err := f.fetchers[node].FetchWithin(context.Background(), f.specs[app], f.ids[app], cfg.Interval)
	if counted {
		f.refreshes++
		if err != nil {
			f.failed++
		}
	}
	// The pod's kubelet syncs at a phase of its own.
	syncPhase := time.Duration(uint64(p)*0x9e3779b97f4a7c15%uint64(cfg.Sync)) % cfg.Sync
	if err != nil {
		return f.nextTick(at+time.Millisecond, syncPhase, cfg.Sync)
	}
	readAt := vals[0].ReadAt
	base := app * cfg.SecretsPerPod
	for j, v := range vals {
		if v.ReadAt.Before(readAt) {
			readAt = v.ReadAt
		}
		f.hold(p, j, base+j, Version(v.VersionID), f.clock.Now())
	}
	due := readAt.Sub(f.start) + cfg.Interval
	return f.nextTick(max(due, at+time.Millisecond), syncPhase, cfg.Sync)
}

// nextTick is the first phase + k*period at or after t.
func (f *fleet) nextTick(t, phase, period time.Duration) time.Duration {
	k := (t - phase + period - 1) / period
	return phase + k*period
}

// hold records that pod p's file j (secret s) now holds version v, written at
// t: a staleness sample for each newer version since the one it held, when
// that change is in the measured window.
func (f *fleet) hold(p, j, s, v int, t time.Time) {
	i := p*f.cfg.SecretsPerPod + j
	from, end := f.cfg.Warmup.Seconds(), (f.cfg.Warmup + f.cfg.Measure).Seconds()
	now := t.Sub(f.start).Seconds()
	for u := int(f.held[i]) + 1; u <= v; u++ {
		c := f.aws.changed[s][u-1]
		if c < from || c >= end {
			continue
		}
		b := int((now - c) * 10)
		b = min(max(b, 0), len(f.stale)-1)
		f.stale[b]++
		f.samples++
	}
	if v > int(f.held[i]) {
		f.held[i] = int32(v)
	}
}

func (f *fleet) result(began time.Time) Result {
	from, to := int(f.cfg.Warmup/time.Second), int((f.cfg.Warmup+f.cfg.Measure)/time.Second)
	r := Result{Mode: f.mode, Config: f.cfg, APIs: map[string]APIFigures{}, Samples: f.samples,
		Refreshes: f.refreshes, Failed: f.failed}
	for _, api := range APIs {
		adm, thr, peak := f.aws.Window(api, from, to)
		r.APIs[api] = APIFigures{PerSecond: float64(adm) / float64(to-from), Peak: peak, Quota: f.aws.Quota(api), Throttled: thr}
		r.Attempts += adm + thr
	}
	r.P50, r.P99, r.Max = f.quantile(0.5), f.quantile(0.99), f.quantile(1)
	from64, end := f.cfg.Warmup.Seconds(), (f.cfg.Warmup + f.cfg.Measure).Seconds()
	k := f.cfg.SecretsPerPod
	for p := range f.appOf {
		base := int(f.appOf[p]) * k
		for j := range k {
			for _, c := range f.aws.changed[base+j][f.held[p*k+j]:] {
				if c >= from64 && c < end {
					r.Undelivered++
				}
			}
		}
	}
	r.Wall = time.Since(began)
	return r
}

// quantile of the staleness histogram (the bin's upper edge).
func (f *fleet) quantile(q float64) time.Duration {
	if f.samples == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(f.samples)))
	var n int64
	for b, c := range f.stale {
		n += c
		if n >= want && c > 0 {
			return time.Duration(b+1) * 100 * time.Millisecond
		}
	}
	return time.Duration(len(f.stale)) * 100 * time.Millisecond
}
