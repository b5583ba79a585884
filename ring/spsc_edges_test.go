package ring

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// SPSC edge cases where a cached, sentinel or racing value could be
// trusted: a corrupt tail seen while waiting, words equal to the unsynced
// sentinel, an old producer's Close, a message visible only through its
// Seq, a reservation overtaken by another producer handle.

func newSPSCPair(t *testing.T, slots int) (*SPSC, *SPSC) {
	t.Helper()
	r, mem := newHeapRing(t, kindSPSC, Config{Slots: slots, SlotSize: 16})
	return r.(*SPSC), attachHeap(t, kindSPSC, mem).(*SPSC)
}

// TestCorruptTailSeenWhileWaiting: a corrupt producer word that the
// waiter's readiness check sees must surface as ErrCorrupt from the next
// pops, never as a delivered slot that was not published.
func TestCorruptTailSeenWhileWaiting(t *testing.T) {
	_, cons := newSPSCPair(t, 4)
	buf := make([]byte, 16)
	if _, err := cons.TryPop(buf); err != ErrEmpty {
		t.Fatalf("empty pop: %v", err)
	}
	atomic.StoreUint64(&cons.prod.Pos, 100) // a hostile peer: 100 messages in a 4-slot ring
	if !cons.ready(false) {
		t.Fatal("ready(false) ignores a corrupt tail: the waiter would sleep on it")
	}
	for i := 0; i < 2*tailEvery; i++ {
		n, err := cons.TryPop(buf)
		if err == nil {
			t.Fatalf("pop %d delivered %d bytes from an unpublished slot", i, n)
		}
		if errors.Is(err, ErrCorrupt) {
			return
		}
	}
	t.Fatal("no ErrCorrupt within two empty-poll rounds")
}

// TestSentinelWordsRefused: shared words equal to the private unsynced
// sentinel (all ones) are refused, not mistaken for a synced position.
func TestSentinelWordsRefused(t *testing.T) {
	prod, cons := newSPSCPair(t, 4)
	atomic.StoreUint64(&prod.prod.Pos, ^uint64(0))
	atomic.StoreUint64(&prod.cons.Pos, ^uint64(0)-1)
	if err := prod.TryPush([]byte("x")); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("push on an all-ones producer word: %v", err)
	}
	if got := atomic.LoadUint64(&prod.prod.Pos); got != ^uint64(0) {
		t.Fatalf("producer word changed to %#x: a push wrapped it and cleared the closed bit", got)
	}
	atomic.StoreUint64(&cons.prod.Pos, 0)
	atomic.StoreUint64(&cons.cons.Pos, ^uint64(0))
	if _, err := cons.TryPop(make([]byte, 16)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("pop on an all-ones consumer word: %v", err)
	}
}

// TestOldProducerCloseKeepsSuccessorsStream: Close after Detach does
// nothing, and Close of a producer that another handle published after
// does not end that handle's stream.
func TestOldProducerCloseKeepsSuccessorsStream(t *testing.T) {
	a, b := newSPSCPair(t, 4)
	if err := a.TryPush([]byte("a")); err != nil {
		t.Fatal(err)
	}
	a.Detach()
	a.Close()
	if b.IsClosed() { // a reads nothing once detached: ask the other handle
		t.Fatal("Close after Detach ended the stream")
	}
	c, d := newSPSCPair(t, 4)
	if err := c.TryPush([]byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := d.TryPush([]byte("d")); err != nil { // d takes the producer side over
		t.Fatal(err)
	}
	c.Close()
	if d.IsClosed() {
		t.Fatal("the replaced producer's Close ended its successor's stream")
	}
	if err := d.TryPush([]byte("e")); err != nil {
		t.Fatalf("successor's push: %v", err)
	}
}

// TestPopBatchTakesSeqVisibleMessage: a message whose slot Seq is stored
// but whose Tail publish has not landed (a producer mid-publish, or dead
// there) is taken by PopBatch as by TryPop, so a blocked PopBatch does not
// spin on a readiness that its own try never agrees with.
func TestPopBatchTakesSeqVisibleMessage(t *testing.T) {
	for _, k := range []int{1, 2} {
		r, _ := newSPSCPair(t, 4)
		writeUnpublished(r, 0, "seq")
		bufs := make([][]byte, k)
		for i := range bufs {
			bufs[i] = make([]byte, 16)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n, err := r.PopBatch(ctx, bufs)
		cancel()
		if err != nil || n != 1 || string(bufs[0]) != "seq" {
			t.Fatalf("PopBatch(%d): %d, %v, %q", k, n, err, bufs[0])
		}
	}
}

// TestReservationVoidedByTakeover: a producer whose reservation was
// overtaken by another producer handle is fenced: its pushes and its
// Commit say ErrFenced and publish nothing.
func TestReservationVoidedByTakeover(t *testing.T) {
	a, b := newSPSCPair(t, 4)
	res, err := a.TryReserve(3)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.TryPush([]byte("b")); err != nil { // b takes over (a is paused, say)
		t.Fatal(err)
	}
	if err := a.TryPush([]byte("a")); err != ErrFenced {
		t.Fatalf("old producer's push after the takeover: %v, want ErrFenced", err)
	}
	if err := a.Commit(res, 3); err != ErrFenced {
		t.Fatalf("Commit of the overtaken reservation: %v, want ErrFenced", err)
	}
	buf := make([]byte, 16)
	if n, err := b.TryPop(buf); err != nil || string(buf[:n]) != "b" {
		t.Fatalf("pop: %q, %v; want b", buf[:n], err)
	}
	if _, err := b.TryPop(buf); err != ErrEmpty {
		t.Fatalf("second pop: %v, want ErrEmpty (the fenced handle published nothing)", err)
	}
}
