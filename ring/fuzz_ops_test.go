package ring

// FuzzRingOps: a fuzz-chosen program of ring operations on one goroutine,
// every answer checked against a plain slice queue (opsModel).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

// Opcodes of FuzzRingOps. An op byte is handle<<7 | code, where handle
// picks the creating handle (0) or a second attached one (1); for SPSC a
// handle's first operation on a side takes that side over, and the handle
// it replaced gets ErrFenced from then on (sideModel).
const (
	opPush          = iota // len: TryPush of a message of that length (255: SlotSize+1)
	opPop                  // size: TryPop into a buffer of that size (>= 128: SlotSize)
	opPushBatch            // k, len, oversize: TryPushBatch of k messages
	opPopBatch             // k, cap: TryPopBatch into k buffers of that capacity
	opReserve              // len, how: TryReserve + Commit (how: shorter, longer, bad n, foreign handle)
	opPeek                 // how: TryPeek + Release (how&1: try the other handle's Release first)
	opClose                // Close
	opCheck                // Len, Stats and IsClosed on both handles
	opPopWait              // size: Pop with a background context, when it cannot block
	opPushWait             // len: Push, when it cannot block
	opPushBatchWait        // k, len, oversize: PushBatch, when it cannot block
	opPeekWait             // how: Peek + Release, when it cannot block
	numOps
)

// opsMaxSteps bounds a FuzzRingOps program.
const opsMaxSteps = 2000

// FuzzRingOps runs a fuzz-chosen program of ring operations on one
// goroutine and checks every result against a plain slice queue, as
// TestModel does: each error exactly when the model says so, popped and
// peeked bytes equal to what was pushed.
func FuzzRingOps(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind, slotsLog byte, slotSize uint16, ops []byte) {
		m := newOpsModel(t, kind, slotsLog, slotSize)
		p := &script{b: ops}
		for m.step = 0; m.step < opsMaxSteps && p.more(); m.step++ {
			m.run(p)
		}
		m.drain()
	})
}

// opsModel is a ring under test, a second handle on it, and the model.
type opsModel struct {
	t        *testing.T
	kind     ringKind
	cfg      Config
	h        [2]Ring
	q        [][]byte // the model: committed messages, oldest first
	closed   bool
	msgSeq   int // makes every message's bytes different
	step     int
	op       string
	handle   int
	slotSize int
	// prod and cons model SPSC side ownership.
	prod, cons sideModel
}

// sideModel is the ownership of one SPSC side (spsc_takeover.go): a
// handle's first operation that reaches the side's prologue takes it
// over; a handle that owned it before and was replaced is fenced for good.
type sideModel struct {
	owner int
	used  [2]bool
}

// fencedOp says whether an operation of handle m.handle on the producer
// (or consumer) side that reaches the side's prologue must return
// ErrFenced, and otherwise records its takeover. A closed stream answers
// producers ErrClosed before any takeover.
func (m *opsModel) fencedOp(producer, reaches bool) bool {
	if m.kind != kindSPSC || !reaches || producer && m.closed {
		return false
	}
	sd := &m.cons
	if producer {
		sd = &m.prod
	}
	if sd.used[m.handle] && sd.owner != m.handle {
		return true
	}
	sd.owner, sd.used[m.handle] = m.handle, true
	return false
}

func newOpsModel(t *testing.T, kind, slotsLog byte, slotSize uint16) *opsModel {
	m := &opsModel{t: t, kind: kindSPSC}
	if kind&1 != 0 {
		m.kind = kindMPMC
	}
	m.cfg = Config{Slots: 2 << (slotsLog % 6), SlotSize: 1 + int(slotSize%512)}
	m.slotSize = m.cfg.SlotSize
	r, mem := newHeapRing(t, m.kind, m.cfg)
	m.h = [2]Ring{r, attachHeap(t, m.kind, mem)}
	m.prod.owner, m.cons.owner = -1, -1
	return m
}

func (m *opsModel) fail(format string, args ...any) {
	m.t.Helper()
	kind := "SPSC"
	if m.kind == kindMPMC {
		kind = "MPMC"
	}
	m.t.Fatalf("%s %+v step %d %s on handle %d (model: %d queued, closed %v): %s",
		kind, m.cfg, m.step, m.op, m.handle, len(m.q), m.closed, fmt.Sprintf(format, args...))
}

// want fails unless err is exactly the expected outcome.
func (m *opsModel) want(err, want error) {
	m.t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		m.fail("err %v, want %v", err, want)
	}
}

// popErr is the error a consumer operation must return on an empty model.
func (m *opsModel) popErr() error {
	if m.closed {
		return io.EOF
	}
	return ErrEmpty
}

func (m *opsModel) free() int { return m.cfg.Slots - len(m.q) }

// msgLen maps a byte to a message length: 0..SlotSize, and 255 to one byte
// too many.
func (m *opsModel) msgLen(b byte) int {
	if b == 255 {
		return m.slotSize + 1
	}
	return int(b) * m.slotSize / 254
}

// bufSize maps a byte to a buffer size: SlotSize for half the values, so
// most pops fit, else 0..SlotSize.
func (m *opsModel) bufSize(b byte) int {
	if b >= 128 {
		return m.slotSize
	}
	return int(b) * m.slotSize / 127
}

func (m *opsModel) newMsg(n int) []byte {
	m.msgSeq++
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(m.msgSeq*131 + i*7 + 1)
	}
	return b
}

// push checks the outcome of pushing msg (TryPush or Push).
func (m *opsModel) push(msg []byte, err error) {
	m.t.Helper()
	switch {
	case len(msg) > m.slotSize:
		m.want(err, ErrTooLarge)
	case m.closed:
		m.want(err, ErrClosed)
	case m.free() == 0:
		m.want(err, ErrFull)
	default:
		m.want(err, nil)
		m.q = append(m.q, msg)
	}
}

// pop checks the outcome of popping into dst (TryPop or Pop).
func (m *opsModel) pop(dst []byte, n int, err error) {
	m.t.Helper()
	switch {
	case len(m.q) == 0:
		m.want(err, m.popErr())
	case len(m.q[0]) > len(dst):
		m.want(err, io.ErrShortBuffer)
	default:
		m.want(err, nil)
		if !bytes.Equal(dst[:n], m.q[0]) {
			m.fail("popped %d bytes %x, want %x", n, dst[:n], m.q[0])
		}
		m.q = m.q[1:]
		return
	}
	if n != 0 {
		m.fail("%d bytes with error %v", n, err)
	}
}

// pushBatch checks the outcome of pushing msgs in one batch. Which error
// an unpushable batch reports differs by kind: SPSC checks the ring
// (closed, full) before the first message's length, MPMC after.
func (m *opsModel) pushBatch(msgs [][]byte, n int, err error, blocking bool) {
	m.t.Helper()
	fit := m.fit(msgs)
	var wantErr error
	switch {
	case fit == 0 && m.kind == kindMPMC:
		wantErr = ErrTooLarge
	case m.closed:
		wantErr = ErrClosed
	case m.free() == 0:
		wantErr = ErrFull
	case fit == 0:
		wantErr = ErrTooLarge
	}
	if wantErr != nil {
		m.want(err, wantErr)
		if n != 0 {
			m.fail("pushed %d with error %v", n, err)
		}
		return
	}
	want := min(fit, m.free())
	if blocking && fit < len(msgs) {
		// PushBatch stops at the message that can never fit.
		m.want(err, ErrTooLarge)
	} else {
		m.want(err, nil)
	}
	if n != want {
		m.fail("pushed %d, want %d", n, want)
	}
	m.q = append(m.q, msgs[:n]...)
}

func (m *opsModel) run(p *script) {
	b := p.next()
	m.handle = int(b >> 7)
	h, other := m.h[m.handle], m.h[1-m.handle]
	switch code := int(b&0x7f) % numOps; code {
	case opPush:
		m.op = "TryPush"
		msg := m.newMsg(m.msgLen(p.next()))
		if m.fencedOp(true, len(msg) <= m.slotSize) {
			m.want(h.TryPush(msg), ErrFenced)
			return
		}
		m.push(msg, h.TryPush(msg))

	case opPop:
		m.op = "TryPop"
		dst := make([]byte, m.bufSize(p.next()))
		n, err := h.TryPop(dst)
		if m.fencedOp(false, true) {
			m.want(err, ErrFenced)
			return
		}
		m.pop(dst, n, err)

	case opPushBatch:
		m.op = "TryPushBatch"
		msgs := m.batch(p)
		n, err := h.TryPushBatch(msgs)
		if m.fencedOp(true, true) {
			m.want(err, ErrFenced)
			return
		}
		m.pushBatch(msgs, n, err, false)

	case opPopBatch:
		m.op = "TryPopBatch"
		k := 1 + int(p.next())%(m.cfg.Slots+2)
		c := m.bufSize(p.next())
		bufs := make([][]byte, k)
		for i := range bufs {
			bufs[i] = make([]byte, 0, c)
		}
		n, err := h.TryPopBatch(bufs)
		if m.fencedOp(false, true) {
			m.want(err, ErrFenced)
			return
		}
		m.popBatch(bufs, n, err)

	case opReserve:
		m.op = "TryReserve"
		n, how := m.msgLen(p.next()), p.next()
		if m.fencedOp(true, n <= m.slotSize) {
			_, err := h.TryReserve(n)
			m.want(err, ErrFenced)
			return
		}
		m.reserve(h, other, n, how)

	case opPeek:
		m.op = "TryPeek"
		msg, err := h.TryPeek()
		how := p.next()
		if m.fencedOp(false, true) {
			m.want(err, ErrFenced)
			return
		}
		m.peek(h, other, msg, err, how)

	case opClose:
		m.op = "Close"
		m.want(h.CloseWrite(), nil)
		m.closed = true
		m.check()

	case opCheck:
		m.op = "check"
		m.check()

	case opPopWait:
		m.op = "Pop"
		dst := make([]byte, m.bufSize(p.next()))
		if len(m.q) == 0 && !m.closed {
			return // would block
		}
		n, err := h.Pop(context.Background(), dst)
		if m.fencedOp(false, true) {
			m.want(err, ErrFenced)
			return
		}
		m.pop(dst, n, err)

	case opPushWait:
		m.op = "Push"
		msg := m.newMsg(m.msgLen(p.next()))
		if m.free() == 0 && !m.closed && len(msg) <= m.slotSize {
			return // would block
		}
		if m.fencedOp(true, len(msg) <= m.slotSize) {
			m.want(h.Push(context.Background(), msg), ErrFenced)
			return
		}
		m.push(msg, h.Push(context.Background(), msg))

	case opPushBatchWait:
		m.op = "PushBatch"
		msgs := m.batch(p)
		fit := m.fit(msgs)
		// It would block if the fitting messages do not all fit, or (SPSC,
		// which checks for room before lengths) if they fill the ring and
		// an oversized one follows.
		if !m.closed && (fit > m.free() || m.kind == kindSPSC && fit < len(msgs) && fit == m.free()) {
			return
		}
		n, err := h.PushBatch(context.Background(), msgs)
		if m.fencedOp(true, true) {
			m.want(err, ErrFenced)
			return
		}
		m.pushBatch(msgs, n, err, true)

	case opPeekWait:
		m.op = "Peek"
		how := p.next()
		if len(m.q) == 0 && !m.closed {
			return // would block
		}
		msg, err := h.Peek(context.Background())
		if m.fencedOp(false, true) {
			m.want(err, ErrFenced)
			return
		}
		m.peek(h, other, msg, err, how)
	}
}

// fit is how many leading messages of a batch fit a slot.
func (m *opsModel) fit(msgs [][]byte) int {
	n := 0
	for n < len(msgs) && len(msgs[n]) <= m.slotSize {
		n++
	}
	return n
}

// batch decodes k, a length and the index of an oversized message (none if
// it is >= k) into a batch of messages of varied lengths.
func (m *opsModel) batch(p *script) [][]byte {
	k := 1 + int(p.next())%(m.cfg.Slots+2)
	l := int(p.next())
	over := int(p.next())
	msgs := make([][]byte, k)
	for i := range msgs {
		n := (l + i*37) % (m.slotSize + 1)
		if i == over {
			n = m.slotSize + 1
		}
		msgs[i] = m.newMsg(n)
	}
	return msgs
}

func (m *opsModel) popBatch(bufs [][]byte, n int, err error) {
	m.t.Helper()
	c := cap(bufs[0])
	switch {
	case len(m.q) == 0:
		m.want(err, m.popErr())
	case len(m.q[0]) > c:
		m.want(err, io.ErrShortBuffer)
	default:
		m.want(err, nil)
		want := 0
		for want < len(bufs) && want < len(m.q) && len(m.q[want]) <= c {
			want++
		}
		if n != want {
			m.fail("popped %d, want %d", n, want)
		}
		for i := 0; i < n; i++ {
			if !bytes.Equal(bufs[i], m.q[i]) {
				m.fail("message %d: %x, want %x", i, bufs[i], m.q[i])
			}
		}
		m.q = m.q[n:]
		return
	}
	if n != 0 {
		m.fail("popped %d with error %v", n, err)
	}
}

// reserve runs TryReserve(n) and commits, as how says: how&3 == 1 commits
// fewer bytes than reserved, 2 more (written through the capacity), 3
// first tries Commit with an impossible length; how&4 first tries the
// other handle's Commit.
func (m *opsModel) reserve(h, other Ring, n int, how byte) {
	m.t.Helper()
	res, err := h.TryReserve(n)
	switch {
	case n > m.slotSize:
		m.want(err, ErrTooLarge)
		return
	case m.closed:
		m.want(err, ErrClosed)
		return
	case m.free() == 0:
		m.want(err, ErrFull)
		return
	}
	m.want(err, nil)
	if len(res.Buf) != n || cap(res.Buf) != m.slotSize {
		m.fail("reserved len %d cap %d, want %d, %d", len(res.Buf), cap(res.Buf), n, m.slotSize)
	}
	cut := n
	switch how & 3 {
	case 1:
		cut = int(how>>3) % (n + 1)
	case 2:
		cut = n + int(how>>3)%(m.slotSize-n+1)
	case 3:
		m.op = "Commit (bad length)"
		m.want(h.Commit(res, m.slotSize+1), ErrTooLarge)
		m.want(h.Commit(res, -1), ErrInvalid)
	}
	msg := m.newMsg(cut)
	copy(res.Buf[:cut], msg)
	if how&4 != 0 {
		m.op = "Commit (other handle)"
		m.want(other.Commit(res, cut), ErrNotReserved)
	}
	m.op = "Commit"
	m.want(h.Commit(res, cut), nil)
	m.q = append(m.q, msg)
	m.op = "Commit (twice)"
	m.want(h.Commit(res, cut), ErrNotReserved)
}

// peek checks a TryPeek or Peek result and releases it; how&1 first tries
// the other handle's Release.
func (m *opsModel) peek(h, other Ring, msg Message, err error, how byte) {
	m.t.Helper()
	if len(m.q) == 0 {
		m.want(err, m.popErr())
		return
	}
	m.want(err, nil)
	if !bytes.Equal(msg.Data, m.q[0]) {
		m.fail("peeked %x, want %x", msg.Data, m.q[0])
	}
	if how&1 != 0 {
		m.op = "Release (other handle)"
		m.want(other.Release(msg), ErrNotReserved)
	}
	m.op = "Release"
	m.want(h.Release(msg), nil)
	m.q = m.q[1:]
	m.op = "Release (twice)"
	m.want(h.Release(msg), ErrNotReserved)
}

// check compares Len, Stats and IsClosed of both handles with the model.
func (m *opsModel) check() {
	m.t.Helper()
	for i, h := range m.h {
		if got := h.Len(); got != len(m.q) {
			m.fail("handle %d: Len %d", i, got)
		}
		if st := h.Stats(); st.Len != uint64(len(m.q)) || st.Closed != m.closed || st.MsgsIn-st.MsgsOut != uint64(len(m.q)) {
			m.fail("handle %d: Stats %+v", i, st)
		}
		if h.IsClosed() != m.closed {
			m.fail("handle %d: IsClosed %v", i, h.IsClosed())
		}
	}
}

// drain closes the ring and pops what the model still holds, then io.EOF.
func (m *opsModel) drain() {
	m.t.Helper()
	m.op = "drain"
	m.want(m.h[0].CloseWrite(), nil)
	m.closed = true
	dst := make([]byte, m.slotSize)
	c := m.h[1] // the SPSC consumer, if any handle has taken that side
	if m.kind == kindSPSC && m.cons.owner >= 0 {
		c = m.h[m.cons.owner]
	}
	for len(m.q) > 0 {
		n, err := c.TryPop(dst)
		m.pop(dst, n, err)
	}
	n, err := c.TryPop(dst)
	m.pop(dst, n, err)
	m.check()
}
