package ring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/shmring/shmring/arena"
)

// recModel is a plain model of a record ring: the byte positions of every
// record (padding included), so that it predicts ErrFull exactly.
type recModel struct {
	cap, maxRec uint64
	mirrored    bool
	w, h        uint64 // claim and consumer positions
	head        uint64 // next position to read (past peeked records)
	recs        []modelRec
	closed      bool
}

type modelRec struct {
	pos, span uint64
	pad       bool
	busy      bool // reserved, not committed
	data      []byte
	res       Reservation
}

func (m *recModel) claim(n uint64) (pos uint64, ok bool) {
	sp := span(n)
	pad := uint64(0)
	if i := m.w & (m.cap - 1); !m.mirrored && i+sp > m.cap {
		pad = m.cap - i
	}
	if (m.w-m.h)+pad+sp > m.cap {
		return 0, false
	}
	if pad != 0 {
		m.recs = append(m.recs, modelRec{pos: m.w, span: pad, pad: true})
		m.w += pad
	}
	pos = m.w
	m.recs = append(m.recs, modelRec{pos: pos, span: sp})
	m.w += sp
	return pos, true
}

// firstUnread is the index in recs of the first non-padding record at or
// after head, or -1.
func (m *recModel) firstUnread() int {
	for i, r := range m.recs {
		if r.pos >= m.head && !r.pad {
			return i
		}
	}
	return -1
}

func runRecordsModel(t *testing.T, r *Records, rng *rand.Rand, steps int) {
	t.Helper()
	m := &recModel{cap: uint64(r.Capacity()), maxRec: uint64(r.SlotSize()), mirrored: r.Mirrored()}
	var peeked []Message
	var resv []int // indexes into m.recs of outstanding reservations
	buf := make([]byte, r.SlotSize()+64)
	fail := func(step int, op string, format string, args ...any) {
		t.Helper()
		t.Fatalf("cap %d max %d mirrored %v step %d %s (real W %d H %#x rel %d head %d; model w %d h %d head %d): "+format, append([]any{m.cap, m.maxRec, m.mirrored, step, op, r.prod.Pos, r.cons.Pos, r.c.rel, r.c.head, m.w, m.h, m.head}, args...)...)
	}
	// gc drops consumed records from the model's front.
	gc := func() {
		for len(m.recs) > 0 && m.recs[0].pos+m.recs[0].span <= m.h {
			m.recs = m.recs[1:]
			for i := range resv {
				resv[i]--
			}
		}
	}
	// emptyErr is what a consumer gets with nothing readable.
	emptyErr := func() error {
		if i := m.firstUnread(); i >= 0 {
			return ErrEmpty // a busy record holds it back
		}
		if m.closed {
			return io.EOF
		}
		return ErrEmpty
	}
	// passed releases, as the ring does when a read finds no message and
	// no peek is outstanding, the padding records it passed on the way.
	passed := func() {
		if len(peeked) > 0 {
			return
		}
		for _, rec := range m.recs {
			if rec.pos == m.head && rec.pad {
				m.head += rec.span
			}
		}
		m.h = m.head
		gc()
	}
	readable := func() int {
		i := m.firstUnread()
		if i < 0 || m.recs[i].busy {
			return -1
		}
		return i
	}
	for step := 0; step < steps; step++ {
		switch op := rng.IntN(14); op {
		case 0, 1, 2: // TryPush
			msg := randMsg(rng, int(m.maxRec))
			if rng.IntN(30) == 0 {
				msg = make([]byte, int(m.maxRec)+1+rng.IntN(10))
			}
			err := r.TryPush(msg)
			switch {
			case uint64(len(msg)) > m.maxRec:
				if err != ErrTooLarge {
					fail(step, "TryPush", "oversized: %v", err)
				}
			case m.closed:
				if err != ErrClosed {
					fail(step, "TryPush", "closed: %v", err)
				}
			default:
				pos, ok := m.claim(uint64(len(msg)))
				if !ok {
					if err != ErrFull {
						fail(step, "TryPush", "want ErrFull, got %v (w %d h %d)", err, m.w, m.h)
					}
					continue
				}
				if err != nil {
					fail(step, "TryPush", "%v", err)
				}
				m.recs[len(m.recs)-1].data = msg
				_ = pos
			}
		case 3: // TryPushBatch
			k := 1 + rng.IntN(5)
			msgs := make([][]byte, k)
			for i := range msgs {
				msgs[i] = randMsg(rng, int(m.maxRec))
			}
			n, err := r.TryPushBatch(msgs)
			if m.closed {
				if err != ErrClosed || n != 0 {
					fail(step, "TryPushBatch", "closed: %d %v", n, err)
				}
				continue
			}
			want := 0
			for _, msg := range msgs {
				if _, ok := m.claim(uint64(len(msg))); !ok {
					break
				}
				m.recs[len(m.recs)-1].data = msg
				want++
			}
			if n != want || (want == 0) != (err == ErrFull) {
				fail(step, "TryPushBatch", "pushed %d (%v), model %d", n, err, want)
			}
		case 4: // TryReserve
			n := rng.IntN(int(m.maxRec) + 1)
			res, err := r.TryReserve(n)
			if m.closed {
				if err != ErrClosed {
					fail(step, "TryReserve", "closed: %v", err)
				}
				continue
			}
			if _, ok := m.claim(uint64(n)); !ok {
				if err != ErrFull {
					fail(step, "TryReserve", "want ErrFull, got %v", err)
				}
				continue
			}
			if err != nil || len(res.Buf) != n {
				fail(step, "TryReserve", "%v len %d", err, len(res.Buf))
			}
			for i := range res.Buf {
				res.Buf[i] = byte(rng.Uint32())
			}
			i := len(m.recs) - 1
			m.recs[i].busy, m.recs[i].res = true, res
			resv = append(resv, i)
		case 5: // Commit one of the outstanding reservations, any order
			if len(resv) == 0 {
				if err := r.Commit(Reservation{}, 0); !errors.Is(err, ErrNotReserved) {
					fail(step, "Commit", "zero reservation: %v", err)
				}
				continue
			}
			j := rng.IntN(len(resv))
			i := resv[j]
			res := m.recs[i].res
			n := rng.IntN(cap(res.Buf) + 1)
			res.Buf = res.Buf[:n]
			if err := r.Commit(res, n); err != nil {
				fail(step, "Commit", "%v", err)
			}
			m.recs[i].busy, m.recs[i].data = false, bytes.Clone(res.Buf)
			resv = append(resv[:j], resv[j+1:]...)
			if err := r.Commit(res, n); !errors.Is(err, ErrNotReserved) {
				fail(step, "Commit", "twice: %v", err)
			}
		case 6, 7, 8: // TryPop
			if len(peeked) > 0 {
				if _, err := r.TryPop(buf); err != ErrOutstanding {
					fail(step, "TryPop", "with peeks outstanding: %v", err)
				}
				continue
			}
			n, err := r.TryPop(buf)
			i := readable()
			if i < 0 {
				if err != emptyErr() {
					fail(step, "TryPop", "err %v, want %v", err, emptyErr())
				}
				passed()
				continue
			}
			if err != nil || !bytes.Equal(buf[:n], m.recs[i].data) {
				fail(step, "TryPop", "got %d %v, want %d bytes", n, err, len(m.recs[i].data))
			}
			m.head = m.recs[i].pos + m.recs[i].span
			m.h = m.head
			gc()
		case 9: // TryPopBatch
			if len(peeked) > 0 {
				continue
			}
			bufs := make([][]byte, 1+rng.IntN(4))
			for i := range bufs {
				bufs[i] = make([]byte, m.maxRec)
			}
			n, err := r.TryPopBatch(bufs)
			want := 0
			for want < len(bufs) {
				i := readable()
				if i < 0 {
					break
				}
				if want >= n || !bytes.Equal(bufs[want], m.recs[i].data) {
					fail(step, "TryPopBatch", "message %d differs (got %d, %v)", want, n, err)
				}
				m.head = m.recs[i].pos + m.recs[i].span
				want++
			}
			if n != want {
				fail(step, "TryPopBatch", "got %d, model %d (%v)", n, want, err)
			}
			if want > 0 && want < len(bufs) {
				// The batch looked for one more and passed the padding
				// records before it: they are released with the batch.
				for _, rec := range m.recs {
					if rec.pos == m.head && rec.pad {
						m.head += rec.span
					}
				}
			}
			if want == 0 && err != emptyErr() {
				fail(step, "TryPopBatch", "err %v, want %v", err, emptyErr())
			}
			if want == 0 {
				passed()
			}
			m.h = m.head
			gc()
		case 10, 11: // TryPeek (pipelined)
			msg, err := r.TryPeek()
			i := readable()
			if i < 0 {
				if err != emptyErr() {
					fail(step, "TryPeek", "err %v, want %v", err, emptyErr())
				}
				passed()
				continue
			}
			if err != nil || !bytes.Equal(msg.Data, m.recs[i].data) {
				fail(step, "TryPeek", "%v", err)
			}
			m.head = m.recs[i].pos + m.recs[i].span
			peeked = append(peeked, msg)
		case 12: // Release the oldest peek (and try a wrong one first)
			if len(peeked) == 0 {
				continue
			}
			if len(peeked) > 1 {
				if err := r.Release(peeked[1]); !errors.Is(err, ErrNotReserved) {
					fail(step, "Release", "out of order: %v", err)
				}
			}
			if err := r.Release(peeked[0]); err != nil {
				fail(step, "Release", "%v", err)
			}
			peeked = peeked[1:]
			if len(peeked) > 0 {
				m.h = peeked[0].pos
			} else {
				m.h = m.head
			}
			gc()
		case 13:
			if rng.IntN(40) == 0 && !m.closed {
				if err := r.CloseWrite(); err != nil {
					fail(step, "CloseWrite", "%v", err)
				}
				m.closed = true
			}
		}
	}
	// Drain: commit every reservation, release peeks, pop the rest.
	for _, i := range resv {
		res := m.recs[i].res
		if err := r.Commit(res, len(res.Buf)); err != nil {
			t.Fatalf("final commit: %v", err)
		}
		m.recs[i].busy, m.recs[i].data = false, res.Buf
	}
	for _, p := range peeked {
		if err := r.Release(p); err != nil {
			t.Fatalf("final release: %v", err)
		}
	}
	for {
		n, err := r.TryPop(buf)
		i := readable()
		if i < 0 {
			if err != emptyErr() {
				t.Fatalf("drain: err %v, want %v", err, emptyErr())
			}
			break
		}
		if err != nil || !bytes.Equal(buf[:n], m.recs[i].data) {
			t.Fatalf("drain: %v", err)
		}
		m.head = m.recs[i].pos + m.recs[i].span
		m.h = m.head
		gc()
	}
}

// TestRecordsModel: random operation sequences over heap memory (padding
// records at the wrap), every capacity alignment of the wrap reached by
// random sizes, against the model.
func TestRecordsModel(t *testing.T) {
	seed := testSeed(t)
	for round := 0; round < 60; round++ {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		capacity := MinRecordCapacity << rng.IntN(3)
		maxRec := 1 + rng.IntN(capacity/2-recordHeaderSize)
		if rng.IntN(3) == 0 {
			maxRec = 1 + rng.IntN(200)
		}
		r, _, err := NewHeap(KindRecords, Config{Capacity: capacity, SlotSize: maxRec})
		if err != nil {
			t.Fatal(err)
		}
		runRecordsModel(t, r.(*Records), rng, 3000)
	}
}

// recordsArena creates an arena in /dev/shm (or the temp dir) holding a
// record ring of cfg, and returns the ring (mirrored on Linux).
func recordsArena(t testing.TB, cfg Config, opts ...Option) (*arena.Arena, *Records) {
	t.Helper()
	dir := "/dev/shm"
	if _, err := os.Stat(dir); err != nil {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, fmt.Sprintf("shmring-rec-%d-%d", os.Getpid(), recArenaSeq.Add(1)))
	size, err := ArenaSize([]Spec{{Kind: KindRecords, Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := arena.Create(p, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); os.Remove(p) })
	r, err := CreateRecords(a, "rec", cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return a, r
}

var recArenaSeq atomic.Int64

// TestRecordsModelMirrored: the model over a ring in an arena, whose data
// area is mapped twice (records cross the wrap, no padding records).
func TestRecordsModelMirrored(t *testing.T) {
	seed := testSeed(t)
	for round := 0; round < 30; round++ {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		capacity := MinRecordCapacity << rng.IntN(3)
		maxRec := 1 + rng.IntN(capacity/2-recordHeaderSize)
		if rng.IntN(3) == 0 {
			maxRec = 1 + rng.IntN(200)
		}
		_, r := recordsArena(t, Config{Capacity: capacity, SlotSize: maxRec})
		if runtime.GOOS == "linux" && !r.Mirrored() {
			t.Fatal("a record ring in an arena on Linux is not mirrored")
		}
		runRecordsModel(t, r, rng, 3000)
	}
}

// TestRecordsArenaSize: ArenaSize leaves room for record rings after
// other rings, whatever the alignment gap before their page-aligned
// regions.
func TestRecordsArenaSize(t *testing.T) {
	for _, first := range []int{1, 7, 100, 3000} {
		specs := []Spec{
			{Kind: KindSPSC, Config: Config{Slots: 2, SlotSize: first}},
			{Kind: KindRecords, Config: Config{Capacity: 8192, SlotSize: 100}},
			{Kind: KindMPMC, Config: Config{Slots: 4, SlotSize: first}},
			{Kind: KindRecords, Config: Config{Capacity: 4096, SlotSize: 2000}},
		}
		size, err := ArenaSize(specs)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "a")
		a, err := arena.Create(p, size)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range specs {
			r, err := Create(a, fmt.Sprint("r", i), s.Kind, s.Config)
			if err != nil {
				t.Fatalf("first %d: ring %d: %v", first, i, err)
			}
			r.Close()
		}
		a.Close()
	}
}
