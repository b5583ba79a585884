package spin

import (
	"math"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmring/shmring/internal/cpu"
)

// runnable returns the methods that may run on this machine: those the
// build implements and the CPU reports, i.e. those Select can return. On
// a CPU with MONITORX or WAITPKG this includes the hardware waits, so the
// tests below exercise them where they exist; elsewhere it never does.
func runnable() []Method {
	info := cpu.Detect()
	var ms []Method
	for m := range Method(numMethods) {
		if thisBuild.has(m) && onCPU(m, info) {
			ms = append(ms, m)
		}
	}
	return ms
}

// padded keeps a test's word on a cache line of its own, as a ring's is.
type padded struct {
	_ [128]byte
	v uint32
	_ [128]byte
}

// padded64 is padded for a 64-bit word (8-aligned: the first field after
// the array is at offset 128).
type padded64 struct {
	_ [128]byte
	v uint64
	_ [128]byte
}

// widths are the two word sizes; each gives a fresh word, an old value,
// and the new value another goroutine stores. The 64-bit change touches
// only the top bit, as a ring close does, so a wait that compared only the
// low half would miss it.
var widths = []struct {
	name     string
	old, new uint64
	word     func() word
}{
	{"32", 7, 8, func() word { return word{unsafe.Pointer(&new(padded).v), false} }},
	{"64", 7, 7 | 1<<63, func() word { return word{unsafe.Pointer(&new(padded64).v), true} }},
}

// store writes v to w atomically (release, for the waiter's acquire).
func (w word) store(v uint64) {
	if w.wide {
		atomic.StoreUint64((*uint64)(w.p), v)
		return
	}
	atomic.StoreUint32((*uint32)(w.p), uint32(v))
}

// TestWaitChangeWakes stores to the word from another goroutine while the
// wait runs with a budget far longer than the store's delay: the wait must
// return true, after the store (it sees the new value), and long before
// its budget.
func TestWaitChangeWakes(t *testing.T) {
	const budget = 5 * time.Second
	for _, m := range runnable() {
		for _, wd := range widths {
			t.Run(m.String()+"/"+wd.name, func(t *testing.T) {
				w := wd.word()
				w.store(wd.old)
				go func() {
					time.Sleep(2 * time.Millisecond)
					w.store(wd.new)
				}()
				start := time.Now()
				ok := waitChange(m, w, wd.old, budget)
				el := time.Since(start)
				if !ok {
					t.Fatalf("returned false after %v with a store at 2ms", el)
				}
				if got := w.load(); got != wd.new {
					t.Fatalf("returned true but the word is %#x", got)
				}
				if el >= budget/2 {
					t.Errorf("took %v: woke on the budget, not on the store", el)
				}
				t.Logf("%v: woke %v after start (store at ~2ms)", m, el)
			})
		}
	}
}

// TestWaitChangeBudgetExpires waits on a word nobody writes: the wait
// must return false, after about its budget, and not hang.
func TestWaitChangeBudgetExpires(t *testing.T) {
	const budget = 3 * time.Millisecond
	for _, m := range runnable() {
		for _, wd := range widths {
			t.Run(m.String()+"/"+wd.name, func(t *testing.T) {
				w := wd.word()
				start := time.Now()
				ok := waitChange(m, w, 0, budget)
				el := time.Since(start)
				if ok {
					t.Fatalf("returned true with no store")
				}
				// TSC budgets rest on a calibrated rate: allow half.
				if el < budget/2 || el > 2*time.Second {
					t.Errorf("returned after %v, budget %v", el, budget)
				}
			})
		}
	}
}

func TestWaitChangeNoWait(t *testing.T) {
	for _, m := range runnable() {
		var w padded
		w.v = 5
		for _, budget := range []time.Duration{0, -1, math.MinInt64, time.Hour} {
			if !waitChange32(m, &w.v, 4, budget) {
				t.Errorf("%v: word already changed, budget %v: returned false", m, budget)
			}
		}
		for _, budget := range []time.Duration{0, -time.Second} {
			if waitChange32(m, &w.v, 5, budget) {
				t.Errorf("%v: word unchanged, budget %v: returned true", m, budget)
			}
		}
	}
	var w padded
	if WaitChange32(&w.v, 0, 0) || !WaitChange32(&w.v, 1, 0) {
		t.Error("WaitChange32 with a zero budget must only compare")
	}
	var w64 padded64
	w64.v = 1 << 32
	if WaitChange64(&w64.v, 1<<32, 0) || !WaitChange64(&w64.v, 0, 0) {
		t.Error("WaitChange64 with a zero budget must compare all 64 bits")
	}
}

func TestWaitChangeZeroAllocs(t *testing.T) {
	for _, m := range runnable() {
		var w padded
		if a := testing.AllocsPerRun(50, func() { waitChange32(m, &w.v, 0, time.Microsecond) }); a != 0 {
			t.Errorf("%v: %v allocations per wait, want 0", m, a)
		}
	}
	var w padded
	var w64 padded64
	if a := testing.AllocsPerRun(50, func() {
		WaitChange32(&w.v, 0, time.Microsecond)
		WaitChange64(&w64.v, 0, time.Microsecond)
		PauseFor(time.Microsecond)
	}); a != 0 {
		t.Errorf("WaitChange32+WaitChange64+PauseFor: %v allocations, want 0", a)
	}
}

func TestPauseFor(t *testing.T) {
	start := time.Now()
	PauseFor(0)
	PauseFor(-time.Hour)
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Errorf("PauseFor(<=0) took %v", el)
	}
	const d = 2 * time.Millisecond
	start = time.Now()
	PauseFor(d)
	if el := time.Since(start); el < d/2 || el > 2*time.Second {
		t.Errorf("PauseFor(%v) took %v", d, el)
	}
}

func TestTicksFor(t *testing.T) {
	tests := []struct {
		d    time.Duration
		rate uint64
		want uint64
	}{
		{time.Second, 1 << 16, 1e9},
		{time.Microsecond, 3 << 16, 3000},
		{time.Microsecond, perNs16(2_450_000_000), 2449}, // 16.16 truncation
		{time.Second, perNs16(24_000_000), 23_986_816},   // 24 MHz counter, truncated rate
		{0, 3 << 16, 0},
		{-time.Second, 3 << 16, 0},
		{math.MaxInt64, math.MaxUint64 >> 8, math.MaxUint64}, // saturates
	}
	for _, tt := range tests {
		if got := ticksFor(tt.d, tt.rate); got != tt.want {
			t.Errorf("ticksFor(%v, %d) = %d, want %d", tt.d, tt.rate, got, tt.want)
		}
	}
	for _, tt := range []struct{ hz, want uint64 }{{1e9, 1 << 16}, {3e9, 3 << 16}, {0, 1}, {1, 1}} {
		if got := perNs16(tt.hz); got != tt.want {
			t.Errorf("perNs16(%d) = %d, want %d", tt.hz, got, tt.want)
		}
	}
}
