package ring

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// TestCorruption scribbles garbage over a ring's shared positions, sequence
// numbers, lengths and slot bytes between operations, and checks every
// operation returns a valid message or an error: never a panic, never an
// out-of-range length.
func TestCorruption(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			seed := testSeed(t)
			rng := rand.New(rand.NewPCG(seed, 7))
			for round := 0; round < 200; round++ {
				cfg := Config{Slots: 8, SlotSize: 32}
				r, mem := newHeapRing(t, k.kind, cfg)
				c := attachHeap(t, k.kind, mem)
				var g geometry
				switch h := r.(type) {
				case *SPSC:
					g = h.g
				case *MPMC:
					g = h.g
				}
				dst := make([]byte, cfg.SlotSize)
				bufs := [][]byte{make([]byte, 32), make([]byte, 32), make([]byte, 32)}
				msg := make([]byte, 20)
				for step := 0; step < 60; step++ {
					scribble(rng, mem, g)
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					for _, h := range []Ring{r, c} {
						checkOp(t, "TryPush", h.TryPush(msg))
						n, err := h.TryPop(dst)
						checkLen(t, n, err, cfg.SlotSize)
						_, err = h.TryPushBatch([][]byte{msg, msg})
						checkOp(t, "TryPushBatch", err)
						_, err = h.TryPopBatch(bufs)
						checkOp(t, "TryPopBatch", err)
						for _, b := range bufs {
							if len(b) > cfg.SlotSize {
								t.Fatalf("batch message of %d bytes", len(b))
							}
						}
						if res, err := h.TryReserve(10); err == nil {
							checkOp(t, "Commit", h.Commit(res, 10))
						}
						if m, err := h.TryPeek(); err == nil {
							if len(m.Data) > cfg.SlotSize {
								t.Fatalf("peeked %d bytes", len(m.Data))
							}
							checkOp(t, "Release", h.Release(m))
						}
						n, err = h.Pop(ctx, dst)
						checkLen(t, n, err, cfg.SlotSize)
						checkOp(t, "Push", h.Push(ctx, msg))
						_ = h.Len()
						_ = h.Stats()
					}
					cancel()
				}
			}
		})
	}
}

func checkOp(t *testing.T, op string, err error) {
	t.Helper()
	switch {
	case err == nil, errors.Is(err, ErrCorrupt), errors.Is(err, ErrFull), errors.Is(err, ErrEmpty),
		errors.Is(err, ErrClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrShortBuffer),
		errors.Is(err, ErrNotReserved), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrTooLarge),
		errors.Is(err, ErrFenced):
	default:
		t.Fatalf("%s: unexpected error %v", op, err)
	}
}

func checkLen(t *testing.T, n int, err error, max int) {
	t.Helper()
	checkOp(t, "pop", err)
	if n < 0 || n > max {
		t.Fatalf("pop returned length %d", n)
	}
}

// scribble writes garbage into one of the peer-writable parts of a ring.
func scribble(rng *rand.Rand, mem []byte, g geometry) {
	// Atomic stores, as a hostile process's plain stores look to us: the
	// race detector checks the ring's own accesses, not the scribbler's.
	put64 := func(off uint64, v uint64) { atomic.StoreUint64((*uint64)(unsafe.Pointer(&mem[off])), v) }
	put32 := func(off uint64, v uint32) { atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[off])), v) }
	slot := g.slotsOff + uint64(rng.IntN(int(g.slots)))*g.stride
	switch rng.IntN(8) {
	case 0:
		put64(g.prodOff, rng.Uint64())
	case 1:
		put64(g.consOff, rng.Uint64())
	case 2: // a plausible but wrong position
		put64(g.prodOff, binaryPos(mem, g.consOff)+uint64(rng.IntN(40)))
	case 3: // slot length
		if g.kind == kindMPMC {
			put32(slot+8, rng.Uint32())
		} else {
			put32(slot, rng.Uint32())
		}
	case 4: // MPMC sequence number
		if g.kind == kindMPMC {
			put64(slot, rng.Uint64())
		} else {
			put32(slot, uint32(rng.IntN(64)))
		}
	case 5: // waiter counts and futex words
		put32(g.prodOff+8, rng.Uint32())
		put32(g.consOff+12, rng.Uint32())
	case 6: // random bytes anywhere in the ring, header included
		for i := 0; i < 16; i++ {
			put32(uint64(rng.IntN(int(g.size/4)))*4, rng.Uint32())
		}
	case 7: // nothing: let the ring make progress
	}
}

func binaryPos(mem []byte, off uint64) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&mem[off])))
}

// TestAttachCorruptHeader checks attaching to garbage fails cleanly.
func TestAttachCorruptHeader(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 9))
	for _, k := range kinds {
		_, mem := newHeapRing(t, k.kind, Config{Slots: 8, SlotSize: 16})
		for i := 0; i < 500; i++ {
			bad := append([]byte(nil), mem...)
			for j := 0; j < 1+rng.IntN(4); j++ {
				bad[rng.IntN(ringHeaderSize)] ^= byte(1 + rng.IntN(255))
			}
			var err error
			if k.kind == kindSPSC {
				_, err = AttachSPSC(bad, WithOpenTimeout(10*time.Millisecond))
			} else {
				_, err = AttachMPMC(bad, WithOpenTimeout(10*time.Millisecond))
			}
			if err == nil {
				continue // flipped a reserved byte outside the checksum
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrKind) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrNotReady) {
				t.Fatalf("attach to corrupt header: %v", err)
			}
		}
		// Too short, wrong kind.
		if _, err := AttachSPSC(make([]byte, 100)); !errors.Is(err, ErrKind) {
			t.Errorf("short memory: %v", err)
		}
	}
	_, mem := newHeapRing(t, kindSPSC, Config{Slots: 8, SlotSize: 16})
	if _, err := AttachMPMC(mem); !errors.Is(err, ErrKind) {
		t.Errorf("MPMC attach to SPSC: %v", err)
	}
}
