package ring

// Regressions found by review of the broadcast ring.

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func posMsg(i uint64) []byte {
	var m [8]byte
	binary.LittleEndian.PutUint64(m[:], i)
	return m[:]
}

// A tethered subscriber joining at Oldest while the producer's cached
// limit is from before its join must still get every message from its
// second look at the tail on (an earlier lap formula skipped one).
func TestBroadcastJoinKeepsJoinTail(t *testing.T) {
	b, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 64})
	for i := uint64(0); i < 8; i++ {
		if err := b.TryPush(posMsg(i)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := b.TryReserve(8) // the producer looks at the cursors at tail 8: limit 12
	if err != nil {
		t.Fatal(err)
	}
	s := subscribeHeap(t, mem, SubscribeOptions{From: Oldest}) // its second tail: 8
	binary.LittleEndian.PutUint64(res.Buf, 8)
	if err := b.Commit(res, 8); err != nil {
		t.Fatal(err)
	}
	for i := uint64(9); i < 12; i++ {
		if err := b.TryPush(posMsg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.TryPush(posMsg(12)); !errors.Is(err, ErrFull) {
		t.Fatalf("push 12: %v, want ErrFull (the new subscriber's tether holds)", err)
	}
	var buf [64]byte
	n, err := s.TryPop(buf[:])
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(buf[:n]); got != 8 {
		t.Errorf("first message %d, want 8", got)
	}
}

// A message peeked by a tethered subscriber in its join window and
// rewritten while held: Release must say so (the caller read Data).
func TestBroadcastPeekJoinWindowReleaseLapped(t *testing.T) {
	b, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 64})
	for i := uint64(0); i < 6; i++ {
		if err := b.TryPush(posMsg(i)); err != nil {
			t.Fatal(err)
		}
	}
	s := subscribeHeap(t, mem, SubscribeOptions{From: Oldest}) // cursor 2; the producer's limit is 8
	m, err := s.TryPeek()
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(6); i < 8; i++ { // under the cached limit: rewrites the slots of 2 and 3
		if err := b.TryPush(posMsg(i)); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := s.Release(m); !errors.Is(err, ErrLapped) {
		t.Fatalf("Release of a message rewritten while held: %v, want ErrLapped", err)
	}
	var buf [64]byte
	n, err := s.TryPop(buf[:])
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(buf[:n]); got != 4 {
		t.Errorf("after the lap: %d, want 4 (the oldest still in the ring)", got)
	}
}

// A slot that reads "not yet" under a tail past it (a hostile Seq) is
// ErrCorrupt: Pop must not spin until its deadline, TryPop must not say
// ErrEmpty forever.
func TestBroadcastHostileSeqIsCorrupt(t *testing.T) {
	b, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 64})
	s := subscribeHeap(t, mem, SubscribeOptions{From: Newest})
	if err := b.TryPush(posMsg(0)); err != nil {
		t.Fatal(err)
	}
	storeRelease64(&b.bcastSlot(0).Seq, 0) // hostile
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var buf [64]byte
	if _, err := s.Pop(ctx, buf[:]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Pop: %v, want ErrCorrupt", err)
	}
	for k := 0; ; k++ {
		_, err := s.TryPop(buf[:])
		if errors.Is(err, ErrCorrupt) {
			break
		}
		if k == tailEvery+1 {
			t.Fatalf("%d TryPops said %v, never ErrCorrupt", k, err)
		}
	}
}

// A CloseWrite that lands between a push's Seq store and its publish: the
// message, which a subscriber may already have taken, is published under
// the closed bit and the push reports success (as on SPSC).
func TestBroadcastPublishUnderClose(t *testing.T) {
	a, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 64})
	if err := a.TryPush(posMsg(0)); err != nil {
		t.Fatal(err)
	}
	s := subscribeHeap(t, mem, SubscribeOptions{From: Newest})
	c, err := AttachBroadcast(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Detach()
	if err := a.prodPrologue(); err != nil {
		t.Fatal(err)
	}
	a.writeSlot(a.p.tail, posMsg(1))
	a.endWrite(a.p.tail, 8)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := a.publish(a.p.tail+1, 1, 8); err != nil {
		t.Fatalf("publish after a racing CloseWrite: %v, want nil (published under the closed bit)", err)
	}
	var buf [64]byte
	n, err := s.TryPop(buf[:])
	if err != nil || binary.LittleEndian.Uint64(buf[:n]) != 1 {
		t.Fatalf("pop: %v, want message 1", err)
	}
	if _, err := s.TryPop(buf[:]); err == nil || err.Error() != "EOF" {
		t.Fatalf("then: %v, want io.EOF", err)
	}
	if err := a.TryPush(posMsg(2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after close: %v, want ErrClosed", err)
	}
}

// Peeked data must not alias the rest of the slot: append copies.
func TestBroadcastPeekDataCap(t *testing.T) {
	b, mem := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 64})
	s := subscribeHeap(t, mem, SubscribeOptions{From: Oldest})
	if err := b.TryPush([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	m, err := s.TryPeek()
	if err != nil {
		t.Fatal(err)
	}
	if cap(m.Data) != 3 {
		t.Errorf("cap(Data) = %d, want 3", cap(m.Data))
	}
	if err := s.Release(m); err != nil {
		t.Fatal(err)
	}
}

// A dead mark never matches a live generation, the wrapped one included.
func TestBroadcastDeadMark(t *testing.T) {
	for _, g := range []uint32{0, 1, 1<<32 - 1} {
		if deadMark(g) == 0 || deadMark(g) == deadMark(g+1) {
			t.Errorf("deadMark(%d) = %#x", g, deadMark(g))
		}
	}
}
