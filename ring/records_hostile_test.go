package ring

// FuzzHostileRecords: FuzzHostileMemory's hostile peer (fuzz_hostile_test.go)
// against a record ring. Between the operations of several handles
// (producers, the consumer, attaches and closes) it writes chosen values
// into the ring's shared memory: W and H, the claim lock and HeadCache
// (producer unit offsets 16 and 24), the record headers in the data area
// (Size, State with this or another lap, Len, Owner), the ring header
// (State, Closed, geometry fields with the checksum recomputed), the
// eventcount words, and any aligned word. Every operation must return nil
// or a documented error, never panic, never hand out a slice outside the
// handle's data area or longer than SlotSize, never write outside the
// ring, and return within hostileCallMax.
//
//	go test -run '^$' -fuzz '^FuzzHostileRecords$' -fuzztime 60s ./ring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmring/shmring/internal/seed"
)

// Opcodes of FuzzHostileRecords. A step byte below hostileWrite is an
// operation (b % rhNumOps) followed by a byte choosing the handle, then
// the operation's arguments; a byte >= hostileWrite is a write into the
// ring's memory, its target b & 15 (rhPoke*).
const (
	rhPush          = iota // len
	rhPushBatch            // k, len
	rhReserve              // len: kept outstanding
	rhCommit               // which, len: commit an outstanding reservation
	rhPop                  // size
	rhPopBatch             // k, size
	rhPeek                 // kept outstanding
	rhRelease              // which: release an outstanding peek
	rhDiscard              // n
	rhPushWait             // len: Push with a 1 ms deadline
	rhPopWait              // size: Pop with a 1 ms deadline
	rhPushBatchWait        // k, len
	rhPopBatchWait         // k, size
	rhZeroCopyWait         // n: Reserve (even) or Peek (odd) with a 1 ms deadline
	rhCloseWrite           // CloseWrite
	rhClose                // Close the handle
	rhInspect              // Len, Stats, Peers, Recover
	rhAttach               // attach another handle to the (scribbled) memory
	rhNumOps
)

// Targets of a hostile write in a record ring.
const (
	rhPokeAny64     = iota // off u16, value u64
	rhPokeAny32            // off u16, value u32
	rhPokeW                // value spec: W (the producer unit's Pos)
	rhPokeH                // value spec: H (the consumer unit's Pos)
	rhPokeClaimLock        // lock spec: the claim lock (producer unit + 16)
	rhPokeHeadCache        // value spec: HeadCache (producer unit + 24)
	rhPokeRecord           // where, field, value: a record header's Size, State, Len or Owner
	rhPokeState            // which, value u32: ring header State or Closed
	rhPokeHeader           // field, value u32: a geometry field, checksum recomputed
	rhPokeWaiters          // which, value u32: an eventcount word
)

const (
	rhMaxHandles = 4
	rhMaxHeld    = 8 // outstanding reservations and peeks kept
)

var rhErrs = []error{ErrCorrupt, ErrEmpty, ErrFull, io.EOF, ErrClosed, ErrFenced, ErrNotReserved,
	ErrOutstanding, io.ErrShortBuffer, ErrTooLarge, context.DeadlineExceeded}

// rhAttachErrs are the further errors an attach to scribbled memory may
// return: the header's validation.
var rhAttachErrs = []error{ErrKind, ErrVersion, ErrNotReady, ErrUnsupported}

// rhostile is a record ring under attack: its memory (guarded heap
// memory, or its region in an arena whose data area every handle maps
// twice), the handles on it and what they hold outstanding.
type rhostile struct {
	t       *testing.T
	cfg     Config
	g       geometry
	big     []byte // heap: guard, ring, guard; nil for an arena ring
	mem     []byte // the ring's region: what the hostile peer writes
	attach  func() (*Records, error)
	handles []*Records
	res     []heldRes
	msgs    []heldMsg
	waits   int
	step    int
	op      string
}

type heldRes struct {
	h   int
	res Reservation
}

type heldMsg struct {
	h int
	m Message
}

// FuzzHostileRecords: see the file comment. mode bit 0: the ring is in
// an arena (mirrored on Linux); bit 1: 8 KiB with records up to 4000
// bytes (payloads copied outside the claim lock) instead of 4 KiB and
// 100.
func FuzzHostileRecords(f *testing.F) {
	f.Fuzz(func(t *testing.T, mode byte, prog []byte) {
		x := newRHostile(t, mode)
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
		for i, h := range x.handles {
			x.call(fmt.Sprintf("Close %d", i), func() { x.checkErr(h.Close()) })
		}
		x.checkGuards()
	})
}

func newRHostile(t *testing.T, mode byte) *rhostile {
	x := &rhostile{t: t, cfg: Config{Capacity: 4096, SlotSize: 100}}
	if mode&2 != 0 {
		x.cfg = Config{Capacity: 8192, SlotSize: 4000}
	}
	var r *Records
	if mode&1 != 0 {
		a, rr := recordsArena(t, x.cfg)
		reg, err := a.Lookup("rec")
		if err != nil {
			t.Fatal(err)
		}
		r, x.mem = rr, reg.Bytes()[:rr.g.size]
		x.attach = func() (*Records, error) { return OpenRecords(a, "rec", WithOpenTimeout(time.Millisecond)) }
	} else {
		size, err := Size(KindRecords, x.cfg, 128)
		if err != nil {
			t.Fatal(err)
		}
		x.big = make([]byte, hostileGuard+int(size)+hostileGuard)
		copy(x.big, guardPattern)
		copy(x.big[len(x.big)-hostileGuard:], guardPattern)
		x.mem = x.big[hostileGuard : hostileGuard+size : hostileGuard+size]
		if r, err = NewRecords(x.mem, x.cfg, 128); err != nil {
			t.Fatal(err)
		}
		x.attach = func() (*Records, error) { return AttachRecords(x.mem, WithOpenTimeout(time.Millisecond)) }
	}
	x.g = r.g
	x.handles = append(x.handles, r)
	r2, err := x.attach()
	if err != nil {
		t.Fatal(err)
	}
	x.handles = append(x.handles, r2)
	t.Cleanup(func() {
		for _, h := range x.handles {
			h.Close()
		}
	})
	return x
}

func (x *rhostile) fail(format string, args ...any) {
	x.t.Helper()
	x.t.Fatalf("records %+v mirrored %v step %d %s: %s", x.cfg, x.g.mirrored, x.step, x.op, fmt.Sprintf(format, args...))
}

// call runs one operation under the time bound, as bhostile.call does.
func (x *rhostile) call(op string, f func()) {
	x.t.Helper()
	x.op = op
	step := x.step
	dog := time.AfterFunc(hostileHang, func() {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		panic(fmt.Sprintf("FuzzHostileRecords: step %d %s has not returned after %v\n%s", step, op, hostileHang, buf))
	})
	start := time.Now()
	f()
	d := time.Since(start)
	dog.Stop()
	if d > hostileCallMax {
		x.fail("took %v (bound %v)", d, hostileCallMax)
	}
}

func (x *rhostile) checkErr(err error, extra ...error) {
	x.t.Helper()
	if err == nil {
		return
	}
	for _, e := range append(rhErrs, extra...) {
		if errors.Is(err, e) {
			return
		}
	}
	x.fail("unexpected error %v", err)
}

// within fails unless b (up to its capacity) lies in handle h's data
// area (Capacity bytes, or twice that mirrored), is at most SlotSize long
// and has a capacity of at most capMax: SlotSize for a reservation (as
// TryReserve promises), the payload space of the largest record for a
// peeked message (its record's span less the header).
func (x *rhostile) within(what string, h *Records, b []byte, capMax int) {
	x.t.Helper()
	if len(b) > x.cfg.SlotSize || cap(b) > capMax {
		x.fail("%s: len %d cap %d (SlotSize %d)", what, len(b), cap(b), x.cfg.SlotSize)
	}
	if cap(b) == 0 {
		return
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(h.data)))
	hi := lo + uintptr(len(h.data))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < lo || p+uintptr(cap(b)) > hi {
		x.fail("%s: [%#x,+%d) outside the data area [%#x,%#x)", what, p, cap(b), lo, hi)
	}
}

func (x *rhostile) checkGuards() {
	x.t.Helper()
	if x.big == nil {
		return
	}
	if !bytes.Equal(x.big[:hostileGuard], guardPattern) || !bytes.Equal(x.big[len(x.big)-hostileGuard:], guardPattern) {
		x.fail("a write outside the ring changed a guard byte")
	}
}

// msgLen maps a byte to a length: 0..SlotSize+2 (a few too large).
func (x *rhostile) msgLen(b byte) int { return int(b) * (x.cfg.SlotSize + 2) / 255 }

func (x *rhostile) msg(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(x.step + i)
	}
	return b
}

func (x *rhostile) batch(p *script) [][]byte {
	msgs := make([][]byte, 1+int(p.next())%8)
	l := int(p.next())
	for i := range msgs {
		msgs[i] = x.msg(x.msgLen(byte(l + 37*i)))
	}
	return msgs
}

func (x *rhostile) bufs(p *script) [][]byte {
	bufs := make([][]byte, 1+int(p.next())%8)
	n := x.msgLen(p.next())
	for i := range bufs {
		bufs[i] = make([]byte, n)
	}
	return bufs
}

func (x *rhostile) checkPopped(n int, err error, limit int) {
	x.t.Helper()
	x.checkErr(err)
	if n < 0 || n > min(limit, x.cfg.SlotSize) || err != nil && n != 0 {
		x.fail("length %d with %v (buffer %d)", n, err, limit)
	}
}

func (x *rhostile) checkBatch(bufs [][]byte, n int, err error) {
	x.t.Helper()
	x.checkErr(err)
	if n < 0 || n > len(bufs) || err != nil && n != 0 {
		x.fail("popped %d of %d with %v", n, len(bufs), err)
	}
	for i := 0; i < n; i++ {
		if len(bufs[i]) > x.cfg.SlotSize {
			x.fail("batch message %d of %d bytes", i, len(bufs[i]))
		}
	}
}

func (x *rhostile) checkPushed(msgs [][]byte, n int, err error) {
	x.t.Helper()
	x.checkErr(err)
	if n < 0 || n > len(msgs) || err != nil && n != 0 {
		x.fail("pushed %d of %d with %v", n, len(msgs), err)
	}
}

func (x *rhostile) wait() (context.Context, context.CancelFunc, bool) {
	if x.waits >= hostileMaxWaits {
		return nil, nil, false
	}
	x.waits++
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	return ctx, cancel, true
}

func (x *rhostile) holdRes(hi int, res Reservation) {
	if len(x.res) >= rhMaxHeld {
		x.res = x.res[1:]
	}
	x.res = append(x.res, heldRes{hi, res})
}

func (x *rhostile) holdMsg(hi int, m Message) {
	if len(x.msgs) >= rhMaxHeld {
		x.msgs = x.msgs[1:]
	}
	x.msgs = append(x.msgs, heldMsg{hi, m})
}

func (x *rhostile) run(b byte, p *script) {
	code := int(b) % rhNumOps
	hi := int(p.next()) % len(x.handles)
	h := x.handles[hi]
	switch code {
	case rhPush:
		msg := x.msg(x.msgLen(p.next()))
		x.call("TryPush", func() { x.checkErr(h.TryPush(msg)) })
	case rhPushBatch:
		msgs := x.batch(p)
		x.call("TryPushBatch", func() {
			n, err := h.TryPushBatch(msgs)
			x.checkPushed(msgs, n, err)
		})
	case rhReserve:
		n := x.msgLen(p.next())
		x.call("TryReserve", func() {
			res, err := h.TryReserve(n)
			x.checkErr(err)
			if err == nil {
				x.within("reservation", h, res.Buf, x.cfg.SlotSize)
				copy(res.Buf[:cap(res.Buf)], x.msg(cap(res.Buf)))
				x.holdRes(hi, res)
			}
		})
	case rhCommit:
		which, n := int(p.next()), x.msgLen(p.next())
		res := Reservation{}
		if len(x.res) > 0 {
			res = x.res[which%len(x.res)].res
		}
		x.call("Commit", func() { x.checkErr(h.Commit(res, n)) })
	case rhPop:
		dst := make([]byte, x.msgLen(p.next()))
		x.call("TryPop", func() {
			n, err := h.TryPop(dst)
			x.checkPopped(n, err, len(dst))
		})
	case rhPopBatch:
		bufs := x.bufs(p)
		x.call("TryPopBatch", func() {
			n, err := h.TryPopBatch(bufs)
			x.checkBatch(bufs, n, err)
		})
	case rhPeek:
		x.call("TryPeek", func() {
			m, err := h.TryPeek()
			x.checkErr(err)
			if err == nil {
				x.within("peeked message", h, m.Data, int(span(uint64(x.cfg.SlotSize))-recordHeaderSize))
				x.holdMsg(hi, m)
			}
		})
	case rhRelease:
		which := int(p.next())
		m := Message{}
		if len(x.msgs) > 0 {
			m = x.msgs[which%len(x.msgs)].m
		}
		x.call("Release", func() { x.checkErr(h.Release(m)) })
	case rhDiscard:
		n := int(p.next())%6 - 1
		x.call("Discard", func() {
			k, err := h.Discard(n)
			x.checkErr(err)
			if k < 0 || n >= 0 && k > n || err != nil && k != 0 {
				x.fail("discarded %d of %d with %v", k, n, err)
			}
		})
	case rhPushWait:
		msg := x.msg(x.msgLen(p.next()))
		if ctx, cancel, ok := x.wait(); ok {
			x.call("Push", func() { x.checkErr(h.Push(ctx, msg)) })
			cancel()
		}
	case rhPopWait:
		dst := make([]byte, x.msgLen(p.next()))
		if ctx, cancel, ok := x.wait(); ok {
			x.call("Pop", func() {
				n, err := h.Pop(ctx, dst)
				x.checkPopped(n, err, len(dst))
			})
			cancel()
		}
	case rhPushBatchWait:
		msgs := x.batch(p)
		if ctx, cancel, ok := x.wait(); ok {
			x.call("PushBatch", func() {
				n, err := h.PushBatch(ctx, msgs)
				x.checkErr(err)
				if n < 0 || n > len(msgs) {
					x.fail("pushed %d of %d", n, len(msgs))
				}
			})
			cancel()
		}
	case rhPopBatchWait:
		bufs := x.bufs(p)
		if ctx, cancel, ok := x.wait(); ok {
			x.call("PopBatch", func() {
				n, err := h.PopBatch(ctx, bufs)
				x.checkBatch(bufs, n, err)
			})
			cancel()
		}
	case rhZeroCopyWait:
		n := int(p.next())
		ctx, cancel, ok := x.wait()
		if !ok {
			return
		}
		defer cancel()
		if n&1 == 0 {
			x.call("Reserve", func() {
				res, err := h.Reserve(ctx, x.msgLen(byte(n)))
				x.checkErr(err)
				if err == nil {
					x.within("reservation", h, res.Buf, x.cfg.SlotSize)
					x.holdRes(hi, res)
				}
			})
		} else {
			x.call("Peek", func() {
				m, err := h.Peek(ctx)
				x.checkErr(err)
				if err == nil {
					x.within("peeked message", h, m.Data, int(span(uint64(x.cfg.SlotSize))-recordHeaderSize))
					x.holdMsg(hi, m)
				}
			})
		}
	case rhCloseWrite:
		x.call("CloseWrite", func() { x.checkErr(h.CloseWrite()) })
	case rhClose:
		x.call("Close", func() { x.checkErr(h.Close()) })
	case rhInspect:
		x.call("inspect", func() {
			if n := h.Len(); n < 0 {
				x.fail("Len %d", n)
			}
			_ = h.Stats()
			_ = h.Peers()
			_ = h.IsClosed()
			_ = h.Recover()
		})
	case rhAttach:
		if len(x.handles) >= rhMaxHandles {
			return
		}
		x.call("Attach", func() {
			r, err := x.attach()
			x.checkErr(err, rhAttachErrs...)
			if err == nil {
				x.handles = append(x.handles, r)
			}
		})
	}
}

// poke performs one hostile write, atomically (as FuzzHostileMemory's
// do), so that the race detector checks the ring's accesses rather than
// the fuzzer's.
func (x *rhostile) poke(b byte, p *script) {
	g := &x.g
	put64 := func(off, v uint64) { atomic.StoreUint64((*uint64)(unsafe.Pointer(&x.mem[off])), v) }
	put32 := func(off uint64, v uint32) { atomic.StoreUint32((*uint32)(unsafe.Pointer(&x.mem[off])), v) }
	get64 := func(off uint64) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&x.mem[off]))) }
	get32 := func(off uint64) uint32 { return atomic.LoadUint32((*uint32)(unsafe.Pointer(&x.mem[off]))) }
	// value: a spec byte with the top bit set takes 8 raw bytes;
	// otherwise its low 6 bits are a signed delta from the word's value,
	// in records (16 bytes) if bit 6 is set, so that positions and sizes
	// come out plausible but wrong.
	value := func(cur uint64) uint64 {
		spec := p.next()
		if spec&0x80 != 0 {
			return p.u64()
		}
		d := int64(int8(spec<<2) >> 2)
		if spec&0x40 != 0 {
			d *= recordAlign
		}
		return cur + uint64(d)
	}
	// tag: a handle's tag (ours: live), one of a free entry, or raw.
	tag := func() uint32 {
		switch spec := p.next(); spec % 4 {
		case 1:
			return x.handles[int(p.next())%len(x.handles)].ownerTag
		case 2:
			return makeTag(int(g.peers)-1, uint32(spec)) // an entry nobody holds
		case 3:
			return p.u32()
		}
		return 0
	}
	switch b & 15 {
	case rhPokeAny64:
		put64(uint64(p.u16())%(g.size/8)*8, p.u64())
	case rhPokeAny32:
		put32(uint64(p.u16())%(g.size/4)*4, p.u32())
	case rhPokeW:
		put64(g.prodOff, value(get64(g.prodOff)))
	case rhPokeH:
		put64(g.consOff, value(get64(g.consOff)))
	case rhPokeClaimLock:
		put32(g.prodOff+uint64(unsafe.Offsetof(recordProd{}.ClaimLock)), tag())
	case rhPokeHeadCache:
		off := g.prodOff + uint64(unsafe.Offsetof(recordProd{}.HeadCache))
		put64(off, value(get64(off)))
	case rhPokeRecord:
		// The record at H, at W, at a held reservation or peek, or at
		// any 16-byte boundary.
		var pos uint64
		switch where := p.next(); where % 4 {
		case 0:
			pos = get64(g.consOff) & spscPosMask
		case 1:
			pos = get64(g.prodOff) & spscPosMask
		case 2:
			if len(x.res) > 0 && where&4 == 0 {
				pos = x.res[len(x.res)-1].res.pos
			} else if len(x.msgs) > 0 {
				pos = x.msgs[len(x.msgs)-1].m.pos
			}
		case 3:
			pos = uint64(p.u16()) * recordAlign
		}
		hd := g.slotsOff + pos&(g.capacity-1)&^(recordAlign-1)
		lap := uint32(pos>>g.lapShift) << recLapShift
		switch field := p.next(); field % 4 {
		case 0:
			put32(hd, uint32(value(uint64(get32(hd)))))
		case 1:
			// This lap's states (and 0, 5..7), the previous or next
			// lap's, or raw.
			var v uint32
			switch spec := p.next(); spec >> 6 {
			case 0:
				v = uint32(spec&7) | lap
			case 1:
				v = uint32(spec&7) | (lap - 1<<recLapShift)
			case 2:
				v = uint32(spec&7) | (lap + 1<<recLapShift)
			default:
				v = p.u32()
			}
			put32(hd+4, v)
		case 2:
			put32(hd+8, uint32(value(uint64(get32(hd+8)))))
		case 3:
			put32(hd+12, tag())
		}
	case rhPokeState:
		off := uint64(unsafe.Offsetof(ringHeader{}.State))
		if p.next()&1 != 0 {
			off = uint64(unsafe.Offsetof(ringHeader{}.Closed))
		}
		put32(off, p.u32())
	case rhPokeHeader:
		// A peer that rewrites a field and the checksum: only later
		// attaches read the header (every handle keeps its geometry).
		field, v := p.next(), p.u32()
		h := (*ringHeader)(unsafe.Pointer(&x.mem[0]))
		words := []*uint32{&h.Kind, &h.Slots, &h.SlotSize, &h.SlotStride, &h.PadUnit, &h.PeerCapacity, &h.PeerStride, &h.Flags, &h.DataAlign, (*uint32)(unsafe.Pointer(&h.Capacity))}
		atomic.StoreUint32(words[int(field)%len(words)], v)
		atomic.StoreUint32(&h.Checksum, h.sum())
	case rhPokeWaiters:
		offs := [4]uint64{g.prodOff + 8, g.prodOff + 12, g.consOff + 8, g.consOff + 12}
		put32(offs[p.next()%4], p.u32())
	}
}

// rhSeeds are FuzzHostileRecords's seeds: traffic on every handle, then
// each kind of damage, with traffic after it; each in heap memory and
// mirrored (and the traffic with large records too).
func rhSeeds() map[string]struct {
	mode byte
	prog bhProg
} {
	// Handle bytes: 0 (creator) consumes, 0 and 1 (attached) produce.
	traffic := bhProg(nil).
		op(rhPush, 0, 50).op(rhPushBatch, 1, 5, 20).op(rhPop, 0, 255).op(rhPopBatch, 0, 4, 255).
		op(rhReserve, 1, 80).op(rhReserve, 0, 250).op(rhCommit, 1, 0, 60).op(rhPush, 1, 255).op(rhPeek, 0).op(rhPeek, 0).
		op(rhRelease, 0, 0).op(rhRelease, 0, 1).op(rhInspect, 0)
	ops := bhProg(nil).
		op(rhPush, 0, 20).op(rhPop, 0, 255).op(rhPushBatch, 1, 7, 90).op(rhPopBatch, 0, 8, 255).op(rhDiscard, 0, 2).
		op(rhReserve, 0, 8).op(rhCommit, 0, 9, 8).op(rhPeek, 0).op(rhRelease, 0, 9).op(rhDiscard, 0, 0).op(rhInspect, 1)
	// fill pushes records so that H has several behind it.
	fill := bhProg(nil).each(6, func(p bhProg, i byte) bhProg { return p.op(rhPush, i&1, 40*i) })
	// rec pokes a record header: where (0 H, 1 W, 2 held, 3 index), field, value bytes.
	rec := func(p bhProg, where, field byte, v ...byte) bhProg {
		return p.poke(rhPokeRecord, append([]byte{where, field}, v...)...)
	}
	seeds := map[string]bhProg{
		"traffic":          traffic.then(traffic).then(traffic),
		"w-ahead":          traffic.poke(rhPokeW, 0x40|5).then(ops),
		"w-behind":         traffic.poke(rhPokeW, 0x7d).then(ops),
		"w-unaligned":      traffic.poke(rhPokeW, 3).then(ops),
		"w-garbage":        traffic.poke(rhPokeW, raw64(1<<60|12345)...).then(ops),
		"w-closed-bit":     traffic.poke(rhPokeW, raw64(1<<63|0x40)...).then(ops),
		"h-ahead":          traffic.then(fill).poke(rhPokeH, 0x40|3).then(ops),
		"h-behind":         traffic.poke(rhPokeH, 0x7e).then(ops),
		"h-unaligned":      traffic.then(fill).poke(rhPokeH, 5).then(ops),
		"h-epoch":          traffic.poke(rhPokeH, raw64(1<<56|0x40)...).then(ops),
		"h-bit63":          traffic.poke(rhPokeH, raw64(1<<63)...).then(ops),
		"claimlock-live":   traffic.poke(rhPokeClaimLock, 1, 1).op(rhPush, 0, 9).op(rhPushBatch, 0, 2, 9).op(rhReserve, 0, 9).op(rhPushWait, 0, 9).then(ops),
		"claimlock-own":    traffic.poke(rhPokeClaimLock, 1, 0).op(rhPush, 0, 9).then(ops),
		"claimlock-free":   traffic.poke(rhPokeClaimLock, 2).op(rhPush, 1, 9).op(rhInspect, 0).then(ops),
		"claimlock-raw":    traffic.poke(rhPokeClaimLock, 3, 0xff, 0xff, 0xff, 0xff).op(rhPush, 0, 9).then(ops),
		"headcache-ahead":  traffic.then(fill).poke(rhPokeHeadCache, 0x40|20).then(fill).then(ops),
		"headcache-raw":    traffic.poke(rhPokeHeadCache, raw64(1<<62|7)...).then(fill).then(ops),
		"size-huge":        rec(traffic.then(fill), 0, 0, raw64(0xfff0)...).then(ops),
		"size-zero":        rec(traffic.then(fill), 0, 0, raw64(0)...).then(ops),
		"size-unaligned":   rec(traffic.then(fill), 0, 0, 3).then(ops),
		"size-over-max":    rec(traffic.then(fill), 0, 0, 0x40|30).then(ops),
		"size-shrunk":      rec(traffic.then(fill), 0, 0, 0x40|0x3f).then(ops),
		"state-busy":       rec(traffic.then(fill), 0, 1, 1).op(rhPopWait, 0, 255).op(rhInspect, 0).then(ops),
		"state-padding":    rec(traffic.then(fill), 0, 1, 3).then(ops),
		"state-skip":       rec(traffic.then(fill), 0, 1, 4).then(ops),
		"state-zero":       rec(traffic.then(fill), 0, 1, 0).then(ops),
		"state-bad":        rec(traffic.then(fill), 0, 1, 7).then(ops),
		"state-prev-lap":   rec(traffic.then(fill), 0, 1, 1<<6|2).then(ops),
		"state-next-lap":   rec(traffic.then(fill), 0, 1, 2<<6|2).then(ops),
		"state-raw":        rec(traffic.then(fill), 0, 1, 3<<6, 0xff, 0xff, 0xff, 0xff).then(ops),
		"state-beyond-w":   rec(rec(traffic, 1, 1, 2), 1, 0, 0x40|2).then(ops),
		"len-huge":         rec(traffic.then(fill), 0, 2, raw64(0xffffffff)...).then(ops),
		"len-over-size":    rec(traffic.then(fill), 0, 2, 20).then(ops),
		"len-over-max":     rec(rec(traffic.then(fill), 0, 2, raw64(101)...), 0, 0, 0x40|8).then(ops),
		"owner-dead-busy":  rec(rec(bhProg(nil).op(rhReserve, 1, 30).op(rhPush, 0, 5), 2, 3, 2), 2, 1, 1).op(rhPopWait, 0, 255).op(rhPopWait, 0, 255).op(rhInspect, 0).op(rhCommit, 1, 0, 3).then(ops),
		"owner-live-other": rec(bhProg(nil).op(rhReserve, 1, 30).op(rhPush, 0, 5), 2, 3, 1, 0).op(rhCommit, 1, 0, 3).op(rhPop, 0, 255).then(ops),
		"reserve-skipped":  rec(bhProg(nil).op(rhReserve, 1, 30), 2, 1, 4).op(rhCommit, 1, 0, 30).then(ops),
		"reserve-resized":  rec(bhProg(nil).op(rhReserve, 0, 30), 2, 0, 0x40|1).op(rhCommit, 0, 0, 30).then(ops),
		"peek-then-h":      traffic.op(rhPeek, 0).op(rhPeek, 0).poke(rhPokeH, 0x40|1).op(rhRelease, 0, 0).op(rhRelease, 0, 1).then(ops),
		"peek-scribbled":   rec(traffic.then(fill).op(rhPeek, 0), 2, 2, raw64(0xffff)...).op(rhPeek, 0).op(rhRelease, 0, 0).then(ops),
		"index-scribble":   rec(rec(traffic, 3, 0, raw64(0x100, 0x20, 0)...), 3, 1, 0x21, 0, 2).then(ops),
		"header-capacity":  traffic.poke(rhPokeHeader, 9, 0, 0x20, 0, 0).op(rhAttach, 0).then(ops),
		"header-flags":     traffic.poke(rhPokeHeader, 7, 0, 0, 0, 0).op(rhAttach, 0).then(ops),
		"header-dataalign": traffic.poke(rhPokeHeader, 8, 16, 0, 0, 0).op(rhAttach, 0).then(ops),
		"header-slots":     traffic.poke(rhPokeHeader, 1, 0, 1, 0, 0).op(rhAttach, 0).then(ops),
		"state-not-ready":  traffic.poke(rhPokeState, 0, 0, 0, 0, 0).op(rhAttach, 0).then(ops),
		"closed-mirror":    traffic.poke(rhPokeState, 1, 1, 0, 0, 0).then(ops).op(rhPopWait, 0, 255),
		"waiters-garbage": traffic.poke(rhPokeWaiters, 1, 9, 0, 0, 0).poke(rhPokeWaiters, 3, 0xff, 0xff, 0xff, 0xff).
			op(rhPushWait, 0, 3).op(rhPopWait, 0, 255).then(ops),
		"blocking-ops": bhProg(nil).op(rhPopWait, 0, 255).op(rhPopBatchWait, 0, 2, 255).
			each(30, func(p bhProg, _ byte) bhProg { return p.op(rhPush, 1, 255) }).
			op(rhPushWait, 0, 255).op(rhPushBatchWait, 1, 2, 255),
		"blocking-zero-copy": bhProg(nil).op(rhZeroCopyWait, 0, 3).
			each(30, func(p bhProg, _ byte) bhProg { return p.op(rhPush, 1, 255) }).
			op(rhZeroCopyWait, 0, 2).op(rhZeroCopyWait, 0, 1).op(rhZeroCopyWait, 1, 4),
		"takeover": traffic.op(rhAttach, 0).op(rhPop, 2, 255).op(rhPop, 0, 255).op(rhPeek, 2).poke(rhPokeH, 0x40|0x3f).
			op(rhRelease, 2, 9).then(ops),
		"close-then-scribble": traffic.op(rhReserve, 1, 40).op(rhClose, 1).poke(rhPokeClaimLock, 1, 1).
			op(rhPush, 0, 9).op(rhInspect, 0).op(rhCloseWrite, 0).poke(rhPokeW, 0x40|1).then(ops),
	}
	out := map[string]struct {
		mode byte
		prog bhProg
	}{}
	for name, p := range seeds {
		out[name] = struct {
			mode byte
			prog bhProg
		}{0, p}
		out["mirrored-"+name] = struct {
			mode byte
			prog bhProg
		}{1, p}
	}
	big := traffic.then(fill).then(ops).then(traffic)
	for mode := byte(2); mode < 4; mode++ {
		out[fmt.Sprintf("large-%d", mode)] = struct {
			mode byte
			prog bhProg
		}{mode, big}
	}
	return out
}

// TestHostileRecordsSeeds checks FuzzHostileRecords's committed corpus is
// there; SHMRING_WRITE_CORPUS=1 rewrites it from rhSeeds.
func TestHostileRecordsSeeds(t *testing.T) {
	for name, s := range rhSeeds() {
		seed.Corpus(t, "FuzzHostileRecords", name, fmt.Sprintf("byte(%q)\n[]byte(%q)\n", s.mode, []byte(s.prog)))
	}
}
