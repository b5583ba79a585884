package ring

// Regression tests from independent reviews of the claim repair: each
// forces the interleaving it names by calling the ring's internals in order.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// Recover/repairClaims memoise entry liveness for a whole pass: an entry
// found dead early in the pass and reused by a new handle meanwhile is
// still taken for dead, so the new (live) handle's tagged claim is
// repaired.
func TestRegressionMPMCStaleMemo(t *testing.T) {
	const slots = 4
	r, mem := newHeapRing(t, kindMPMC, Config{Slots: slots, SlotSize: 16, Peers: 3})
	m := r.(*MPMC)
	fakeDeadPeer(t, &m.core, 2, RoleConsumer)
	o := repairOpts{deadIdx: -1, memo: make([]memoEntry, m.g.peers)}
	if st := m.entryState(2, o); st != claimDead { // the pass looks at entry 2 early on
		t.Fatalf("entry 2: %v", st)
	}
	n := attachHeap(t, kindMPMC, mem).(*MPMC) // a new handle reuses entry 2
	if n.peerIdx != 2 {
		t.Fatalf("new handle took %d", n.peerIdx)
	}
	for i := 0; i < slots; i++ {
		if err := m.TryPush([]byte{'a' + byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := n.TryPeek() // live, tagged claim of position 0; ring full
	if err != nil {
		t.Fatal(err)
	}
	repaired := m.repairAt(0, o) // the same pass reaches position 0
	err = n.Release(msg)
	t.Logf("repairAt: %v; live handle's Release: %v", repaired, err)
	if repaired || err != nil {
		t.Errorf("a live, tagged claim was republished by a pass whose memo said its entry was dead")
	}
}

// The stall tracker is keyed by position only: time the slot spent in
// state A (a reservation) counts towards the claim timeout of the
// consumer that then holds it (state B).
func TestRegressionClaimTimeoutCountsPriorState(t *testing.T) {
	const timeout = 400 * time.Millisecond
	r, mem := newHeapRing(t, kindMPMC, Config{Slots: 2, SlotSize: 16, Peers: 8})
	p, err := Attach(mem, KindMPMC, WithClaimTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	c := attachHeap(t, kindMPMC, mem)
	res, err := r.TryReserve(1) // position 0
	if err != nil {
		t.Fatal(err)
	}
	if err := p.TryPush([]byte("1")); err != nil { // position 1: full
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { done <- p.Push(ctx, []byte("2")) }()
	time.Sleep(timeout / 2) // p sees slot 0 held by the reservation
	copy(res.Buf, "0")
	if err := r.Commit(res, 1); err != nil {
		t.Fatal(err)
	}
	msg, err := c.TryPeek() // c holds position 0 (state B for p)
	if err != nil {
		t.Fatal(err)
	}
	held := time.Now()
	time.Sleep(timeout * 3 / 4) // well below the timeout
	err = c.Release(msg)
	t.Logf("Release after holding %v (timeout %v): %v", time.Since(held), timeout, err)
	if err != nil {
		t.Errorf("consumer fenced after holding its claim %v < claim timeout %v", time.Since(held), timeout)
	}
	<-done
}

// Pid-test rings: between tryClaim's PID CAS and its StartTicks store
// (which comes after repairClaims, up to settleWait), the entry shows the
// new pid with the dead process's start time, which the pid test calls
// dead: a second attacher takes the same entry.
func TestRegressionTryClaimStartTicksWindow(t *testing.T) {
	r, mem := newHeapRing(t, kindMPMC, Config{Slots: 4, SlotSize: 16, Peers: 3})
	m := r.(*MPMC)
	fakeDeadPeer(t, &m.core, 2, RoleConsumer)
	atomic.StoreUint64(&m.peerAt(2).StartTicks, 12345) // the dead process's start time
	if err := m.TryPush([]byte("a")); err != nil {
		t.Fatal(err)
	}
	claimUntagged(t, m, 2, true)             // entry 2 died holding position 0, untagged
	atomic.StoreUint64(&m.peer.ConsClaim, 1) // a live word near it: the settle waits settleWait
	defer atomic.StoreUint64(&m.peer.ConsClaim, 0)
	type res struct {
		h   *MPMC
		err error
	}
	ch := make(chan res, 2)
	go func() { h, err := Attach(mem, KindMPMC); ch <- res{h.(*MPMC), err} }()
	time.Sleep(5 * time.Millisecond)
	go func() { h, err := Attach(mem, KindMPMC); ch <- res{h.(*MPMC), err} }()
	a, b := <-ch, <-ch
	if a.err != nil || b.err != nil {
		t.Fatal(a.err, b.err)
	}
	gen := atomic.LoadUint32(&m.peerAt(2).Generation)
	t.Logf("handles took entries %d (gen %d) and %d (gen %d); entry generation %d", a.h.peerIdx, a.h.peerGen, b.h.peerIdx, b.h.peerGen, gen)
	if a.h.peerIdx == b.h.peerIdx && a.h.peerIdx != 0 {
		t.Errorf("two live handles own entry %d; the one with generation %d has tags that read as dead", a.h.peerIdx, min(a.h.peerGen, b.h.peerGen))
	}
}
