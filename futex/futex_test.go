package futex_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/futex"
)

// Cross-process child: when envChild is set the test binary is not running
// tests but playing the waiter of TestCrossProcess on the arena at envArena.
const (
	envChild = "SHMRING_FUTEX_CHILD"
	envArena = "SHMRING_FUTEX_ARENA"
)

// Layout of the 64-byte region shared with the child.
const (
	regionName = "futex"
	offWord    = 0 // the futex word: 0 until the parent releases the child
	offResult  = 4 // the child stores 2 here once it has seen the word change
	offReady   = 8 // the child stores 1 here just before its first Wait
)

// Bounds on every wait in these tests: nothing spins or sleeps unbounded.
const (
	wakeRetryFor = 5 * time.Second  // how long to keep re-issuing Wake
	waiterFor    = 10 * time.Second // the waiters' own Wait timeout
	resultFor    = 15 * time.Second // how long to wait for a waiter's result
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		if err := child(os.Getenv(envArena)); err != nil {
			fmt.Fprintln(os.Stderr, "futex child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// word returns the 32-bit word at off in b.
func word(b []byte, off int) *uint32 {
	_ = b[off+3] // bounds check for all four bytes
	// unsafe: the region is 64-byte aligned and off is a multiple of 4, so
	// the word is aligned and, by the check above, in bounds; the arena
	// stays mapped until every user of the word has finished.
	return (*uint32)(unsafe.Pointer(&b[off]))
}

// child is the cross-process waiter: it sleeps on the word until the parent
// changes it, then reports 2.
func child(path string) error {
	a, err := arena.Open(path)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.Lookup(regionName)
	if err != nil {
		return err
	}
	b := r.Bytes()
	w := word(b, offWord)
	deadline := time.Now().Add(waiterFor)
	// Release: tells the parent it may start waking; it carries no data.
	atomic.StoreUint32(word(b, offReady), 1)
	// Acquire: pairs with the parent's store of 1 before its final Wake.
	for atomic.LoadUint32(w) == 0 {
		// A lost cross-process wake-up would surface here as ErrTimeout.
		if err := futex.Wait(w, 0, time.Until(deadline)); err != nil {
			return err
		}
	}
	// Release: the parent reads it after our exit status.
	atomic.StoreUint32(word(b, offResult), 2)
	return nil
}

// awaitFlag polls *flag (bounded) until it is non-zero.
func awaitFlag(t *testing.T, flag *uint32, what string) {
	t.Helper()
	deadline := time.Now().Add(wakeRetryFor)
	// Acquire: pairs with the waiter's store just before it calls Wait.
	for atomic.LoadUint32(flag) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s never set within %v", what, wakeRetryFor)
		}
		time.Sleep(time.Millisecond)
	}
}

// outcome is the result of a waiter (a goroutine or a child process); err
// may be read once done is closed, so any number of helpers can watch it.
type outcome struct {
	done chan struct{}
	err  error
}

// goWait runs f in a new goroutine and records its result.
func goWait(f func() error) *outcome {
	o := &outcome{done: make(chan struct{})}
	go func() {
		o.err = f()
		close(o.done) // publishes o.err
	}()
	return o
}

// result waits, bounded by resultFor, for the waiter to return.
func (o *outcome) result(t *testing.T) error {
	t.Helper()
	select {
	case <-o.done:
		return o.err
	case <-time.After(resultFor):
		t.Fatalf("waiter did not return within %v", resultFor)
		return nil
	}
}

// wakeOne re-issues Wake(addr, 1) until it reports a waiter woken, which
// proves the waiter was asleep in the kernel on this very word. Wake is
// issued without changing the word, so the waiter cannot take the EAGAIN
// path and leave nobody to wake. It fails if the waiter returns first
// (before any wake) or wakeRetryFor passes.
func wakeOne(t *testing.T, addr *uint32, o *outcome) {
	t.Helper()
	deadline := time.Now().Add(wakeRetryFor)
	for {
		n, err := futex.Wake(addr, 1)
		if err != nil {
			t.Fatalf("Wake: %v", err)
		}
		switch n {
		case 0:
		case 1:
			return
		default:
			t.Fatalf("Wake(addr, 1) woke %d", n)
		}
		select {
		case <-o.done:
			t.Fatalf("waiter returned %v before it was woken", o.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Wake found no sleeper within %v", wakeRetryFor)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWait(t *testing.T) {
	const slack = 2 * time.Second // scheduling noise allowed on top of a timeout
	tests := []struct {
		name    string
		word    uint32
		val     uint32
		timeout time.Duration
		want    error
	}{
		{"differs/no timeout", 1, 0, -1, nil},
		{"differs/zero timeout", 1, 0, 0, nil},
		{"differs/long timeout", 7, 8, time.Hour, nil},
		{"differs/max timeout", 0, math.MaxUint32, math.MaxInt64, nil},
		{"equal/zero timeout", 5, 5, 0, futex.ErrTimeout},
		{"equal/1ns", 5, 5, time.Nanosecond, futex.ErrTimeout},
		{"equal/1ms", 0, 0, time.Millisecond, futex.ErrTimeout},
		{"equal/100ms", math.MaxUint32, math.MaxUint32, 100 * time.Millisecond, futex.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.word
			start := time.Now()
			err := futex.Wait(&w, tt.val, tt.timeout)
			took := time.Since(start)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Wait = %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				if took >= slack {
					t.Fatalf("Wait on a differing word took %v", took)
				}
				return
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%v does not match os.ErrDeadlineExceeded", err)
			}
			if took < tt.timeout || took >= tt.timeout+slack {
				t.Fatalf("timed out after %v, want [%v, %v)", took, tt.timeout, tt.timeout+slack)
			}
		})
	}
}

// TestWakeWakesSleeper: a goroutine asleep in Wait is woken by exactly one
// Wake, which counts it.
func TestWakeWakesSleeper(t *testing.T) {
	if !futex.Supported {
		t.Skip("the polling fallback has no sleepers to count")
	}
	var w, waiting uint32
	o := goWait(func() error {
		// Release: lets the test start waking; Wait's own compare decides.
		atomic.StoreUint32(&waiting, 1)
		return futex.Wait(&w, 0, waiterFor)
	})
	awaitFlag(t, &waiting, "waiting flag")
	wakeOne(t, &w, o)
	if err := o.result(t); err != nil {
		t.Fatalf("woken Wait = %v, want nil", err)
	}
	if n, err := futex.Wake(&w, 1); n != 0 || err != nil {
		t.Fatalf("second Wake = %d, %v; want 0, nil", n, err)
	}
}

// TestStoreThenWake is the protocol callers use: change the word, then Wake;
// the waiter re-checks the word in a loop. It holds on every platform.
func TestStoreThenWake(t *testing.T) {
	var w, waiting, seen uint32
	o := goWait(func() error {
		atomic.StoreUint32(&waiting, 1) // release: no data, only pacing
		deadline := time.Now().Add(waiterFor)
		// Acquire: pairs with the store of 1 below.
		for atomic.LoadUint32(&w) == 0 {
			if err := futex.Wait(&w, 0, time.Until(deadline)); err != nil {
				return err
			}
		}
		seen = atomic.LoadUint32(&w) // published by close(o.done)
		return nil
	})
	awaitFlag(t, &waiting, "waiting flag")
	time.Sleep(10 * time.Millisecond) // most likely asleep by now; correct either way
	atomic.StoreUint32(&w, 1)         // release: published before the Wake
	if _, err := futex.WakeAll(&w); err != nil {
		t.Fatal(err)
	}
	if err := o.result(t); err != nil || seen != 1 {
		t.Fatalf("waiter saw %d, %v; want 1, nil", seen, err)
	}
}

// TestWakeLimit: with several sleepers, Wake(addr, 1) never reports more
// than one, and the counts add up to the number of sleepers.
func TestWakeLimit(t *testing.T) {
	if !futex.Supported {
		t.Skip("the polling fallback has no sleepers to count")
	}
	const sleepers = 3
	var w uint32
	var waiters [sleepers]*outcome
	for i := range waiters {
		waiters[i] = goWait(func() error { return futex.Wait(&w, 0, waiterFor) })
	}
	woken := 0
	deadline := time.Now().Add(wakeRetryFor)
	for woken < sleepers {
		n, err := futex.Wake(&w, 1)
		if err != nil || n < 0 || n > 1 {
			t.Fatalf("Wake(addr, 1) = %d, %v", n, err)
		}
		woken += n
		if time.Now().After(deadline) {
			t.Fatalf("woke %d of %d sleepers within %v", woken, sleepers, wakeRetryFor)
		}
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	for _, o := range waiters {
		if err := o.result(t); err != nil {
			t.Fatalf("woken Wait = %v", err)
		}
	}
	if n, err := futex.WakeAll(&w); n != 0 || err != nil {
		t.Fatalf("WakeAll after all woke = %d, %v", n, err)
	}
}

func TestWakeNoWaiters(t *testing.T) {
	// n <= 0 and n > MaxInt32 (MaxInt, on 64-bit) mean "all".
	for _, n := range []int{1, 2, 0, -1, math.MaxInt32, math.MaxInt} {
		var w uint32
		if got, err := futex.Wake(&w, n); got != 0 || err != nil {
			t.Errorf("Wake(n=%d) with nobody waiting = %d, %v; want 0, nil", n, got, err)
		}
	}
	var w uint32
	if got, err := futex.WakeAll(&w); got != 0 || err != nil {
		t.Errorf("WakeAll with nobody waiting = %d, %v; want 0, nil", got, err)
	}
}

// TestCrossProcess: a child process, mapping the same arena file at its own
// address, sleeps on a word that this process wakes through its mapping.
func TestCrossProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "arena")
	a, err := arena.Create(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, err := a.Alloc(regionName, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	b := r.Bytes()
	w := word(b, offWord)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	// A race-enabled child would otherwise sleep a second in its exit hook.
	gorace := "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), envChild+"=1", envArena+"="+path, gorace)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child := goWait(cmd.Wait)
	defer func() {
		select {
		case <-child.done:
		default:
			cmd.Process.Kill() // a test failure left it waiting
			<-child.done
		}
	}()

	awaitFlag(t, word(b, offReady), "child ready flag")
	if futex.Supported {
		// The child is asleep on the word only if this Wake, keyed by the
		// file rather than by our address, finds it.
		wakeOne(t, w, child)
	}
	atomic.StoreUint32(w, 1) // release: the child's loop exits on seeing it
	if _, err := futex.WakeAll(w); err != nil {
		t.Fatal(err)
	}
	if err := child.result(t); err != nil {
		t.Fatalf("child: %v", err)
	}
	// Acquire: the child stored it before exiting, and its exit was observed.
	if got := atomic.LoadUint32(word(b, offResult)); got != 2 {
		t.Fatalf("child wrote %d, want 2", got)
	}
}

func TestInvalidAddress(t *testing.T) {
	buf := make([]uint64, 2) // 8-byte aligned backing for aligned and unaligned words
	base := unsafe.Pointer(&buf[0])
	at := func(off uintptr) *uint32 {
		// unsafe: off < 8, so the word lies inside buf; only Wait and Wake
		// see the pointer, and they reject it before touching the memory
		// unless it is aligned.
		return (*uint32)(unsafe.Add(base, off))
	}
	tests := []struct {
		name string
		addr *uint32
		want error // nil: valid
	}{
		{"nil", nil, futex.ErrNilAddress},
		{"offset 1", at(1), futex.ErrUnaligned},
		{"offset 2", at(2), futex.ErrUnaligned},
		{"offset 3", at(3), futex.ErrUnaligned},
		{"offset 4", at(4), nil},
	}
	check := func(t *testing.T, op string, err, want error) {
		t.Helper()
		if want == nil {
			if err != nil && !errors.Is(err, futex.ErrTimeout) {
				t.Errorf("%s on a valid address: %v", op, err)
			}
			return
		}
		if !errors.Is(err, want) || !errors.Is(err, os.ErrInvalid) {
			t.Errorf("%s = %v, want %v (and os.ErrInvalid)", op, err, want)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "Wait", futex.Wait(tt.addr, 0, 0), tt.want)
			n, err := futex.Wake(tt.addr, 1)
			check(t, "Wake", err, tt.want)
			if n != 0 {
				t.Errorf("Wake woke %d", n)
			}
			_, err = futex.WakeAll(tt.addr)
			check(t, "WakeAll", err, tt.want)
		})
	}
}

// TestZeroAllocs: the calls a ring makes on its blocking path allocate
// nothing.
func TestZeroAllocs(t *testing.T) {
	var w uint32
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = futex.Wake(&w, 1)
		_, _ = futex.WakeAll(&w)
		_ = futex.Wait(&w, 1, -1) // EAGAIN
		_ = futex.Wait(&w, 0, 0)  // ErrTimeout
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per call set, want 0", allocs)
	}
}

// BenchmarkWakeNoWaiters is the cost of one FUTEX_WAKE system call that
// finds nobody asleep: what a producer pays per wake when a consumer is not
// (or not yet) sleeping.
func BenchmarkWakeNoWaiters(b *testing.B) {
	var w uint32
	b.ReportAllocs()
	for b.Loop() {
		if _, err := futex.Wake(&w, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWaitEAGAIN is the cost of a Wait whose word already differs: one
// FUTEX_WAIT system call that returns EAGAIN without sleeping.
func BenchmarkWaitEAGAIN(b *testing.B) {
	w := uint32(1)
	b.ReportAllocs()
	for b.Loop() {
		if err := futex.Wait(&w, 0, -1); err != nil {
			b.Fatal(err)
		}
	}
}
