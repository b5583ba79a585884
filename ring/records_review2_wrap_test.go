package ring

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

type rv2Rec struct {
	id     uint64
	data   []byte
	state  int // 0 busy, 1 committed, 2 abandoned (skip)
	res    Reservation
	handle int
}

// TestRecordsWrapMixed: reservations out of order, batches, pipelined peeks,
// pop batches, abandoned reservations of a closed second handle, across the
// position wrap, pow2 and not, mirrored and not.
func TestRecordsWrapMixed(t *testing.T) {
	for _, capacity := range []int{4096, 3 * 4096, 5 * 4096, 1 << 16} {
		for _, mirrored := range []bool{false, true} {
			for seed := uint64(0); seed < 6; seed++ {
				rv2WrapRun(t, capacity, mirrored, seed)
			}
		}
	}
}

func rv2WrapRun(t *testing.T, capacity int, mirrored bool, seed uint64) {
	cfg := Config{Capacity: capacity, SlotSize: capacity/4 - recordHeaderSize}
	var r *Records
	var attach func() (*Records, error)
	if mirrored {
		a, rr := recordsArena(t, cfg)
		r = rr
		attach = func() (*Records, error) { return OpenRecords(a, "rec") }
	} else {
		h, mem, err := NewHeap(KindRecords, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r = h.(*Records)
		attach = func() (*Records, error) { return AttachRecords(mem) }
	}
	m := r.g.posMod
	start := m - uint64(2*capacity) - 48 - 16*seed
	atomic.StoreUint64(&r.prod.Pos, start)
	atomic.StoreUint64(&r.cons.Pos, start)
	atomic.StoreUint64(&r.rp.HeadCache, start)
	rng := rand.New(rand.NewPCG(uint64(capacity), seed))
	var q []*rv2Rec // claim order, not yet consumed
	var peeks []Message
	var peekIDs []uint64
	id := uint64(0)
	var second *Records
	mk := func(n int) []byte {
		id++
		n = max(n, 8)
		b := make([]byte, n)
		binary.LittleEndian.PutUint64(b, id)
		for i := 8; i < n; i++ {
			b[i] = byte(id*7 + uint64(i))
		}
		return b
	}
	maxMsg := min(cfg.SlotSize, 700)
	// firstReady: index of the first non-skip record in q past the peeked ones.
	nextExpected := func() (*rv2Rec, int) {
		for i, x := range q {
			if i < len(peeks) {
				continue
			}
			if x.state == 2 {
				continue
			}
			return x, i
		}
		return nil, -1
	}
	_ = nextExpected
	fail := func(i int, f string, a ...any) {
		t.Helper()
		args := append([]any{capacity, mirrored, seed, i, atomic.LoadUint64(&r.prod.Pos), atomic.LoadUint64(&r.cons.Pos), r.c.head, r.c.rel}, a...)
		t.Fatalf("cap %d mirrored %v seed %d step %d (W %#x H %#x head %#x rel %#x): "+f, args...)
	}
	wrapped := false
	buf := make([]byte, cfg.SlotSize)
	for i := 0; i < 6000; i++ {
		switch op := rng.IntN(10); op {
		case 0, 1: // push
			msg := mk(rng.IntN(maxMsg))
			err := r.TryPush(msg)
			if err == nil {
				q = append(q, &rv2Rec{id: id, data: msg, state: 1})
			} else if err != ErrFull {
				fail(i, "push: %v", err)
			}
		case 2: // batch
			var ms [][]byte
			for k := rng.IntN(4) + 1; k > 0; k-- {
				ms = append(ms, mk(rng.IntN(maxMsg)))
			}
			n, err := r.TryPushBatch(ms)
			if err != nil && err != ErrFull {
				fail(i, "batch: %v", err)
			}
			for _, b := range ms[:n] {
				q = append(q, &rv2Rec{id: binary.LittleEndian.Uint64(b), data: b, state: 1})
			}
		case 3: // reserve, on handle 0 or the second one
			h, hi := r, 0
			if second != nil && rng.IntN(2) == 0 {
				h, hi = second, 1
			}
			msg := mk(rng.IntN(maxMsg))
			res, err := h.TryReserve(len(msg))
			if err == nil {
				copy(res.Buf, msg)
				q = append(q, &rv2Rec{id: id, data: msg, res: res, handle: hi})
			} else if err != ErrFull {
				fail(i, "reserve: %v", err)
			}
		case 4: // commit a random busy one of handle 0
			var busy []*rv2Rec
			for _, x := range q {
				if x.state == 0 && x.handle == 0 {
					busy = append(busy, x)
				}
			}
			if len(busy) > 0 {
				x := busy[rng.IntN(len(busy))]
				if err := r.Commit(x.res, len(x.data)); err != nil {
					fail(i, "commit: %v", err)
				}
				x.state = 1
			}
		case 5: // attach / close the second handle
			if second == nil {
				s, err := attach()
				if err != nil {
					fail(i, "attach: %v", err)
				}
				second = s
			} else {
				// commit some of its reservations, abandon the rest
				for _, x := range q {
					if x.state == 0 && x.handle == 1 {
						if rng.IntN(2) == 0 {
							if err := second.Commit(x.res, len(x.data)); err != nil {
								fail(i, "commit2: %v", err)
							}
							x.state = 1
						} else {
							x.state = 2
						}
					}
				}
				second.Close()
				second = nil
				r.Recover()
			}
		case 6, 7: // pop / pop batch (only with no peeks)
			if len(peeks) != 0 {
				continue
			}
			// expected: skip leading abandoned records
			for len(q) > 0 && q[0].state == 2 {
				q = q[1:]
			}
			if op == 6 {
				n, err := r.TryPop(buf)
				if len(q) == 0 || q[0].state == 0 {
					if err != ErrEmpty {
						fail(i, "pop: %d %v, want empty", n, err)
					}
					continue
				}
				if err != nil || !bytes.Equal(buf[:n], q[0].data) {
					fail(i, "pop: %d %v, want id %d", n, err, q[0].id)
				}
				q = q[1:]
			} else {
				bufs := make([][]byte, 3)
				for k := range bufs {
					bufs[k] = make([]byte, cfg.SlotSize)
				}
				n, err := r.TryPopBatch(bufs)
				if len(q) == 0 || q[0].state == 0 {
					if err != ErrEmpty {
						fail(i, "popbatch: %d %v, want empty", n, err)
					}
					continue
				}
				if err != nil {
					fail(i, "popbatch: %v", err)
				}
				for k := 0; k < n; k++ {
					for len(q) > 0 && q[0].state == 2 {
						q = q[1:]
					}
					if len(q) == 0 || !bytes.Equal(bufs[k], q[0].data) {
						fail(i, "popbatch %d: mismatch", k)
					}
					q = q[1:]
				}
			}
		case 8: // peek
			// expected: first non-abandoned past the peeked ones
			j := 0
			for pk := 0; j < len(q); j++ {
				if q[j].state == 2 {
					continue
				}
				if pk == len(peeks) {
					break
				}
				pk++
			}
			msg, err := r.TryPeek()
			if j >= len(q) || q[j].state == 0 {
				if err != ErrEmpty {
					fail(i, "peek: %v, want empty", err)
				}
				continue
			}
			if err != nil || !bytes.Equal(msg.Data, q[j].data) {
				fail(i, "peek: %v, want id %d", err, q[j].id)
			}
			peeks = append(peeks, msg)
			peekIDs = append(peekIDs, q[j].id)
		case 9: // release oldest peek
			if len(peeks) == 0 {
				continue
			}
			if err := r.Release(peeks[0]); err != nil {
				fail(i, "release: %v", err)
			}
			for len(q) > 0 && q[0].id != peekIDs[0] {
				if q[0].state != 2 {
					fail(i, "release passed a live record %d", q[0].id)
				}
				q = q[1:]
			}
			q = q[1:]
			peeks, peekIDs = peeks[1:], peekIDs[1:]
		}
		if atomic.LoadUint64(&r.cons.Pos)&spscPosMask < start {
			wrapped = true
		}
	}
	st := r.Stats()
	if seed == 0 {
		t.Logf("cap %d mirrored %v: skipped %d, in %d, out %d, W %#x", capacity, mirrored, atomic.LoadUint64(&r.core.hdr.Skipped), st.MsgsIn, st.MsgsOut, atomic.LoadUint64(&r.prod.Pos))
	}
	if !wrapped {
		t.Fatalf("cap %d mirrored %v seed %d: never wrapped", capacity, mirrored, seed)
	}
	if second != nil {
		second.Close()
	}
}
