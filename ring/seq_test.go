package ring

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// writeUnpublished writes the message of position pos into an SPSC slot and
// stores its Seq, as a producer that dies right before its tail CAS leaves
// it.
func writeUnpublished(r *SPSC, pos uint64, msg string) {
	off := r.slotOff(pos)
	h := (*spscSlot)(unsafe.Pointer(&r.mem[off]))
	h.Len = uint32(len(msg))
	copy(r.mem[off+spscSlotHeader:], msg)
	atomic.StoreUint32(&h.Seq, uint32(pos+1))
}

// TestSPSCTakeoverAfterProducerDied: a producer died between a slot's Seq
// and its tail CAS. Whether the consumer took that message through Seq
// first or not, a new producer adopts it and continues after it: nothing
// lost, nothing torn, no ErrCorrupt.
func TestSPSCTakeoverAfterProducerDied(t *testing.T) {
	for _, consumeFirst := range []bool{true, false} {
		r, mem := newHeapRing(t, kindSPSC, Config{Slots: 8, SlotSize: 16})
		dead := r.(*SPSC)
		writeUnpublished(dead, 0, "AAA")
		cons := attachHeap(t, kindSPSC, mem)
		dst := make([]byte, 16)
		var got []string
		if consumeFirst {
			n, err := cons.TryPop(dst)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(dst[:n]))
		}
		b := attachHeap(t, kindSPSC, mem)
		if err := b.TryPush([]byte("BBB")); err != nil {
			t.Fatalf("consumeFirst=%v: new producer: %v", consumeFirst, err)
		}
		for {
			n, err := cons.TryPop(dst)
			if err == ErrEmpty {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(dst[:n]))
		}
		if !equalStrings(got, []string{"AAA", "BBB"}) {
			t.Fatalf("consumeFirst=%v: got %q", consumeFirst, got)
		}
	}
}

// TestClosedMirrorLost: a closer died between setting the closed bit and
// the Closed mirror. Consumers still reach io.EOF: a poller within a bounded
// number of polls, a sleeper at once.
func TestClosedMirrorLost(t *testing.T) {
	for _, k := range kinds {
		r, _ := newHeapRing(t, k.kind, Config{Slots: 4, SlotSize: 8})
		var pos *uint64
		switch h := r.(type) {
		case *SPSC:
			pos = &h.prod.Pos
		case *MPMC:
			pos = &h.prod.Pos
		}
		atomic.StoreUint64(pos, atomic.LoadUint64(pos)|closedBit) // the bit, not the mirror
		dst := make([]byte, 8)
		eof := false
		for i := 0; i < 2*tailEvery; i++ {
			if _, err := r.TryPop(dst); err == io.EOF {
				eof = true
				break
			}
		}
		if !eof {
			t.Fatalf("%s: TryPop never reported EOF", k.name)
		}
		r2, _ := newHeapRing(t, k.kind, Config{Slots: 4, SlotSize: 8})
		r2.SetWaitStrategy(WaitBlock)
		switch h := r2.(type) {
		case *SPSC:
			pos = &h.prod.Pos
		case *MPMC:
			pos = &h.prod.Pos
		}
		atomic.StoreUint64(pos, atomic.LoadUint64(pos)|closedBit)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		_, err := r2.Pop(ctx, dst)
		cancel()
		if err != io.EOF || time.Since(start) > 2*time.Second {
			t.Fatalf("%s: blocked Pop: %v after %v", k.name, err, time.Since(start))
		}
	}
}

// TestForgedClosedMirror: a hostile Closed = 1 on an open, empty ring makes
// no consumer spin or see EOF.
func TestForgedClosedMirror(t *testing.T) {
	for _, k := range kinds {
		r, _ := newHeapRing(t, k.kind, Config{Slots: 4, SlotSize: 8})
		r.SetWaitStrategy(WaitBlock)
		var hdr *ringHeader
		switch h := r.(type) {
		case *SPSC:
			hdr = h.hdr
		case *MPMC:
			hdr = h.hdr
		}
		atomic.StoreUint32(&hdr.Closed, 1)
		before := cpuTime()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := r.Pop(ctx, make([]byte, 8))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: Pop: %v, want DeadlineExceeded", k.name, err)
		}
		if used := cpuTime() - before; used > 150*time.Millisecond {
			t.Fatalf("%s: blocked Pop used %v of CPU in 300ms", k.name, used)
		}
	}
}

func TestNewRingRefusesDirtyMemory(t *testing.T) {
	cfg := Config{Slots: 4, SlotSize: 8}
	size, _ := Size(KindSPSC, cfg, 128)
	mem := make([]byte, size)
	mem[len(mem)-1] = 1
	if _, err := NewSPSC(mem, cfg, 128); !errors.Is(err, ErrInvalid) {
		t.Fatalf("NewSPSC over dirty memory: %v", err)
	}
}
