package envexec

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"time"
	"unsafe"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
)

// Watching a directory.
const (
	// DefaultDebounce is the quiet time after a swap before the set is read:
	// swaps in a burst are read once, as the last one left the set.
	DefaultDebounce = time.Second
	// maxSettle bounds the wait of a debounce that new swaps keep extending.
	maxSettle = 5 * DefaultDebounce
	// safetyPoll is how often the watcher also compares ..data when inotify
	// works (an event queue overflow, a filesystem that sends no events).
	safetyPoll = 30 * time.Second
	// DefaultPoll is the polling interval when inotify is unavailable (the
	// node's fs.inotify.max_user_instances used up).
	DefaultPoll = 2 * time.Second
)

// inotifyInit is inotify_init1(2) (tests make it fail, as on a node out of
// inotify instances).
var inotifyInit = unix.InotifyInit1

// watcher reports real changes of the file set: emit is called with each
// new set whose content differs from the last one reported (or the first,
// initial), never for a failed refresh, until ctx ends.
type watcher interface {
	run(ctx context.Context, log logr.Logger, initial []secrets.File, emit func([]secrets.File))
}

// dirWatcher watches a directory managed by the atomic writer (or the
// kubelet's, the same scheme): a change is a swap of ..data to a generation
// whose content differs. A refresh that fails never swaps ..data (the
// writer's commit point is that rename), so it is never reported.
//
// It watches with inotify for the rename onto ..data (IN_MOVED_TO; IN_CREATE
// for a first link): a change is seen at once and an idle set costs
// nothing. A bounded poll of the link's target backs it up: every
// safetyPoll with inotify, every poll without it (inotify instances are a
// per-user, per-node limit that a busy node can exhaust; failing the app for
// that would be worse than a two-second delay). Both work on a read-only
// bind mount: inotify reports changes made through any mount of the
// filesystem, and a readlink is all the poll needs.
type dirWatcher struct {
	dir string
	// gen is the generation the initial set was read from.
	gen      string
	debounce time.Duration
	poll     time.Duration
}

func (w *dirWatcher) run(ctx context.Context, log logr.Logger, initial []secrets.File, emit func([]secrets.File)) {
	debounce, poll := w.debounce, w.poll
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	events, err := watchDataLink(ctx, w.dir)
	every := safetyPoll
	if err != nil {
		log.Info("inotify unavailable: polling the secrets directory", "interval", poll, "error", err.Error())
		every = poll
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	applied, seen := initial, w.gen
	var (
		settle   *time.Timer
		settleC  <-chan time.Time
		armedAt  time.Time
		arm      func()
		disarmed = func() bool { return settleC == nil }
	)
	arm = func() {
		switch {
		case disarmed():
			armedAt = time.Now()
			settle = time.NewTimer(debounce)
			settleC = settle.C
		case time.Since(armedAt)+debounce <= maxSettle:
			settle.Reset(debounce)
		}
	}
	// A swap between the initial read and the watch sent no event to it:
	// compare once now, or it would wait for the next poll (30 s with inotify).
	if g := generation(w.dir); g != "" && g != seen {
		arm()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				log.Info("inotify watch ended: polling the secrets directory", "interval", poll)
				tick.Reset(poll)
				continue
			}
			arm()
		case <-tick.C:
			if g := generation(w.dir); g != "" && g != seen && disarmed() {
				arm()
			}
		case <-settleC:
			settleC = nil
			if generation(w.dir) == seen {
				continue // an event about another entry, or a swap back
			}
			files, gen, err := readDir(w.dir)
			if err != nil {
				log.Error(err, "reading the changed file set failed; the app keeps running as it is")
				continue // seen is unchanged: the next poll or event tries again
			}
			seen = gen
			if sameSet(applied, files) {
				log.V(1).Info("new generation with the same content", "generation", gen)
				continue
			}
			applied = files
			emit(files)
		}
	}
}

// watchDataLink starts an inotify watch of dir and returns a channel that
// receives after each event that may be a swap of ..data (a rename onto it,
// its creation, a queue overflow); it is closed when the watch ends (dir
// removed or unmounted, ctx done).
func watchDataLink(ctx context.Context, dir string) (<-chan struct{}, error) {
	fd, err := inotifyInit(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO|unix.IN_CREATE|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF); err != nil {
		_ = unix.Close(fd)
		return nil, os.NewSyscallError("inotify_add_watch", err)
	}
	// A non-blocking descriptor is read through the runtime's poller, so
	// Close unblocks the reader.
	f := os.NewFile(uintptr(fd), "inotify")
	out := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		_ = f.Close()
	}()
	go func() {
		defer close(out)
		buf := make([]byte, 16<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrClosed) {
					_ = f.Close()
				}
				return
			}
			relevant, ended := parseEvents(buf[:n])
			if relevant {
				select {
				case out <- struct{}{}:
				default:
				}
			}
			if ended {
				_ = f.Close()
				return
			}
		}
	}()
	return out, nil
}

// parseEvents reads a buffer of inotify events: relevant when one may be a
// swap of ..data, ended when the watch is gone.
func parseEvents(b []byte) (relevant, ended bool) {
	const hdr = unix.SizeofInotifyEvent
	for len(b) >= hdr {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0])) //nolint:gosec // the kernel's layout, length checked
		end := hdr + int(ev.Len)
		if end > len(b) {
			return relevant, ended
		}
		name := string(trimNUL(b[hdr:end]))
		switch {
		case ev.Mask&unix.IN_Q_OVERFLOW != 0:
			relevant = true
		case ev.Mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_UNMOUNT) != 0:
			relevant, ended = true, true
		case name == atomicdir.DataLink:
			relevant = true
		}
		b = b[end:]
	}
	return relevant, ended
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// fetchWatcher is the fetch source's watcher: it loads the class every
// interval ±10 % and reports a set that differs from the last one; a failed
// fetch is logged and changes nothing.
type fetchWatcher struct {
	f        *fetcher
	interval time.Duration
}

func (w *fetchWatcher) run(ctx context.Context, log logr.Logger, initial []secrets.File, emit func([]secrets.File)) {
	applied := initial
	for {
		t := time.NewTimer(jitter(w.interval, rand.Float64())) //nolint:gosec // jitter, not security
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, min(w.interval, firstFetchTimeout))
		files, err := w.f.load(lctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Error(err, "refresh failed; the app keeps running as it is")
		case sameSet(applied, files):
			log.V(1).Info("secrets unchanged", "files", len(files))
		default:
			applied = files
			emit(files)
		}
	}
}
