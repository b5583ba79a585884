package ring

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/spin"
)

func TestSpinChoice(t *testing.T) {
	tests := []struct {
		m        spin.Method
		haveAddr bool
		iter     int
		want     spinAction
	}{
		{spin.MethodPause, true, 1, spinPause},
		{spin.MethodPause, true, 1000, spinPause}, // no hardware wait: spinStep as before
		{spin.MethodYield, true, 1000, spinPause},
		{spin.MethodNone, true, 1000, spinNothing},
		{spin.MethodNone, false, 1, spinNothing},
		{spin.MethodMWAITX, true, monitorAfter, spinPause}, // the first checks keep one pause
		{spin.MethodMWAITX, true, monitorAfter + 1, spinHardware},
		{spin.MethodMWAITX, false, 1000, spinPause}, // no address: spinStep
		{spin.MethodUMWAIT, true, 1000, spinHardware},
		{spin.MethodUMWAIT, false, 1000, spinPause},
		{spin.MethodTPAUSE, true, 1000, spinHardware},
		{spin.MethodWFE, true, 1000, spinHardware},
		{spin.MethodWFE, false, 1000, spinPause},
	}
	for _, tt := range tests {
		if got := spinChoice(tt.m, tt.haveAddr, tt.iter); got != tt.want {
			t.Errorf("spinChoice(%v, addr %v, iter %d) = %d, want %d", tt.m, tt.haveAddr, tt.iter, got, tt.want)
		}
	}
}

// TestSpinWaitLoop runs the loop the spin phase will run, with the
// process's chosen method: check the word with an acquire load, spinWait,
// repeat. A store from another goroutine must end it (bounded by a
// deadline), for both word widths and without an address.
func TestSpinWaitLoop(t *testing.T) {
	t.Logf("wait method: %s (%s)", spin.Chosen().Name, spin.Chosen().Reason)
	var w32 struct {
		_ [128]byte
		v uint32
		_ [128]byte
	}
	var w64 struct {
		_ [128]byte
		v uint64
		_ [128]byte
	}
	const deadline = 5 * time.Second
	go func() {
		time.Sleep(time.Millisecond)
		atomic.StoreUint32(&w32.v, 1)
		atomic.StoreUint64(&w64.v, 1<<63) // the top half only, as a close
	}()
	start := time.Now()
	for iter := 1; atomic.LoadUint32(&w32.v) == 0; iter++ {
		spinWait(&w32.v, 0, iter)
		if time.Since(start) > deadline {
			t.Fatal("32-bit: no store seen")
		}
	}
	for iter := 1; atomic.LoadUint64(&w64.v) == 0; iter++ {
		spinWait64(&w64.v, 0, iter)
		if time.Since(start) > deadline {
			t.Fatal("64-bit: no store seen")
		}
	}
	// Without an address, and with a word already changed, each step
	// returns (spinStep, or a wait that sees the change at once).
	for iter := 1; iter <= 2*fastChecks; iter++ {
		spinWait(nil, 0, iter)
		spinWait64(nil, 0, iter)
		spinWait(&w32.v, 0, iter)
		spinWait64(&w64.v, 0, iter)
	}
	if el := time.Since(start); el > deadline {
		t.Errorf("took %v", el)
	}
}

// TestSpinWaitBounded: a step on a word nobody writes returns after at
// most about the budget (plus one event-stream period with WFE).
func TestSpinWaitBounded(t *testing.T) {
	var w uint32
	start := time.Now()
	const steps = 100
	for iter := 1; iter <= steps; iter++ {
		spinWait(&w, 0, 1000+iter)
	}
	if el := time.Since(start); el > steps*200*time.Microsecond+time.Second {
		t.Errorf("%d steps took %v, budget %v each", steps, el, spinWaitBudget)
	}
}

func TestSpinWaitZeroAllocs(t *testing.T) {
	var w32 uint32
	var w64 uint64
	a := testing.AllocsPerRun(100, func() {
		spinWait(&w32, 0, 1)
		spinWait(&w32, 0, 100)
		spinWait64(&w64, 0, 100)
		spinWait(nil, 0, 100)
	})
	if a != 0 {
		t.Errorf("spinWait allocates %v times per step, want 0", a)
	}
}

// TestWatchNamesTheWordThatChanges: the word each kind's watch names for
// a waiting consumer (and an SPSC producer) changes when the other side
// makes the ring ready, so a monitored wait on it wakes.
func TestWatchNamesTheWordThatChanges(t *testing.T) {
	cfg := Config{Slots: 4, SlotSize: 8}
	load := func(a64 *uint64, a32 *uint32) uint64 {
		if a64 != nil {
			return atomic.LoadUint64(a64)
		}
		return uint64(atomic.LoadUint32(a32))
	}
	for _, k := range []ringKind{kindSPSC, kindMPMC} {
		r, _ := newHeapRing(t, k, cfg)
		buf := make([]byte, 8)
		if _, err := r.TryPop(buf); err != ErrEmpty { // a consumer operation: the side is synced
			t.Fatalf("%v: TryPop = %v, want ErrEmpty", k, err)
		}
		ops := r.(interface {
			watch(bool) (*uint64, *uint32)
		})
		a64, a32 := ops.watch(false)
		if a64 == nil && a32 == nil {
			t.Fatalf("%v: a consumer watches nothing", k)
		}
		before := load(a64, a32)
		if err := r.TryPush([]byte("m")); err != nil {
			t.Fatal(err)
		}
		if load(a64, a32) == before {
			t.Fatalf("%v: the consumer's watched word did not change on a push", k)
		}
	}
	r, _ := newHeapRing(t, kindSPSC, cfg)
	for i := 0; i < cfg.Slots; i++ {
		if err := r.TryPush([]byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	a64, a32 := r.(*SPSC).watch(true)
	before := load(a64, a32)
	if _, err := r.TryPop(make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if load(a64, a32) == before {
		t.Fatal("SPSC: the producer's watched word did not change on a pop")
	}
}
