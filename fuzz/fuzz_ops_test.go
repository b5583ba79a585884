package fuzz_test

// FuzzOps is the black-box counterpart of ring.FuzzRingOps: it reaches the
// rings only through ring's public API, as a user of the package would.
//
//	go test -run '^$' -fuzz '^FuzzOps$' -fuzztime 30s ./fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// A FuzzOps input is a program. Its first byte is the geometry:
//
//	bit 0      kind: 0 SPSC, 1 MPMC
//	bits 1-3   Slots = 2 << (bits % 5): 2 .. 32
//	bits 4-7   MPMC: 2 + bits%3 handles (SPSC: always 2)
//
// its second byte SlotSize-1 (SlotSize 1 .. 256), and each step after them
// an op byte, handle<<4 | code (handle modulo the number of handles, code
// modulo numFuzzOps), followed by the operation's argument bytes. Past the
// end of the input the arguments read as zeros.
const (
	fuzzTryPush       = iota // len: TryPush of a message of that length (255: SlotSize+1)
	fuzzTryPop               // size: TryPop into a buffer of that size (>= 128: SlotSize)
	fuzzTryPushBatch         // k, len, oversize: TryPushBatch of k messages, one maybe too large
	fuzzTryPopBatch          // k, size: TryPopBatch into k buffers of that capacity
	fuzzReserveCommit        // len, cut: TryReserve(len), then Commit of cut bytes
	fuzzPeekRelease          // TryPeek, then Release
	fuzzClose                // Close
	numFuzzOps
)

// fuzzMaxSteps bounds a program.
const fuzzMaxSteps = 1000

// FuzzOps runs a fuzz-chosen program of non-blocking operations on two to
// four handles of one ring over heap memory, on one goroutine, and checks
// every answer against a plain slice queue: the error each operation
// returns (with errors.Is) exactly when the queue says so, the bytes and
// order of every message popped, batched or peeked, the count of every
// batch, and after every step each handle's Len, IsClosed and Stats. At
// the end it closes the ring and drains it to io.EOF.
func FuzzOps(f *testing.F) {
	f.Fuzz(func(t *testing.T, prog []byte) {
		q := newOpsQueue(t, prog)
		for ; q.step < fuzzMaxSteps && q.i < len(q.prog); q.step++ {
			q.run()
			q.check()
		}
		q.drain()
	})
}

// opsQueue is the ring under test, its handles, and the model: a slice of
// the committed messages, oldest first, and whether the ring is closed.
type opsQueue struct {
	t       *testing.T
	kind    arena.Kind
	cfg     ring.Config
	handles []ring.Ring
	model   [][]byte
	closed  bool

	prog []byte
	i    int // next byte of prog
	seq  uint64
	step int
	op   string
	h    int // the handle of the current step

	// SPSC side ownership: a handle's first operation on a side takes it
	// over, and the handle it replaced is fenced (ring.ErrFenced) for good.
	prodOwner, consOwner int
	prodUsed, consUsed   [2]bool
}

// fenced says whether the current step's operation on the producer (or
// consumer) side, if it reaches the side at all (reaches: its arguments
// pass the checks made first), must fail with ring.ErrFenced, and
// otherwise records the takeover. A closed stream answers producers
// ErrClosed first.
func (q *opsQueue) fenced(producer, reaches bool) bool {
	if q.kind != ring.KindSPSC || !reaches || producer && q.closed {
		return false
	}
	owner, used := &q.consOwner, &q.consUsed
	if producer {
		owner, used = &q.prodOwner, &q.prodUsed
	}
	if used[q.h] && *owner != q.h {
		return true
	}
	*owner, used[q.h] = q.h, true
	return false
}

func newOpsQueue(t *testing.T, prog []byte) *opsQueue {
	q := &opsQueue{t: t, prog: prog, kind: ring.KindSPSC, prodOwner: -1, consOwner: -1}
	g, size := q.next(), q.next()
	handles := 2
	if g&1 != 0 {
		q.kind = ring.KindMPMC
		handles += int(g>>4) % 3
	}
	q.cfg = ring.Config{Slots: 2 << (int(g>>1&7) % 5), SlotSize: 1 + int(size)}
	r, mem := newHeapRing(t, q.kind, q.cfg)
	q.handles = append(q.handles, r)
	for len(q.handles) < handles {
		q.handles = append(q.handles, attachHeapRing(t, q.kind, mem))
	}
	return q
}

func (q *opsQueue) next() byte {
	if q.i >= len(q.prog) {
		q.i++
		return 0
	}
	q.i++
	return q.prog[q.i-1]
}

func (q *opsQueue) fail(format string, args ...any) {
	q.t.Helper()
	kind := "SPSC"
	if q.kind == ring.KindMPMC {
		kind = "MPMC"
	}
	q.t.Fatalf("%s %+v, %d handles, step %d: %s on handle %d (model: %d queued, closed %v): %s",
		kind, q.cfg, len(q.handles), q.step, q.op, q.h, len(q.model), q.closed, fmt.Sprintf(format, args...))
}

// expect fails unless err is want (nil, or a sentinel matched with
// errors.Is).
func (q *opsQueue) expect(err, want error) {
	q.t.Helper()
	if (want == nil) != (err == nil) || want != nil && !errors.Is(err, want) {
		q.fail("err %v, want %v", err, want)
	}
}

// message makes a message of n bytes, unlike every other: its sequence
// number leads, then bytes derived from it.
func (q *opsQueue) message(n int) []byte {
	q.seq++
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], q.seq)
	m := make([]byte, n)
	copy(m, b[:])
	for i := 8; i < n; i++ {
		m[i] = byte(q.seq) ^ byte(i)
	}
	return m
}

// length maps an argument byte to a message length in [0, SlotSize], and
// 255 to one byte too many.
func (q *opsQueue) length(b byte) int {
	if b == 255 {
		return q.cfg.SlotSize + 1
	}
	return int(b) * q.cfg.SlotSize / 254
}

// capacity maps an argument byte to a buffer size: SlotSize for half the
// values, so that most pops fit, else [0, SlotSize).
func (q *opsQueue) capacity(b byte) int {
	if b >= 128 {
		return q.cfg.SlotSize
	}
	return int(b) * q.cfg.SlotSize / 128
}

func (q *opsQueue) room() int { return q.cfg.Slots - len(q.model) }

// pushErr is what pushing one message of n bytes must return.
func (q *opsQueue) pushErr(n int) error {
	switch {
	case n > q.cfg.SlotSize:
		return ring.ErrTooLarge
	case q.closed:
		return ring.ErrClosed
	case q.room() == 0:
		return ring.ErrFull
	}
	return nil
}

// emptyErr is what taking a message from an empty ring must return.
func (q *opsQueue) emptyErr() error {
	if q.closed {
		return io.EOF
	}
	return ring.ErrEmpty
}

// popErr is what popping into a buffer of capacity c must return.
func (q *opsQueue) popErr(c int) error {
	switch {
	case len(q.model) == 0:
		return q.emptyErr()
	case len(q.model[0]) > c:
		return io.ErrShortBuffer
	}
	return nil
}

// batchWant is what TryPushBatch(msgs) must return: how many it pushes
// (the leading messages that fit a slot, as many as there is room for),
// or the error when it can push none. Which error an unpushable batch
// reports differs by kind: SPSC checks the ring (closed, full) before the
// first message's length, MPMC after.
func (q *opsQueue) batchWant(msgs [][]byte) (int, error) {
	fit := 0
	for fit < len(msgs) && len(msgs[fit]) <= q.cfg.SlotSize {
		fit++
	}
	switch {
	case fit == 0 && q.kind == ring.KindMPMC:
		return 0, ring.ErrTooLarge
	case q.closed:
		return 0, ring.ErrClosed
	case q.room() == 0:
		return 0, ring.ErrFull
	case fit == 0:
		return 0, ring.ErrTooLarge
	}
	return min(fit, q.room()), nil
}

// popped checks that got is the oldest message of the model and removes it.
func (q *opsQueue) popped(got []byte) {
	q.t.Helper()
	if !bytes.Equal(got, q.model[0]) {
		q.fail("got %d bytes %x, want %d bytes %x", len(got), got, len(q.model[0]), q.model[0])
	}
	q.model = q.model[1:]
}

func (q *opsQueue) run() {
	b := q.next()
	q.h = int(b>>4) % len(q.handles)
	r, other := q.handles[q.h], q.handles[(q.h+1)%len(q.handles)]
	switch int(b&15) % numFuzzOps {
	case fuzzTryPush:
		q.op = "TryPush"
		m := q.message(q.length(q.next()))
		want := q.pushErr(len(m))
		if q.fenced(true, len(m) <= q.cfg.SlotSize) {
			want = ring.ErrFenced
		}
		q.expect(r.TryPush(m), want)
		if want == nil {
			q.model = append(q.model, m)
		}

	case fuzzTryPop:
		q.op = "TryPop"
		dst := make([]byte, q.capacity(q.next()))
		want := q.popErr(len(dst))
		if q.fenced(false, true) {
			want = ring.ErrFenced
		}
		n, err := r.TryPop(dst)
		q.expect(err, want)
		if want != nil && n != 0 {
			q.fail("%d bytes with error %v", n, err)
		}
		if want == nil {
			q.popped(dst[:n])
		}

	case fuzzTryPushBatch:
		q.op = "TryPushBatch"
		k, l, over := 1+int(q.next())%(q.cfg.Slots+2), int(q.next()), int(q.next())
		msgs := make([][]byte, k)
		for j := range msgs {
			n := (l + 29*j) % (q.cfg.SlotSize + 1)
			if j == over {
				n = q.cfg.SlotSize + 1
			}
			msgs[j] = q.message(n)
		}
		wantN, want := q.batchWant(msgs)
		if q.fenced(true, true) {
			wantN, want = 0, ring.ErrFenced
		}
		n, err := r.TryPushBatch(msgs)
		q.expect(err, want)
		if n != wantN {
			q.fail("pushed %d of %d, want %d", n, k, wantN)
		}
		q.model = append(q.model, msgs[:n]...)

	case fuzzTryPopBatch:
		q.op = "TryPopBatch"
		k, c := 1+int(q.next())%(q.cfg.Slots+2), q.capacity(q.next())
		bufs := make([][]byte, k)
		for j := range bufs {
			bufs[j] = make([]byte, 0, c)
		}
		want, wantN := q.popErr(c), 0
		if q.fenced(false, true) {
			want = ring.ErrFenced
		}
		for want == nil && wantN < k && wantN < len(q.model) && len(q.model[wantN]) <= c {
			wantN++
		}
		n, err := r.TryPopBatch(bufs)
		q.expect(err, want)
		if n != wantN {
			q.fail("popped %d into %d buffers of %d bytes, want %d", n, k, c, wantN)
		}
		for _, got := range bufs[:n] {
			q.popped(got)
		}

	case fuzzReserveCommit:
		q.op = "TryReserve"
		n, cut := q.length(q.next()), int(q.next())%(q.cfg.SlotSize+1)
		want := q.pushErr(n)
		if q.fenced(true, n <= q.cfg.SlotSize) {
			want = ring.ErrFenced
		}
		res, err := r.TryReserve(n)
		q.expect(err, want)
		if want != nil {
			return
		}
		if len(res.Buf) != n || cap(res.Buf) != q.cfg.SlotSize {
			q.fail("reserved len %d cap %d, want %d, %d", len(res.Buf), cap(res.Buf), n, q.cfg.SlotSize)
		}
		// cut may be longer than asked for: the message is written
		// through the capacity.
		m := q.message(cut)
		copy(res.Buf[:cut], m)
		q.op = "Commit (another handle's reservation)"
		q.expect(other.Commit(res, cut), ring.ErrNotReserved)
		q.op = "Commit"
		q.expect(r.Commit(res, cut), nil)
		q.model = append(q.model, m)
		q.op = "Commit (again)"
		q.expect(r.Commit(res, cut), ring.ErrNotReserved)

	case fuzzPeekRelease:
		q.op = "TryPeek"
		msg, err := r.TryPeek()
		if q.fenced(false, true) {
			q.expect(err, ring.ErrFenced)
			return
		}
		if len(q.model) == 0 {
			q.expect(err, q.emptyErr())
			return
		}
		q.expect(err, nil)
		if !bytes.Equal(msg.Data, q.model[0]) {
			q.fail("peeked %x, want %x", msg.Data, q.model[0])
		}
		q.op = "Release (another handle's message)"
		q.expect(other.Release(msg), ring.ErrNotReserved)
		q.op = "Release"
		q.expect(r.Release(msg), nil)
		q.model = q.model[1:]
		q.op = "Release (again)"
		q.expect(r.Release(msg), ring.ErrNotReserved)

	case fuzzClose:
		q.op = "Close"
		q.expect(r.CloseWrite(), nil)
		q.closed = true
	}
}

// check compares what every handle says of the ring with the model.
func (q *opsQueue) check() {
	q.t.Helper()
	n := len(q.model)
	for i, r := range q.handles {
		st := r.Stats()
		if r.Len() != n || r.IsClosed() != q.closed || st.Len != uint64(n) || st.Closed != q.closed || st.MsgsIn-st.MsgsOut != uint64(n) {
			q.fail("after the step, handle %d says Len %d, IsClosed %v, Stats %+v", i, r.Len(), r.IsClosed(), st)
		}
	}
}

// drain closes the ring and pops, from the last handle, everything the
// model holds, then io.EOF; pushing then fails with ErrClosed.
func (q *opsQueue) drain() {
	q.t.Helper()
	q.op, q.h = "drain", len(q.handles)-1
	if q.kind == ring.KindSPSC && q.consOwner >= 0 {
		q.h = q.consOwner // the other consumer handle is fenced
	}
	q.expect(q.handles[0].CloseWrite(), nil)
	q.closed = true
	r := q.handles[q.h]
	dst := make([]byte, q.cfg.SlotSize)
	for len(q.model) > 0 {
		n, err := r.TryPop(dst)
		q.expect(err, nil)
		q.popped(dst[:n])
	}
	_, err := r.TryPop(dst)
	q.expect(err, io.EOF)
	q.expect(r.TryPush(nil), ring.ErrClosed)
	q.check()
}
