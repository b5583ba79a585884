package ring

// FuzzHostileMemory: a hostile peer scribbling on the ring's memory
// between operations; every answer must be valid or an allowed error.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

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

var hostileErrs = []error{ErrFull, ErrEmpty, ErrClosed, ErrTooLarge, ErrCorrupt, ErrNotReserved, ErrOutstanding, ErrFenced, io.EOF, io.ErrShortBuffer, context.DeadlineExceeded}

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
