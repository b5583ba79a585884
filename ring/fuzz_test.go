package ring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// Fuzz targets. Their seed corpora are in testdata/fuzz/<FuzzName>;
// TestFuzzSeeds builds them (SHMRING_WRITE_CORPUS=1 rewrites the files).
//
//	go test -run '^$' -fuzz '^FuzzRingOps$' -fuzztime 30s ./ring
//	go test -run '^$' -fuzz '^FuzzHostileMemory$' -fuzztime 30s ./ring

// script reads a fuzz program byte by byte; past its end it reads zeros.
type script struct {
	b []byte
	i int
}

func (s *script) more() bool { return s.i < len(s.b) }

func (s *script) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return s.b[s.i-1]
}

func (s *script) u16() uint16 { return uint16(s.next()) | uint16(s.next())<<8 }

func (s *script) u32() uint32 { return uint32(s.u16()) | uint32(s.u16())<<16 }

func (s *script) u64() uint64 { return uint64(s.u32()) | uint64(s.u32())<<32 }

// Opcodes of FuzzRingOps. An op byte is handle<<7 | code, where handle
// picks the creating handle (0) or a second attached one (1); for SPSC the
// second handle takes over the producer or consumer side, which the ring
// allows as long as the sides never run concurrently.
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
		m.push(msg, h.TryPush(msg))

	case opPop:
		m.op = "TryPop"
		dst := make([]byte, m.bufSize(p.next()))
		n, err := h.TryPop(dst)
		m.pop(dst, n, err)

	case opPushBatch:
		m.op = "TryPushBatch"
		msgs := m.batch(p)
		n, err := h.TryPushBatch(msgs)
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
		m.popBatch(bufs, n, err)

	case opReserve:
		m.op = "TryReserve"
		m.reserve(h, other, m.msgLen(p.next()), p.next())

	case opPeek:
		m.op = "TryPeek"
		msg, err := h.TryPeek()
		m.peek(h, other, msg, err, p.next())

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
		m.pop(dst, n, err)

	case opPushWait:
		m.op = "Push"
		msg := m.newMsg(m.msgLen(p.next()))
		if m.free() == 0 && !m.closed && len(msg) <= m.slotSize {
			return // would block
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
		m.pushBatch(msgs, n, err, true)

	case opPeekWait:
		m.op = "Peek"
		how := p.next()
		if len(m.q) == 0 && !m.closed {
			return // would block
		}
		msg, err := h.Peek(context.Background())
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
	for len(m.q) > 0 {
		n, err := m.h[1].TryPop(dst)
		m.pop(dst, n, err)
	}
	n, err := m.h[0].TryPop(dst)
	m.pop(dst, n, err)
	m.check()
}

// Opcodes of FuzzHostileMemory. A step byte below hostileWrite is an
// operation: handle = (b>>4)&3 (modulo the number of handles), code = b&15.
// A byte >= hostileWrite is a write into the ring's memory (see poke).
const (
	hoPush          = iota // len (mod 40: SlotSize is 32)
	hoPop                  // size
	hoPushBatch            // k, len
	hoPopBatch             // k, cap
	hoReserve              // len: keep the reservation outstanding
	hoCommit               // who, len: commit an outstanding reservation
	hoPeek                 // keep the message outstanding
	hoRelease              // who: release an outstanding message
	hoPopWait              // size: Pop with a 1 ms deadline
	hoPushWait             // len: Push with a 1 ms deadline
	hoPopBatchWait         // k, cap: PopBatch with a 1 ms deadline
	hoPushBatchWait        // k, len: PushBatch with a 1 ms deadline
	hoWaitZeroCopy         // len: Reserve (even) or Peek (odd) with a 1 ms deadline
	hoClose                // Close
	hoInspect              // Len, Stats, IsClosed
	hoAttach               // attach another handle to the (scribbled) memory

	hostileWrite = 0xc0
)

// Targets of a hostile write (the low 3 bits of its step byte).
const (
	pokeAny64   = iota // off u16, value u64: any aligned 8 bytes of the ring
	pokeAny32          // off u16, value u32: any aligned 4 bytes of the ring
	pokeProd           // value spec: the producer position
	pokeCons           // value spec: the consumer position
	pokeSeq            // slot, value spec: a slot's sequence number
	pokeLen            // slot, value u32: a slot's length
	pokeHeader         // which, value u32: ring header State or Closed word
	pokeWaiters        // which, value u32: an eventcount word
)

const (
	hostileGuard    = 4096 // guard bytes on each side of the ring
	hostileMaxSteps = 400
	hostileMaxWaits = 4 // blocking operations per input, each up to 1 ms
	hostileHandles  = 4
)

var hostileErrs = []error{ErrFull, ErrEmpty, ErrClosed, ErrTooLarge, ErrCorrupt, ErrNotReserved, ErrOutstanding, io.EOF, io.ErrShortBuffer, context.DeadlineExceeded}

// hostile is a ring in guarded heap memory, several handles on it, and
// what each handle holds outstanding.
type hostile struct {
	t       *testing.T
	kind    ringKind
	cfg     Config
	g       geometry
	big     []byte // guard, ring, guard
	mem     []byte // the ring: big[hostileGuard : hostileGuard+size], capacity capped
	handles []Ring
	res     []*Reservation
	msgs    []*Message
	waits   int
	step    int
	op      string
}

// FuzzHostileMemory lets the fuzzer play a hostile peer: between
// operations on several handles it writes chosen values anywhere in the
// ring's memory, header included. Every operation must return a valid
// result or an allowed error, never panic, never hand out a slice outside
// the ring, and never write outside it (the guard zones around the ring
// stay intact). Only non-blocking operations and blocking ones with a 1 ms
// deadline run, so nothing hangs.
func FuzzHostileMemory(f *testing.F) {
	f.Fuzz(func(t *testing.T, kind byte, prog []byte) {
		x := newHostile(t, kind)
		p := &script{b: prog}
		for x.step = 0; x.step < hostileMaxSteps && p.more(); x.step++ {
			b := p.next()
			if b >= hostileWrite {
				x.op = "poke"
				x.poke(b, p)
			} else {
				x.run(b, p)
			}
			x.checkGuards()
		}
	})
}

func newHostile(t *testing.T, kind byte) *hostile {
	x := &hostile{t: t, kind: kindSPSC, cfg: Config{Slots: 8, SlotSize: 32}}
	ak := KindSPSC
	if kind&1 != 0 {
		x.kind, ak = kindMPMC, KindMPMC
	}
	size, err := Size(ak, x.cfg, 128)
	if err != nil {
		t.Fatal(err)
	}
	x.big = make([]byte, hostileGuard+int(size)+hostileGuard)
	copy(x.big, guardPattern)
	copy(x.big[len(x.big)-hostileGuard:], guardPattern)
	x.mem = x.big[hostileGuard : hostileGuard+size : hostileGuard+size]
	var r Ring
	if x.kind == kindSPSC {
		s, err := NewSPSC(x.mem, x.cfg, 128)
		if err != nil {
			t.Fatal(err)
		}
		r, x.g = s, s.g
	} else {
		s, err := NewMPMC(x.mem, x.cfg, 128)
		if err != nil {
			t.Fatal(err)
		}
		r, x.g = s, s.g
	}
	x.addHandle(r)
	x.addHandle(attachHeap(t, x.kind, x.mem))
	return x
}

// guardPattern fills the guard zones on both sides of a hostile ring.
var guardPattern = func() []byte {
	b := make([]byte, hostileGuard)
	for i := range b {
		b[i] = byte(i*7 + 0xa5)
	}
	return b
}()

func (x *hostile) addHandle(r Ring) {
	x.handles = append(x.handles, r)
	x.res = append(x.res, nil)
	x.msgs = append(x.msgs, nil)
}

func (x *hostile) fail(format string, args ...any) {
	x.t.Helper()
	kind := "SPSC"
	if x.kind == kindMPMC {
		kind = "MPMC"
	}
	x.t.Fatalf("%s step %d %s: %s", kind, x.step, x.op, fmt.Sprintf(format, args...))
}

// checkErr fails unless err is nil or one of the allowed errors (extra
// adds some for this operation).
func (x *hostile) checkErr(err error, extra ...error) {
	x.t.Helper()
	if err == nil {
		return
	}
	for _, e := range append(hostileErrs, extra...) {
		if errors.Is(err, e) {
			return
		}
	}
	x.fail("unexpected error %v", err)
}

// within fails unless b (up to its capacity) lies inside the ring's
// memory and is at most SlotSize long.
func (x *hostile) within(what string, b []byte) {
	x.t.Helper()
	if len(b) > x.cfg.SlotSize || cap(b) > x.cfg.SlotSize {
		x.fail("%s: len %d cap %d exceeds SlotSize %d", what, len(b), cap(b), x.cfg.SlotSize)
	}
	if cap(b) == 0 {
		return
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(x.mem)))
	hi := lo + uintptr(len(x.mem))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < lo || p+uintptr(cap(b)) > hi {
		x.fail("%s: [%#x,+%d) outside the ring [%#x,%#x)", what, p, cap(b), lo, hi)
	}
}

// checkLen fails unless n is a valid message length for a buffer of size
// limit.
func (x *hostile) checkLen(n int, err error, limit int) {
	x.t.Helper()
	x.checkErr(err)
	if n < 0 || n > min(limit, x.cfg.SlotSize) {
		x.fail("length %d (buffer %d, SlotSize %d)", n, limit, x.cfg.SlotSize)
	}
}

// checkGuards fails if anything wrote outside the ring.
func (x *hostile) checkGuards() {
	x.t.Helper()
	lo, hi := x.big[:hostileGuard], x.big[len(x.big)-hostileGuard:]
	if bytes.Equal(lo, guardPattern) && bytes.Equal(hi, guardPattern) {
		return
	}
	for i := range guardPattern {
		if lo[i] != guardPattern[i] {
			x.fail("guard byte %d before the ring changed: %#x", hostileGuard-i, lo[i])
		}
		if hi[i] != guardPattern[i] {
			x.fail("guard byte %d after the ring changed: %#x", i, hi[i])
		}
	}
}

func (x *hostile) msg(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(x.step + i)
	}
	return b
}

func (x *hostile) bufs(k, c int) [][]byte {
	bufs := make([][]byte, k)
	for i := range bufs {
		bufs[i] = make([]byte, 0, c)
	}
	return bufs
}

func (x *hostile) checkBatch(bufs [][]byte, n int, err error) {
	x.t.Helper()
	x.checkErr(err)
	if n < 0 || n > len(bufs) || err != nil && n != 0 {
		x.fail("popped %d of %d with error %v", n, len(bufs), err)
	}
	for i := 0; i < n; i++ {
		if len(bufs[i]) > x.cfg.SlotSize {
			x.fail("batch message %d of %d bytes", i, len(bufs[i]))
		}
	}
}

// wait returns a context with a 1 ms deadline, or false once the input
// has used its budget of blocking operations.
func (x *hostile) wait() (context.Context, context.CancelFunc, bool) {
	if x.waits >= hostileMaxWaits {
		return nil, nil, false
	}
	x.waits++
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	return ctx, cancel, true
}

func (x *hostile) run(b byte, p *script) {
	hi := int(b>>4&3) % len(x.handles)
	h := x.handles[hi]
	code := int(b & 15)
	switch code {
	case hoPush:
		x.op = "TryPush"
		x.checkErr(h.TryPush(x.msg(int(p.next()) % 40)))

	case hoPop:
		x.op = "TryPop"
		dst := make([]byte, int(p.next())%40)
		n, err := h.TryPop(dst)
		x.checkLen(n, err, len(dst))

	case hoPushBatch:
		x.op = "TryPushBatch"
		msgs := x.batch(p)
		n, err := h.TryPushBatch(msgs)
		x.checkErr(err)
		if n < 0 || n > len(msgs) || err != nil && n != 0 {
			x.fail("pushed %d of %d with error %v", n, len(msgs), err)
		}

	case hoPopBatch:
		x.op = "TryPopBatch"
		bufs := x.bufs(1+int(p.next())%10, int(p.next())%40)
		n, err := h.TryPopBatch(bufs)
		x.checkBatch(bufs, n, err)

	case hoReserve:
		x.op = "TryReserve"
		res, err := h.TryReserve(int(p.next()) % 40)
		x.checkErr(err)
		if err == nil {
			x.within("reservation", res.Buf)
			copy(res.Buf, x.msg(len(res.Buf)))
			x.res[hi] = &res
		}

	case hoCommit:
		x.op = "Commit"
		who, n := int(p.next()), int(p.next())%40
		res := x.res[who%len(x.res)]
		if res == nil {
			res = &Reservation{}
		}
		x.checkErr(h.Commit(*res, n))

	case hoPeek:
		x.op = "TryPeek"
		m, err := h.TryPeek()
		x.checkErr(err)
		if err == nil {
			x.within("peeked message", m.Data)
			x.msgs[hi] = &m
		}

	case hoRelease:
		x.op = "Release"
		m := x.msgs[int(p.next())%len(x.msgs)]
		if m == nil {
			m = &Message{}
		}
		x.checkErr(h.Release(*m))

	case hoPopWait:
		x.op = "Pop"
		dst := make([]byte, int(p.next())%40)
		if ctx, cancel, ok := x.wait(); ok {
			n, err := h.Pop(ctx, dst)
			cancel()
			x.checkLen(n, err, len(dst))
		}

	case hoPushWait:
		x.op = "Push"
		msg := x.msg(int(p.next()) % 40)
		if ctx, cancel, ok := x.wait(); ok {
			err := h.Push(ctx, msg)
			cancel()
			x.checkErr(err)
		}

	case hoPopBatchWait:
		x.op = "PopBatch"
		bufs := x.bufs(1+int(p.next())%10, int(p.next())%40)
		if ctx, cancel, ok := x.wait(); ok {
			n, err := h.PopBatch(ctx, bufs)
			cancel()
			x.checkBatch(bufs, n, err)
		}

	case hoPushBatchWait:
		x.op = "PushBatch"
		msgs := x.batch(p)
		if ctx, cancel, ok := x.wait(); ok {
			n, err := h.PushBatch(ctx, msgs)
			cancel()
			x.checkErr(err)
			if n < 0 || n > len(msgs) {
				x.fail("pushed %d of %d", n, len(msgs))
			}
		}

	case hoWaitZeroCopy:
		n := int(p.next())
		ctx, cancel, ok := x.wait()
		if !ok {
			return
		}
		defer cancel()
		if n&1 == 0 {
			x.op = "Reserve"
			res, err := h.Reserve(ctx, n%40)
			x.checkErr(err)
			if err == nil {
				x.within("reservation", res.Buf)
				x.res[hi] = &res
			}
		} else {
			x.op = "Peek"
			m, err := h.Peek(ctx)
			x.checkErr(err)
			if err == nil {
				x.within("peeked message", m.Data)
				x.msgs[hi] = &m
			}
		}

	case hoClose:
		x.op = "Close"
		x.checkErr(h.CloseWrite())

	case hoInspect:
		x.op = "Len/Stats"
		if n := h.Len(); n < 0 || n > x.cfg.Slots {
			x.fail("Len %d", n)
		}
		_ = h.Stats()
		_ = h.IsClosed()

	case hoAttach:
		x.op = "Attach"
		if len(x.handles) >= hostileHandles {
			return
		}
		var r Ring
		var err error
		if x.kind == kindSPSC {
			r, err = AttachSPSC(x.mem, WithOpenTimeout(time.Millisecond)) // attaching to a scribbled State word
		} else {
			r, err = AttachMPMC(x.mem, WithOpenTimeout(time.Millisecond))
		}
		x.checkErr(err, ErrKind, ErrVersion, ErrNotReady)
		if err == nil {
			x.addHandle(r)
		}
	}
}

func (x *hostile) batch(p *script) [][]byte {
	msgs := make([][]byte, 1+int(p.next())%10)
	l := int(p.next())
	for i := range msgs {
		msgs[i] = x.msg((l + 13*i) % 40)
	}
	return msgs
}

// poke performs one hostile write, as a peer process's plain store would
// look to us; atomic, so that the race detector checks the ring's accesses
// rather than the fuzzer's.
func (x *hostile) poke(b byte, p *script) {
	g := &x.g
	put64 := func(off, v uint64) { atomic.StoreUint64((*uint64)(unsafe.Pointer(&x.mem[off])), v) }
	put32 := func(off uint64, v uint32) { atomic.StoreUint32((*uint32)(unsafe.Pointer(&x.mem[off])), v) }
	get64 := func(off uint64) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&x.mem[off]))) }
	// value: a spec byte with the top bit set takes 8 raw bytes; otherwise
	// its low 7 bits are a signed delta from the word's current value, so
	// positions and sequence numbers come out plausible but wrong.
	value := func(cur uint64) uint64 {
		spec := p.next()
		if spec&0x80 != 0 {
			return p.u64()
		}
		return cur + uint64(int64(int8(spec<<1)>>1))
	}
	slot := func() uint64 { return g.slotsOff + uint64(p.next())%g.slots*g.stride }
	switch b & 7 {
	case pokeAny64:
		put64(uint64(p.u16())%(g.size/8)*8, p.u64())
	case pokeAny32:
		put32(uint64(p.u16())%(g.size/4)*4, p.u32())
	case pokeProd:
		put64(g.prodOff, value(get64(g.prodOff)))
	case pokeCons:
		put64(g.consOff, value(get64(g.consOff)))
	case pokeSeq:
		s := slot()
		if x.kind == kindMPMC {
			put64(s, value(get64(s)))
		} else {
			put32(s+4, uint32(value(uint64(loadU32((*uint32)(unsafe.Pointer(&x.mem[s+4])))))))
		}
	case pokeLen:
		s := slot()
		if x.kind == kindMPMC {
			s += 8
		}
		put32(s, p.u32())
	case pokeHeader:
		off := uint64(unsafe.Offsetof(ringHeader{}.State))
		if p.next()&1 != 0 {
			off = uint64(unsafe.Offsetof(ringHeader{}.Closed))
		}
		put32(off, p.u32())
	case pokeWaiters:
		offs := [4]uint64{g.prodOff + 8, g.prodOff + 12, g.consOff + 8, g.consOff + 12}
		put32(offs[p.next()%4], p.u32())
	}
}

// Seed programs. The encoders below write FuzzRingOps and FuzzHostileMemory
// programs; TestFuzzSeeds turns them into the committed corpus.

type prog []byte

func (p prog) op(handle, code int, args ...byte) prog {
	return append(append(p, byte(handle<<7|code)), args...)
}

func (p prog) repeat(n int, f func(prog) prog) prog {
	for i := 0; i < n; i++ {
		p = f(p)
	}
	return p
}

func (p prog) ho(handle, code int, args ...byte) prog {
	return append(append(p, byte(handle<<4|code)), args...)
}

func (p prog) poke(target int, args ...byte) prog {
	return append(append(p, byte(hostileWrite|target)), args...)
}

// pokeSlots pokes target (pokeSeq or pokeLen) in every slot of a
// FuzzHostileMemory ring with the same value arguments.
func (p prog) pokeSlots(target int, args ...byte) prog {
	for i := 0; i < 8; i++ {
		p = p.poke(target, append([]byte{byte(i)}, args...)...)
	}
	return p
}

type ringSeed struct {
	kind, slotsLog byte
	slotSize       uint16
	ops            prog
}

// opsSeeds are FuzzRingOps seeds: each kind through fill, drain,
// wrap-around, batches, zero-copy, short buffers, handle takeover and
// Close.
func opsSeeds() map[string]ringSeed {
	fillDrain := prog(nil).
		repeat(5, func(p prog) prog { return p.op(0, opPush, 100) }). // 4 slots: the fifth is ErrFull
		op(0, opCheck).
		repeat(5, func(p prog) prog { return p.op(1, opPop, 200) }) // the fifth is ErrEmpty
	wrap := prog(nil).repeat(40, func(p prog) prog {
		return p.op(0, opPush, 254).op(1, opPush, 0).op(1, opPop, 255).op(0, opPop, 128)
	})
	batches := prog(nil).
		op(0, opPushBatch, 5, 10, 3).  // oversized 4th message ends the batch
		op(0, opPushBatch, 7, 200, 9). // fills the rest
		op(0, opPushBatch, 1, 1, 9).   // full
		op(1, opPopBatch, 3, 255).
		op(1, opPopBatch, 9, 10). // short buffers
		op(1, opPopBatch, 9, 255).
		op(0, opPushBatch, 2, 0, 0). // first oversized: ErrTooLarge
		op(1, opPopBatch, 1, 255)
	zeroCopy := prog(nil).
		op(0, opReserve, 50, 0).
		op(0, opReserve, 200, 1|8<<3). // shorter commit
		op(1, opReserve, 10, 2|30<<3). // longer commit
		op(0, opReserve, 255, 0).      // too large
		op(1, opReserve, 100, 3|4).    // bad lengths, other handle's Commit
		op(0, opPeek, 1).op(1, opPeek, 0).op(0, opPeekWait, 1).
		op(1, opPeek, 0).op(0, opPeek, 0) // the last one finds it empty
	shortBuf := prog(nil).
		op(0, opPush, 254).op(1, opPop, 10).op(1, opPop, 0).op(1, opPop, 127).op(1, opPopWait, 200).op(1, opPop, 200)
	closing := prog(nil).
		op(0, opPush, 3).op(0, opPushWait, 4).op(0, opPushBatchWait, 2, 5, 9).
		op(1, opClose).
		op(0, opPush, 1).op(0, opReserve, 1, 0).op(0, opPushBatch, 1, 1, 9).op(0, opPushWait, 1).
		op(1, opPopWait, 200).op(0, opPeekWait, 0).op(1, opPopBatch, 9, 255).
		op(1, opPop, 200).op(0, opPopWait, 200).op(0, opPeekWait, 0).op(0, opCheck)
	all := prog(nil)
	for c := 0; c < numOps; c++ {
		all = all.op(c&1, c, byte(c*37), byte(c*11), byte(c*3))
	}
	seeds := map[string]ringSeed{}
	for kind, name := range []string{"spsc", "mpmc"} {
		k := byte(kind)
		seeds[name+"-fill-drain"] = ringSeed{k, 1, 64, fillDrain}
		seeds[name+"-wrap"] = ringSeed{k, 0, 7, wrap}
		seeds[name+"-batches"] = ringSeed{k, 2, 100, batches}
		seeds[name+"-zero-copy"] = ringSeed{k, 1, 511, zeroCopy}
		seeds[name+"-short-buffer"] = ringSeed{k, 5, 300, shortBuf}
		seeds[name+"-close"] = ringSeed{k, 1, 16, closing}
		seeds[name+"-every-op"] = ringSeed{k, 3, 40, all}
	}
	seeds["spsc-empty-program"] = ringSeed{0, 0, 0, nil}
	return seeds
}

type hostileSeed struct {
	kind byte
	prog prog
}

// hostileSeeds are FuzzHostileMemory seeds: plain traffic, then each kind
// of damage a peer can do, with operations after it.
func hostileSeeds() map[string]hostileSeed {
	traffic := prog(nil).
		ho(0, hoPush, 20).ho(1, hoPop, 32).ho(0, hoPushBatch, 3, 5).ho(1, hoPopBatch, 4, 32).
		ho(0, hoReserve, 8).ho(0, hoCommit, 0, 8).ho(0, hoPeek).ho(1, hoPeek).ho(0, hoRelease, 0).ho(1, hoRelease, 1).
		ho(0, hoInspect)
	ops := prog(nil).
		ho(0, hoPush, 20).ho(1, hoPop, 32).ho(0, hoPushBatch, 9, 5).ho(1, hoPopBatch, 4, 32).
		ho(0, hoReserve, 8).ho(0, hoCommit, 0, 8).ho(1, hoPeek).ho(1, hoRelease, 1).ho(0, hoInspect)
	raw := func(v uint64) []byte {
		b := []byte{0x80}
		for i := 0; i < 8; i++ {
			b = append(b, byte(v>>(8*i)))
		}
		return b
	}
	seeds := map[string]hostileSeed{}
	for kind, name := range []string{"spsc", "mpmc"} {
		k := byte(kind)
		add := func(s string, p prog) { seeds[name+"-"+s] = hostileSeed{k, p} }
		add("traffic", traffic.repeat(3, func(p prog) prog { return append(p, traffic...) }))
		add("prod-ahead", traffic.poke(pokeProd, 5).append(ops))
		add("prod-behind", traffic.ho(0, hoPushBatch, 4, 1).poke(pokeProd, 0x7d).append(ops))
		add("prod-garbage", traffic.poke(pokeProd, raw(1<<62|12345)...).append(ops))
		add("prod-closed-bit", traffic.poke(pokeProd, raw(1<<63|3)...).append(ops))
		add("cons-ahead", traffic.poke(pokeCons, 20).append(ops))
		add("cons-behind", traffic.poke(pokeCons, 0x78).append(ops))
		add("seq-ahead", traffic.ho(0, hoPush, 4).pokeSlots(pokeSeq, 9).append(ops))
		add("seq-behind", traffic.ho(0, hoPush, 4).pokeSlots(pokeSeq, 0x7f).append(ops))
		add("seq-published", traffic.pokeSlots(pokeSeq, 1).append(ops))
		add("len-huge", traffic.ho(0, hoPushBatch, 8, 3).pokeSlots(pokeLen, 0xff, 0xff, 0xff, 0x7f).append(ops))
		add("len-just-over", traffic.ho(0, hoPushBatch, 8, 3).pokeSlots(pokeLen, 33, 0, 0, 0).append(ops))
		add("closed-mirror", traffic.poke(pokeHeader, 1, 1, 0, 0, 0).append(ops).ho(0, hoPopWait, 32))
		add("state-zero-attach", traffic.poke(pokeHeader, 0, 0, 0, 0, 0).ho(0, hoAttach).append(ops))
		add("waiters-garbage", traffic.poke(pokeWaiters, 1, 9, 0, 0, 0).poke(pokeWaiters, 3, 0xff, 0xff, 0xff, 0xff).
			ho(0, hoPushWait, 3).ho(1, hoPopWait, 32).ho(1, hoPopWait, 32).append(ops))
		add("header-scribble", traffic.poke(pokeAny64, 2, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0).ho(0, hoAttach).append(ops))
		w := firstLenWord(k)
		add("slot-scribble", traffic.poke(pokeAny32, byte(w), byte(w>>8), 0xff, 0xff, 0xff, 0xff).append(ops))
		add("reserve-then-scribble", prog(nil).ho(0, hoReserve, 16).poke(pokeSeq, 0, 1).ho(0, hoCommit, 0, 16).
			ho(1, hoPeek).poke(pokeCons, 1).ho(1, hoRelease, 1).append(ops))
		add("blocking-ops", prog(nil).ho(0, hoPopWait, 32).ho(0, hoPopBatchWait, 2, 32).
			repeat(9, func(p prog) prog { return p.ho(0, hoPush, 1) }).
			ho(0, hoPushWait, 1).ho(0, hoPushBatchWait, 2, 1).ho(0, hoWaitZeroCopy, 2).ho(1, hoWaitZeroCopy, 3))
		add("close-then-scribble", traffic.ho(1, hoClose).poke(pokeProd, 2).append(ops).ho(0, hoInspect))
	}
	return seeds
}

// firstLenWord is the pokeAny32 word index of the first slot's length in
// a FuzzHostileMemory ring of the given kind.
func firstLenWord(kind byte) int {
	k, off := kindSPSC, uint64(0)
	if kind == 1 {
		k, off = kindMPMC, 8 // MPMC: Len follows the 8-byte Seq
	}
	g := computeGeometry(k, 128, Config{Slots: 8, SlotSize: 32}.withDefaults())
	return int((g.slotsOff + off) / 4)
}

func (p prog) append(q prog) prog { return append(append(prog(nil), p...), q...) }

// TestFuzzSeeds checks the committed seed corpora are there, and with
// SHMRING_WRITE_CORPUS=1 rewrites them from opsSeeds and hostileSeeds.
func TestFuzzSeeds(t *testing.T) {
	for name, s := range opsSeeds() {
		writeOrCheckSeed(t, "FuzzRingOps", name, fmt.Sprintf("byte(%q)\nbyte(%q)\nuint16(%d)\n[]byte(%q)\n", s.kind, s.slotsLog, s.slotSize, []byte(s.ops)))
	}
	for name, s := range hostileSeeds() {
		writeOrCheckSeed(t, "FuzzHostileMemory", name, fmt.Sprintf("byte(%q)\n[]byte(%q)\n", s.kind, []byte(s.prog)))
	}
}

// writeOrCheckSeed writes one seed file in the "go test fuzz v1" format
// when SHMRING_WRITE_CORPUS=1, and otherwise checks it exists.
func writeOrCheckSeed(t *testing.T, fuzzName, seed, values string) {
	t.Helper()
	p := filepath.Join("testdata", "fuzz", fuzzName, seed)
	if os.Getenv("SHMRING_WRITE_CORPUS") != "1" {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("seed corpus: %v (SHMRING_WRITE_CORPUS=1 go test -run %s rewrites it)", err, t.Name())
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("go test fuzz v1\n"+values), 0o644); err != nil {
		t.Fatal(err)
	}
}
