package ring

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An SPSC handle on the overflow entry 0 (table full), used by a producer
// and a consumer goroutine at once: exact counts after every op, no race.
func TestCountersRegressOverflowSPSCTwoGoroutines(t *testing.T) {
	r, mem := newHeapRing(t, kindSPSC, Config{Slots: 8, SlotSize: 32, Peers: 2})
	defer r.Close()
	h := attachHeap(t, kindSPSC, mem).(*SPSC) // entry 0
	if h.peerIdx != 0 {
		t.Fatalf("peerIdx %d", h.peerIdx)
	}
	const N = 5000
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < N; {
			if err := h.TryPush(make([]byte, 3)); err == nil {
				i++
			}
		}
	}()
	var empties uint64
	go func() {
		defer wg.Done()
		var buf [32]byte
		for i := 0; i < N; {
			if _, err := h.TryPop(buf[:]); err == nil {
				i++
			} else if errors.Is(err, ErrEmpty) {
				empties++
			}
		}
	}()
	wg.Wait()
	st := r.Stats()
	if st.BytesIn != 3*N || st.BytesOut != 3*N || st.EmptyEvents != empties {
		t.Fatalf("BytesIn %d BytesOut %d EmptyEvents %d (want %d)", st.BytesIn, st.BytesOut, st.EmptyEvents, empties)
	}
	e0 := h.peerAt(0)
	if atomic.LoadUint64(&e0.MsgsIn) != N || atomic.LoadUint64(&e0.MsgsOut) != N {
		t.Fatalf("entry 0: %d %d", e0.MsgsIn, e0.MsgsOut)
	}
	if s := h.spill; s.MsgsIn|s.BytesIn|s.MsgsOut|s.BytesOut|s.EmptyEvents != 0 {
		t.Fatalf("spill not empty: %+v", *s)
	}
	hb := atomic.LoadInt64(&e0.HeartbeatUnixNano)
	time.Sleep(2 * time.Millisecond)
	for i := 0; i < 64; i++ {
		_ = h.TryPush([]byte{1})
		var b [32]byte
		_, _ = h.TryPop(b[:])
	}
	if atomic.LoadInt64(&e0.HeartbeatUnixNano) == hb {
		t.Fatal("entry 0 heartbeat not stamped in 64 operations")
	}
	h.Close()
	if st := r.Stats(); st.BytesIn != 3*N+64 || st.BytesOut != 3*N+64 {
		t.Fatalf("after close: %d %d", st.BytesIn, st.BytesOut)
	}
}

// Own entry: LastActive moves within 64 operations, and at a sleep.
func TestCountersRegressOwnEntryHeartbeat(t *testing.T) {
	r, mem := newHeapRing(t, kindSPSC, Config{Slots: 128, SlotSize: 32})
	defer r.Close()
	p := r.(*SPSC)
	c := attachHeap(t, kindSPSC, mem).(*SPSC)
	defer c.Close()
	e := p.peer
	for round := 0; round < 5; round++ {
		hb := atomic.LoadInt64(&e.HeartbeatUnixNano)
		time.Sleep(time.Millisecond)
		for i := 0; i < 64; i++ {
			if err := p.TryPush([]byte{1}); err != nil {
				t.Fatal(err)
			}
			var b [32]byte
			if _, err := c.TryPop(b[:]); err != nil {
				t.Fatal(err)
			}
		}
		if atomic.LoadInt64(&e.HeartbeatUnixNano) == hb {
			t.Fatalf("round %d: not stamped in 64 pushes (left %d)", round, p.p.pend.left)
		}
	}
}

// Empty polls on entry 0 count toward the heartbeat; on an own entry not.
func TestCountersRegressEmptyPollsHeartbeatConsistency(t *testing.T) {
	r, mem := newHeapRing(t, kindSPSC, Config{Slots: 8, SlotSize: 32, Peers: 2})
	defer r.Close()
	own := r.(*SPSC)
	shared := attachHeap(t, kindSPSC, mem).(*SPSC)
	defer shared.Close()
	var b [32]byte
	hbOwn := atomic.LoadInt64(&own.peer.HeartbeatUnixNano)
	hbSh := atomic.LoadInt64(&shared.peer.HeartbeatUnixNano)
	time.Sleep(time.Millisecond)
	for i := 0; i < 200; i++ {
		_, _ = own.TryPop(b[:])
		_, _ = shared.TryPop(b[:])
	}
	t.Logf("own stamped by empty polls: %v; entry 0 stamped by empty polls: %v",
		atomic.LoadInt64(&own.peer.HeartbeatUnixNano) != hbOwn,
		atomic.LoadInt64(&shared.peer.HeartbeatUnixNano) != hbSh)
}
