package ring

import (
	"bytes"
	"sync/atomic"
	"testing"
)

func TestRecordsViewWrap(t *testing.T) {
	for _, capacity := range []int{4096, 3 * 4096, 1 << 16} {
		cfg := Config{Capacity: capacity, SlotSize: 1000}
		a, r := recordsArena(t, cfg)
		m := r.g.posMod
		start := m - uint64(capacity/2) - 16
		atomic.StoreUint64(&r.prod.Pos, start)
		atomic.StoreUint64(&r.cons.Pos, start)
		atomic.StoreUint64(&r.rp.HeadCache, start)
		var msgs [][]byte
		for i := 0; ; i++ {
			b := bytes.Repeat([]byte{byte(i + 1)}, 300+i)
			if err := r.TryPush(b); err != nil {
				break
			}
			msgs = append(msgs, b)
		}
		// pop a few so H is also close to the wrap, W past it
		buf := make([]byte, 2000)
		for k := 0; k < 2; k++ {
			if _, err := r.TryPop(buf); err != nil {
				t.Fatal(err)
			}
		}
		msgs = msgs[2:]
		w := atomic.LoadUint64(&r.prod.Pos)
		h := atomic.LoadUint64(&r.cons.Pos) & spscPosMask
		if w >= h {
			t.Fatalf("cap %d: W %#x not wrapped past H %#x", capacity, w, h)
		}
		v, err := OpenView(a, "rec")
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if p := v.Check(); len(p) != 0 {
			t.Fatalf("cap %d: check: %v", capacity, p)
		}
		u := v.RecordUsage()
		if !u.Complete || u.Messages != len(msgs) {
			t.Fatalf("cap %d: usage %+v, want %d msgs", capacity, u, len(msgs))
		}
		pos := h
		for i, want := range msgs {
			rh, n, err := v.ReadRecord(pos, buf)
			if err != nil || !bytes.Equal(buf[:n], want) {
				t.Fatalf("cap %d: read %d at %#x: %v %d", capacity, i, pos, err, n)
			}
			pos = r.g.recAdd(pos, uint64(rh.Size))
		}
		if _, _, err := v.ReadRecord(pos, buf); err != ErrEmpty {
			t.Fatalf("cap %d: at W: %v", capacity, err)
		}
		// a position >= M but < 2^56 (non-pow2): Passed, not a crash
		if !r.g.pow2 {
			_, _, err := v.ReadRecord(m+16, buf)
			t.Logf("cap %d: ReadRecord(M+16): %v", capacity, err)
		}
	}
}
