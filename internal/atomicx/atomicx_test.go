package atomicx

import (
	"math"
	"sync/atomic"
	"testing"
)

// values exercises zero, all ones, and patterns whose halves differ, so that
// a 32-bit access where a 64-bit one was meant (or the reverse) shows.
var values = []uint64{
	0, 1, 0xFF, math.MaxUint32, math.MaxUint32 + 1,
	0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x8000000000000000, math.MaxUint64,
}

const (
	guard   = 0x5A5A5A5A5A5A5A5A
	guard32 = 0x5A5A5A5A
)

// TestStoreLoad64 checks each 64-bit function against sync/atomic (what the
// reference version is), and that it touches only its own word.
func TestStoreLoad64(t *testing.T) {
	for _, v := range values {
		var w [3]uint64
		w[0], w[2] = guard, guard

		StoreRelease64(&w[1], v)
		if got := atomic.LoadUint64(&w[1]); got != v {
			t.Errorf("StoreRelease64(%#x): atomic.LoadUint64 = %#x", v, got)
		}
		if got := LoadAcquire64(&w[1]); got != v {
			t.Errorf("StoreRelease64(%#x): LoadAcquire64 = %#x", v, got)
		}
		atomic.StoreUint64(&w[1], ^v)
		if got := LoadAcquire64(&w[1]); got != ^v {
			t.Errorf("atomic.StoreUint64(%#x): LoadAcquire64 = %#x", ^v, got)
		}
		if w[0] != guard || w[2] != guard {
			t.Errorf("value %#x: neighbours changed to %#x, %#x", v, w[0], w[2])
		}
	}
}

// TestStoreLoad32 is TestStoreLoad64 for the 32-bit functions.
func TestStoreLoad32(t *testing.T) {
	for _, v64 := range values {
		v := uint32(v64)
		var w [3]uint32
		w[0], w[2] = guard32, guard32

		StoreRelease32(&w[1], v)
		if got := atomic.LoadUint32(&w[1]); got != v {
			t.Errorf("StoreRelease32(%#x): atomic.LoadUint32 = %#x", v, got)
		}
		if got := LoadAcquire32(&w[1]); got != v {
			t.Errorf("StoreRelease32(%#x): LoadAcquire32 = %#x", v, got)
		}
		atomic.StoreUint32(&w[1], ^v)
		if got := LoadAcquire32(&w[1]); got != ^v {
			t.Errorf("atomic.StoreUint32(%#x): LoadAcquire32 = %#x", ^v, got)
		}
		if w[0] != guard32 || w[2] != guard32 {
			t.Errorf("value %#x: neighbours changed to %#x, %#x", v, w[0], w[2])
		}
	}
}

func TestFenceReturns(t *testing.T) {
	Fence()
}

func TestZeroAllocs(t *testing.T) {
	var w64 uint64
	var w32 uint32
	a := testing.AllocsPerRun(100, func() {
		StoreRelease64(&w64, 1)
		StoreRelease32(&w32, 1)
		_ = LoadAcquire64(&w64)
		_ = LoadAcquire32(&w32)
		Fence()
	})
	if a != 0 {
		t.Fatalf("atomicx functions allocate %v times per round, want 0", a)
	}
}
