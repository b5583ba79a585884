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
// record (padding and skip records included) and of the consumer's read
// and published positions, so that it predicts ErrFull exactly, and which
// records a consumer operation passes and releases.
type recModel struct {
	cap, maxRec uint64
	mirrored    bool
	w, h        uint64 // claim and consumer positions (W, H)
	head        uint64 // the consumer's read position (past peeked and passed records)
	recs        []modelRec
	closed      bool
	peeks       []Message // outstanding peeks, oldest first
	skipped     uint64    // busy records made skip records
}

type modelRec struct {
	pos, span uint64
	pad       bool
	skip      bool
	busy      bool // reserved, not committed
	data      []byte
	res       Reservation
	handle    int // the producer handle that claimed it
}

// claim appends a record of n payload bytes (after a padding record if
// it would cross the end of a ring that is not mirrored), as the ring's
// claim does, or reports that it does not fit.
func (m *recModel) claim(n uint64, handle int) (*modelRec, bool) {
	sp := span(n)
	pad := uint64(0)
	if i := m.w % m.cap; !m.mirrored && i+sp > m.cap {
		pad = m.cap - i
	}
	if (m.w-m.h)+pad+sp > m.cap {
		return nil, false
	}
	if pad != 0 {
		m.recs = append(m.recs, modelRec{pos: m.w, span: pad, pad: true})
		m.w += pad
	}
	m.recs = append(m.recs, modelRec{pos: m.w, span: sp, handle: handle})
	m.w += sp
	return &m.recs[len(m.recs)-1], true
}

// at is the record at position pos, or nil.
func (m *recModel) at(pos uint64) *modelRec {
	for i := range m.recs {
		if m.recs[i].pos == pos {
			return &m.recs[i]
		}
	}
	return nil
}

// pass moves head over padding and skip records, as the consumer's next
// does, and returns the record it stops at: nil at W.
func (m *recModel) pass() *modelRec {
	for {
		r := m.at(m.head)
		if r == nil || !r.pad && !r.skip {
			return r
		}
		m.head += r.span
	}
}

// next is what the consumer's next finds: the message at head (after
// passing padding and skip records), or the error (ErrEmpty before a busy
// record or at W, io.EOF at W once closed).
func (m *recModel) next() (*modelRec, error) {
	r := m.pass()
	var err error
	switch {
	case r == nil && m.closed:
		err = io.EOF
	case r == nil || r.busy:
		err = ErrEmpty
	}
	if err != nil {
		// No message: what was passed is released at once, unless a peek
		// is outstanding (the ring's next does the same).
		if len(m.peeks) == 0 && m.head != m.h {
			m.release(m.head)
		}
		return nil, err
	}
	return r, nil
}

// release publishes H = end and drops the records below it.
func (m *recModel) release(end uint64) {
	m.h = end
	i := 0
	for i < len(m.recs) && m.recs[i].pos+m.recs[i].span <= m.h {
		i++
	}
	m.recs = m.recs[i:]
}

// recChooser makes a record-model run's choices: a PRNG (TestRecordsModel)
// or a fuzz program (FuzzRecordsOps).
type recChooser interface {
	more() bool
	intn(n int) int // in [0, n), n > 0
	op() int        // the next operation: rmPush .. rmNumOps-1
}

// Operations of a record-model run.
const (
	rmPush       = iota // handle, len: TryPush
	rmPushBatch         // handle, k, lens, oversize: TryPushBatch
	rmReserve           // handle, len: TryReserve, kept outstanding
	rmCommit            // k, how, len: Commit the k-th outstanding reservation (bad calls first)
	rmPop               // size: TryPop
	rmPopBatch          // k, sizes: TryPopBatch
	rmPeek              //: TryPeek, kept outstanding
	rmRelease           // how: Release the oldest peek (a wrong one first)
	rmDiscard           // n: Discard(n), n in -1..4
	rmCloseWrite        // handle: CloseWrite
	rmAttach            //: attach the second handle
	rmClose             //: Close the second handle; Recover makes its reservations skip records
	rmNumOps
)

var rmNames = [rmNumOps]string{"TryPush", "TryPushBatch", "TryReserve", "Commit", "TryPop", "TryPopBatch",
	"TryPeek", "Release", "Discard", "CloseWrite", "Attach", "Close"}

// rmWeights is the PRNG's mix of operations; CloseWrite comes once in
// rmCloseEvery operations.
var rmWeights = [rmNumOps]int{rmPush: 6, rmPushBatch: 2, rmReserve: 2, rmCommit: 2, rmPop: 6, rmPopBatch: 2,
	rmPeek: 4, rmRelease: 2, rmDiscard: 1, rmAttach: 1, rmClose: 1}

const rmCloseEvery = 500

// recRNG is a recChooser over a PRNG, for left operations.
type recRNG struct {
	r    *rand.Rand
	left int
}

func (c *recRNG) more() bool     { c.left--; return c.left >= 0 }
func (c *recRNG) intn(n int) int { return c.r.IntN(n) }
func (c *recRNG) op() int {
	if c.r.IntN(rmCloseEvery) == 0 {
		return rmCloseWrite
	}
	total := 0
	for _, w := range rmWeights {
		total += w
	}
	x := c.r.IntN(total)
	for i, w := range rmWeights {
		if x < w {
			return i
		}
		x -= w
	}
	return rmPush
}

// recBytes is a recChooser reading a FuzzRecordsOps program: an operation
// is a byte modulo rmNumOps, a choice among n a byte (two, little-endian,
// for n > 256) modulo n; past the end every choice is 0.
type recBytes struct{ s script }

func (c *recBytes) more() bool { return c.s.more() }
func (c *recBytes) op() int    { return int(c.s.next()) % rmNumOps }
func (c *recBytes) intn(n int) int {
	if n <= 256 {
		return int(c.s.next()) % n
	}
	return int(c.s.u16()) % n
}

// recTarget is the ring a record-model run drives, and how to attach a
// second handle to it (over its heap memory, or by name in its arena).
type recTarget struct {
	r      *Records
	attach func() (*Records, error)
}

func heapRecTarget(t testing.TB, cfg Config) recTarget {
	t.Helper()
	r, mem, err := NewHeap(KindRecords, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return recTarget{r: r.(*Records), attach: func() (*Records, error) { return AttachRecords(mem) }}
}

func arenaRecTarget(t testing.TB, cfg Config) recTarget {
	t.Helper()
	a, r := recordsArena(t, cfg)
	return recTarget{r: r, attach: func() (*Records, error) { return OpenRecords(a, "rec") }}
}

// recRun is one record-model run: the ring's handles (0, the consumer and
// a producer; 1, a second producer, attached and closed by the run), the
// model, and the choices.
type recRun struct {
	t      testing.TB
	tg     recTarget
	h      [2]*Records // h[1] nil while not attached
	m      *recModel
	c      recChooser
	msgSeq int
	step   int
	op     string
	buf    []byte
}

// runRecordsModel runs up to steps operations chosen by c on tg's ring
// (a fresh one), checking each against the model, then drains it.
func runRecordsModel(t testing.TB, tg recTarget, c recChooser, steps int) *recRun {
	t.Helper()
	r := tg.r
	x := &recRun{t: t, tg: tg, c: c, buf: make([]byte, r.SlotSize()+64),
		m: &recModel{cap: uint64(r.Capacity()), maxRec: uint64(r.SlotSize()), mirrored: r.Mirrored()}}
	x.h[0] = r
	for x.step = 0; x.step < steps && c.more(); x.step++ {
		x.run(c.op())
	}
	x.drain()
	return x
}

func (x *recRun) fail(format string, args ...any) {
	x.t.Helper()
	m, r := x.m, x.h[0]
	x.t.Fatalf("cap %d max %d mirrored %v step %d %s (real W %#x H %#x rel %d head %d; model w %d h %d head %d, %d peeks): %s",
		m.cap, m.maxRec, m.mirrored, x.step, x.op, loadU64(&r.prod.Pos), loadU64(&r.cons.Pos), r.c.rel, r.c.head,
		m.w, m.h, m.head, len(m.peeks), fmt.Sprintf(format, args...))
}

// want fails unless err is exactly want (nil: success).
func (x *recRun) want(err, want error) {
	x.t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		x.fail("err %v, want %v", err, want)
	}
}

// producer picks a producer handle: the second one, if attached, for
// about half the choices.
func (x *recRun) producer() int {
	if x.h[1] == nil {
		return 0
	}
	return x.c.intn(2)
}

func (x *recRun) newMsg(n int) []byte {
	x.msgSeq++
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(x.msgSeq*131 + i*7 + 1)
	}
	return b
}

// msgLen chooses a message length: 0..max, max itself more often, and
// now and then one too large.
func (x *recRun) msgLen() int {
	max := int(x.m.maxRec)
	switch x.c.intn(32) {
	case 0:
		return max + 1 + x.c.intn(10)
	case 1, 2, 3, 4:
		return max
	}
	return x.c.intn(max + 1)
}

// bufSize chooses a buffer size: big enough for any record most of the
// time, else 0..max.
func (x *recRun) bufSize() int {
	if x.c.intn(4) != 0 {
		return int(x.m.maxRec)
	}
	return x.c.intn(int(x.m.maxRec) + 1)
}

// reservations lists the outstanding reservations in the model.
func (x *recRun) reservations() []*modelRec {
	var out []*modelRec
	for i := range x.m.recs {
		if x.m.recs[i].busy {
			out = append(out, &x.m.recs[i])
		}
	}
	return out
}

func (x *recRun) run(op int) {
	m := x.m
	x.op = rmNames[op]
	switch op {
	case rmPush:
		hi := x.producer()
		msg := x.newMsg(x.msgLen())
		err := x.h[hi].TryPush(msg)
		switch {
		case uint64(len(msg)) > m.maxRec:
			x.want(err, ErrTooLarge)
		case m.closed:
			x.want(err, ErrClosed)
		default:
			rec, ok := m.claim(uint64(len(msg)), hi)
			if !ok {
				x.want(err, ErrFull)
				return
			}
			x.want(err, nil)
			rec.data = msg
		}

	case rmPushBatch:
		hi := x.producer()
		msgs := make([][]byte, x.c.intn(6))
		for i := range msgs {
			msgs[i] = x.newMsg(x.msgLen())
		}
		n, err := x.h[hi].TryPushBatch(msgs)
		want := 0
		var wantErr error
		switch {
		case len(msgs) == 0:
		case uint64(len(msgs[0])) > m.maxRec:
			wantErr = ErrTooLarge
		case m.closed:
			wantErr = ErrClosed
		default:
			for _, msg := range msgs {
				if uint64(len(msg)) > m.maxRec {
					break
				}
				rec, ok := m.claim(uint64(len(msg)), hi)
				if !ok {
					break
				}
				rec.data = msg
				want++
			}
			if want == 0 {
				wantErr = ErrFull
			}
		}
		x.want(err, wantErr)
		if n != want {
			x.fail("pushed %d of %d, model %d", n, len(msgs), want)
		}

	case rmReserve:
		hi := x.producer()
		n := x.msgLen()
		if x.c.intn(40) == 0 {
			n = -1
		}
		res, err := x.h[hi].TryReserve(n)
		switch {
		case n < 0:
			x.want(err, ErrInvalid)
		case uint64(n) > m.maxRec:
			x.want(err, ErrTooLarge)
		case m.closed:
			x.want(err, ErrClosed)
		default:
			rec, ok := m.claim(uint64(n), hi)
			if !ok {
				x.want(err, ErrFull)
				return
			}
			x.want(err, nil)
			wantCap := min(rec.span-recordHeaderSize, m.maxRec)
			if len(res.Buf) != n || uint64(cap(res.Buf)) != wantCap || res.pos != rec.pos {
				x.fail("reservation len %d cap %d at %d, want %d, %d at %d", len(res.Buf), cap(res.Buf), res.pos, n, wantCap, rec.pos)
			}
			full := res.Buf[:cap(res.Buf)]
			copy(full, x.newMsg(len(full)))
			rec.busy, rec.res = true, res
		}

	case rmCommit:
		resv := x.reservations()
		if len(resv) == 0 {
			x.want(x.h[0].Commit(Reservation{}, 0), ErrNotReserved)
			return
		}
		rec := resv[x.c.intn(len(resv))]
		h := x.h[rec.handle]
		res := rec.res
		switch x.c.intn(8) {
		case 0:
			x.want(h.Commit(res, cap(res.Buf)+1), ErrTooLarge)
		case 1:
			x.want(h.Commit(res, -1), ErrInvalid)
		case 2:
			if o := x.h[1-rec.handle]; o != nil {
				x.want(o.Commit(res, 0), ErrNotReserved) // another handle's reservation
			}
		}
		n := x.c.intn(cap(res.Buf) + 1)
		x.want(h.Commit(res, n), nil)
		rec.busy, rec.data = false, bytes.Clone(res.Buf[:n])
		x.want(h.Commit(res, n), ErrNotReserved) // twice
		rec.res = Reservation{}

	case rmPop:
		dst := x.buf[:x.bufSize()]
		n, err := x.h[0].TryPop(dst)
		if len(m.peeks) > 0 {
			x.want(err, ErrOutstanding)
			return
		}
		rec, werr := m.next()
		switch {
		case werr != nil:
			x.want(err, werr)
		case len(rec.data) > len(dst):
			x.want(err, io.ErrShortBuffer)
		default:
			x.want(err, nil)
			if !bytes.Equal(dst[:n], rec.data) {
				x.fail("popped %d bytes, want %d", n, len(rec.data))
			}
			m.head = rec.pos + rec.span
			m.release(m.head)
			return
		}
		if n != 0 {
			x.fail("%d bytes with %v", n, err)
		}

	case rmPopBatch:
		bufs := make([][]byte, 1+x.c.intn(4))
		for i := range bufs {
			bufs[i] = make([]byte, x.bufSize())
		}
		n, err := x.h[0].TryPopBatch(bufs)
		if len(m.peeks) > 0 {
			x.want(err, ErrOutstanding)
			return
		}
		k := 0
		var werr error
		for k < len(bufs) {
			rec, e := m.next()
			if e != nil {
				werr = e
				break
			}
			if len(rec.data) > len(bufs[k]) {
				werr = io.ErrShortBuffer
				break
			}
			if k < n && !bytes.Equal(bufs[k], rec.data) {
				x.fail("message %d of the batch differs", k)
			}
			m.head = rec.pos + rec.span
			k++
		}
		if k == 0 {
			x.want(err, werr)
		} else {
			x.want(err, nil)
			m.release(m.head)
		}
		if n != k {
			x.fail("popped %d, model %d", n, k)
		}

	case rmPeek:
		msg, err := x.h[0].TryPeek()
		rec, werr := m.next()
		if werr != nil {
			x.want(err, werr)
			return
		}
		x.want(err, nil)
		if !bytes.Equal(msg.Data, rec.data) || msg.pos != rec.pos || uint64(cap(msg.Data)) != min(rec.span-recordHeaderSize, m.maxRec) {
			x.fail("peeked %d bytes (cap %d) at %d, want %d (cap %d) at %d", len(msg.Data), cap(msg.Data), msg.pos, len(rec.data), min(rec.span-recordHeaderSize, m.maxRec), rec.pos)
		}
		m.head = rec.pos + rec.span
		m.peeks = append(m.peeks, msg)

	case rmRelease:
		x.releaseOldest(x.c.intn(4))

	case rmDiscard:
		n := x.c.intn(6) - 1
		k, err := x.h[0].Discard(n)
		if len(m.peeks) > 0 {
			x.want(err, ErrOutstanding)
			return
		}
		want := 0
		var werr error
		for n < 0 || want < n {
			rec, e := m.next()
			if e != nil {
				if want == 0 && e != ErrEmpty {
					werr = e
				}
				break
			}
			m.head = rec.pos + rec.span
			want++
		}
		x.want(err, werr)
		if werr == nil && m.head != m.h {
			m.release(m.head)
		}
		if k != want {
			x.fail("discarded %d, model %d", k, want)
		}

	case rmCloseWrite:
		x.want(x.h[x.producer()].CloseWrite(), nil)
		m.closed = true

	case rmAttach:
		if x.h[1] != nil {
			return
		}
		h, err := x.tg.attach()
		if err != nil {
			x.fail("attach: %v", err)
		}
		x.h[1] = h

	case rmClose:
		h := x.h[1]
		if h == nil {
			return
		}
		x.want(h.Close(), nil)
		x.h[1] = nil
		// Its reservations are a dead handle's now: Recover (or a
		// consumer that waits at one for the grace time) makes them
		// skip records.
		var mine []*modelRec
		for _, rec := range x.reservations() {
			if rec.handle == 1 {
				mine = append(mine, rec)
			}
		}
		if len(mine) > 0 {
			x.want(h.Commit(mine[0].res, 0), ErrClosed)
		}
		rec := x.h[0].Recover()
		if rec.Skipped != len(mine) {
			x.fail("Recover made %d skip records, want %d (the closed handle's reservations)", rec.Skipped, len(mine))
		}
		for _, r := range mine {
			r.busy, r.skip, r.res = false, true, Reservation{}
			m.skipped++
		}
	}
}

// releaseOldest releases the oldest peek (how 0: a zero Message first;
// 1: a newer peek first; both ErrNotReserved), then releases it again
// (ErrNotReserved).
func (x *recRun) releaseOldest(how int) {
	m := x.m
	h := x.h[0]
	switch {
	case how == 0:
		x.want(h.Release(Message{}), ErrNotReserved)
	case how == 1 && len(m.peeks) > 1:
		x.want(h.Release(m.peeks[1+x.c.intn(len(m.peeks)-1)]), ErrNotReserved) // out of order
	}
	if len(m.peeks) == 0 {
		x.want(h.Release(Message{}), ErrNotReserved)
		return
	}
	p := m.peeks[0]
	x.want(h.Release(p), nil)
	x.want(h.Release(p), ErrNotReserved) // twice
	m.peeks = m.peeks[1:]
	if len(m.peeks) > 0 {
		m.release(m.peeks[0].pos) // passed records up to the next peek go too
	} else {
		m.head = p.end
		m.release(p.end)
	}
}

// drain commits every reservation, releases the peeks, pops the rest and
// checks the counters of skip records.
func (x *recRun) drain() {
	m := x.m
	x.op = "drain"
	for _, rec := range x.reservations() {
		x.want(x.h[rec.handle].Commit(rec.res, len(rec.res.Buf)), nil)
		rec.busy, rec.data = false, bytes.Clone(rec.res.Buf)
	}
	for len(m.peeks) > 0 {
		x.releaseOldest(-1)
	}
	for {
		n, err := x.h[0].TryPop(x.buf)
		rec, werr := m.next()
		if werr != nil {
			x.want(err, werr)
			break
		}
		x.want(err, nil)
		if !bytes.Equal(x.buf[:n], rec.data) {
			x.fail("drained %d bytes, want %d", n, len(rec.data))
		}
		m.head = rec.pos + rec.span
		m.release(m.head)
	}
	if s := x.h[0].Stats(); s.Skipped != m.skipped {
		x.fail("Stats.Skipped %d, model %d", s.Skipped, m.skipped)
	}
	if x.h[1] != nil {
		x.want(x.h[1].Close(), nil)
	}
}

// TestRecordsModel: random operation sequences over heap memory (padding
// records at the wrap), every capacity alignment of the wrap reached by
// random sizes, against the model.
func TestRecordsModel(t *testing.T) {
	seed := testSeed(t)
	for round := 0; round < 60; round++ {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		runRecordsModel(t, heapRecTarget(t, recModelConfig(rng)), &recRNG{r: rng, left: 3000}, 3000)
	}
}

// recModelConfig is a random record ring geometry: 4 to 16 KiB, a power
// of two or not (any multiple of 4096), the largest record anything up
// to half of it, or small.
func recModelConfig(rng *rand.Rand) Config {
	capacity := MinRecordCapacity << rng.IntN(3)
	if rng.IntN(2) == 0 {
		capacity = MinRecordCapacity * (1 + rng.IntN(5)) // 4, 8, 12, 16, 20 KiB
	}
	maxRec := 1 + rng.IntN(capacity/2-recordHeaderSize)
	if rng.IntN(3) == 0 {
		maxRec = 1 + rng.IntN(200)
	}
	return Config{Capacity: capacity, SlotSize: maxRec}
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
		tg := arenaRecTarget(t, recModelConfig(rng))
		if runtime.GOOS == "linux" && !tg.r.Mirrored() {
			t.Fatal("a record ring in an arena on Linux is not mirrored")
		}
		runRecordsModel(t, tg, &recRNG{r: rng, left: 3000}, 3000)
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

// TestRecordsPositionWrap: traffic across the wrap of the position counter
// (at 2^56, or at the largest multiple of Capacity below it when Capacity
// is not a power of two), in rings over heap memory and mirrored ones,
// FIFO and contents checked.
func TestRecordsPositionWrap(t *testing.T) {
	for _, capacity := range []int{4096, 3 * 4096, 40960, 1 << 20} {
		for _, mirrored := range []bool{false, true} {
			cfg := Config{Capacity: capacity, SlotSize: capacity/2 - recordHeaderSize}
			var r *Records
			if mirrored {
				_, r = recordsArena(t, cfg)
			} else {
				h, _, err := NewHeap(KindRecords, cfg)
				if err != nil {
					t.Fatal(err)
				}
				r = h.(*Records)
			}
			m := r.g.posMod
			if m%uint64(capacity) != 0 || m > 1<<56 || m*2 <= 1<<56 {
				t.Fatalf("capacity %d: position modulus %d", capacity, m)
			}
			start := m - uint64(3*capacity) - 48
			atomic.StoreUint64(&r.prod.Pos, start)
			atomic.StoreUint64(&r.cons.Pos, start)
			atomic.StoreUint64(&r.rp.HeadCache, start)
			rng := rand.New(rand.NewPCG(uint64(capacity), 7))
			var queue [][]byte
			buf := make([]byte, capacity)
			wrapped := false
			for i := 0; i < 4000 && !(wrapped && i > 2000); i++ {
				if rng.IntN(2) == 0 {
					msg := randMsg(rng, min(cfg.SlotSize, 3000))
					if err := r.TryPush(msg); err == nil {
						queue = append(queue, msg)
					} else if err != ErrFull {
						t.Fatalf("cap %d mirrored %v: push %d: %v", capacity, mirrored, i, err)
					}
				} else {
					n, err := r.TryPop(buf)
					if len(queue) == 0 {
						if err != ErrEmpty {
							t.Fatalf("cap %d: pop on empty: %v", capacity, err)
						}
						continue
					}
					if err != nil || !bytes.Equal(buf[:n], queue[0]) {
						t.Fatalf("cap %d mirrored %v: pop %d: %d %v, want %d bytes", capacity, mirrored, i, n, err, len(queue[0]))
					}
					queue = queue[1:]
				}
				if atomic.LoadUint64(&r.cons.Pos)&spscPosMask < start {
					wrapped = true
				}
			}
			if !wrapped {
				t.Fatalf("cap %d mirrored %v: the consumer never crossed the position wrap", capacity, mirrored)
			}
			if p := r.Recover(); p.Skipped != 0 {
				t.Fatalf("Recover: %+v", p)
			}
		}
	}
}
