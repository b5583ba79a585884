package ring

// FuzzHostileBroadcast: FuzzHostileMemory's hostile peer (fuzz_hostile_test.go)
// against a broadcast ring: between operations on several producer and
// subscriber handles it writes chosen values into the producer word, the
// slots' Seq and Len, the subscriber entries' cursors, roles, PIDs,
// generations and start times, and the header. Every operation must
// return nil or a typed error, never panic, never hand out a slice outside
// the ring or write outside it, and return within hostileCallMax.
// TestBroadcastHeaderRejected and TestBroadcastConfigRejected are the
// table tests of malformed headers and configs.
//
//	go test -run '^$' -fuzz '^FuzzHostileBroadcast$' -fuzztime 30s ./ring

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

// Opcodes of FuzzHostileBroadcast. A step byte below hostileWrite is an
// operation (b % bhNumOps), followed by a byte choosing the handle and
// the operation's arguments; a byte >= hostileWrite is a write into the
// ring's memory, its target b & 15 (bhPoke*).
const (
	bhPush          = iota // len
	bhPushBatch            // k, len
	bhReserve              // len: kept outstanding
	bhCommit               // who, len
	bhPop                  // size
	bhPopBatch             // k, cap
	bhPeek                 // kept outstanding
	bhRelease              // who
	bhPushWait             // len: Push with a 1 ms deadline
	bhPopWait              // size: Pop with a 1 ms deadline
	bhPushBatchWait        // k, len
	bhPopBatchWait         // k, cap
	bhZeroCopyWait         // n: Reserve (even) or Peek (odd) with a 1 ms deadline
	bhCloseWrite           // CloseWrite through a producer or a subscriber
	bhClose                // Close a producer or a subscriber
	bhInspect              // Len, Lag, Stats, Subscribers, IsClosed
	bhJoin                 // opts: AttachSubscriber to the (scribbled) memory
	bhAttach               // AttachBroadcast to the (scribbled) memory
	bhNumOps
)

// Targets of a hostile write in a broadcast ring.
const (
	bhPokeAny64      = iota // off u16, value u64
	bhPokeAny32             // off u16, value u32
	bhPokeProd              // value spec: the producer word
	bhPokeSeq               // slot, value spec: a slot's Seq
	bhPokeLen               // slot, value u32: a slot's Len
	bhPokeCursor            // entry, value spec: an entry's cursor (the word at 64)
	bhPokeRoles             // entry, value u32
	bhPokePID               // entry, pid spec
	bhPokeGeneration        // entry, value u32
	bhPokeStartTicks        // entry, value u64
	bhPokeState             // which, value u32: header State or Closed
	bhPokeHeader            // field, value u32: a header field, checksum recomputed
	bhPokeWaiters           // which, value u32: an eventcount word
)

// hostileCallMax bounds how long any one operation of a hostile program
// may take (the blocking ones have a 1 ms deadline); hostileHang is when
// the watchdog gives up on a call and crashes the test with every
// goroutine's stack.
const (
	hostileCallMax = 2 * time.Second
	hostileHang    = 20 * time.Second
)

var bhErrs = []error{ErrFull, ErrEmpty, ErrClosed, ErrTooLarge, ErrCorrupt, ErrNotReserved, ErrOutstanding,
	ErrFenced, ErrLapped, io.EOF, io.ErrShortBuffer, context.DeadlineExceeded}

var bhCfg = Config{Slots: 8, SlotSize: 32, Peers: 3, Subscribers: 3}

// bhostile is a broadcast ring in guarded heap memory and the handles on
// it, with what each holds outstanding.
type bhostile struct {
	t     *testing.T
	g     geometry
	big   []byte
	mem   []byte
	prods []*Broadcast
	subs  []*Subscriber
	res   []*Reservation // per producer
	msgs  []*Message     // per subscriber
	waits int
	step  int
	op    string
}

// FuzzHostileBroadcast: see the file comment.
func FuzzHostileBroadcast(f *testing.F) {
	f.Fuzz(func(t *testing.T, prog []byte) {
		x := newBHostile(t)
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
		for _, b := range x.prods {
			x.call("Broadcast.Close", func() { x.checkErr(b.Close()) })
		}
		for _, s := range x.subs {
			x.call("Subscriber.Close", func() { x.checkErr(s.Close()) })
		}
		x.checkGuards()
	})
}

func newBHostile(t *testing.T) *bhostile {
	x := &bhostile{t: t}
	size, err := Size(KindBroadcast, bhCfg, 128)
	if err != nil {
		t.Fatal(err)
	}
	x.big = make([]byte, hostileGuard+int(size)+hostileGuard)
	copy(x.big, guardPattern)
	copy(x.big[len(x.big)-hostileGuard:], guardPattern)
	x.mem = x.big[hostileGuard : hostileGuard+size : hostileGuard+size]
	b, err := NewBroadcast(x.mem, bhCfg, 128)
	if err != nil {
		t.Fatal(err)
	}
	x.g = b.g
	x.addProd(b)
	b2, err := AttachBroadcast(x.mem)
	if err != nil {
		t.Fatal(err)
	}
	x.addProd(b2)
	for _, opt := range []SubscribeOptions{{From: Oldest}, {Lossy: true}} {
		s, err := AttachSubscriber(x.mem, opt)
		if err != nil {
			t.Fatal(err)
		}
		x.addSub(s)
	}
	return x
}

func (x *bhostile) addProd(b *Broadcast) {
	x.prods = append(x.prods, b)
	x.res = append(x.res, nil)
}

func (x *bhostile) addSub(s *Subscriber) {
	x.subs = append(x.subs, s)
	x.msgs = append(x.msgs, nil)
}

func (x *bhostile) fail(format string, args ...any) {
	x.t.Helper()
	x.t.Fatalf("broadcast step %d %s: %s", x.step, x.op, fmt.Sprintf(format, args...))
}

// call runs one operation under the time bound: it fails if f takes
// longer than hostileCallMax, and a watchdog crashes the test with every
// stack if it has not returned after hostileHang.
func (x *bhostile) call(op string, f func()) {
	x.t.Helper()
	x.op = op
	step := x.step
	dog := time.AfterFunc(hostileHang, func() {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		panic(fmt.Sprintf("FuzzHostileBroadcast: step %d %s has not returned after %v\n%s", step, op, hostileHang, buf))
	})
	start := time.Now()
	f()
	d := time.Since(start)
	dog.Stop()
	if d > hostileCallMax {
		x.fail("took %v (bound %v)", d, hostileCallMax)
	}
}

func (x *bhostile) checkErr(err error, extra ...error) {
	x.t.Helper()
	if err == nil {
		return
	}
	for _, e := range append(bhErrs, extra...) {
		if errors.Is(err, e) {
			return
		}
	}
	x.fail("unexpected error %v", err)
}

// within fails unless b (up to its capacity) lies inside the slots and is
// at most SlotSize long.
func (x *bhostile) within(what string, b []byte, capMax int) {
	x.t.Helper()
	if len(b) > bhCfg.SlotSize || cap(b) > capMax {
		x.fail("%s: len %d cap %d (SlotSize %d)", what, len(b), cap(b), bhCfg.SlotSize)
	}
	if cap(b) == 0 {
		return
	}
	lo := uintptr(unsafe.Pointer(&x.mem[x.g.slotsOff]))
	hi := uintptr(unsafe.Pointer(unsafe.SliceData(x.mem))) + uintptr(len(x.mem))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < lo || p+uintptr(cap(b)) > hi {
		x.fail("%s: [%#x,+%d) outside the slots [%#x,%#x)", what, p, cap(b), lo, hi)
	}
}

func (x *bhostile) checkGuards() {
	x.t.Helper()
	if !bytes.Equal(x.big[:hostileGuard], guardPattern) || !bytes.Equal(x.big[len(x.big)-hostileGuard:], guardPattern) {
		x.fail("a write outside the ring changed a guard byte")
	}
}

func (x *bhostile) msg(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(x.step + i)
	}
	return b
}

func (x *bhostile) batch(p *script) [][]byte {
	msgs := make([][]byte, 1+int(p.next())%10)
	l := int(p.next())
	for i := range msgs {
		msgs[i] = x.msg((l + 13*i) % 40)
	}
	return msgs
}

func (x *bhostile) bufs(p *script) [][]byte {
	bufs := make([][]byte, 1+int(p.next())%10)
	c := int(p.next()) % 40
	for i := range bufs {
		bufs[i] = make([]byte, 0, c)
	}
	return bufs
}

func (x *bhostile) checkPopped(n int, err error, limit int) {
	x.t.Helper()
	x.checkErr(err)
	if n < 0 || n > min(limit, bhCfg.SlotSize) || err != nil && n != 0 {
		x.fail("length %d with %v (buffer %d)", n, err, limit)
	}
}

func (x *bhostile) checkBatch(bufs [][]byte, n int, err error) {
	x.t.Helper()
	x.checkErr(err)
	if n < 0 || n > len(bufs) || err != nil && n != 0 {
		x.fail("popped %d of %d with %v", n, len(bufs), err)
	}
	for i := 0; i < n; i++ {
		if len(bufs[i]) > cap(bufs[i]) || len(bufs[i]) > bhCfg.SlotSize {
			x.fail("batch message %d of %d bytes", i, len(bufs[i]))
		}
	}
}

func (x *bhostile) wait() (context.Context, context.CancelFunc, bool) {
	if x.waits >= hostileMaxWaits {
		return nil, nil, false
	}
	x.waits++
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	return ctx, cancel, true
}

func (x *bhostile) run(b byte, p *script) {
	code := int(b) % bhNumOps
	who := int(p.next())
	pi := who % len(x.prods)
	pr := x.prods[pi]
	si := who % max(len(x.subs), 1)
	var sub *Subscriber
	if len(x.subs) > 0 {
		sub = x.subs[si]
	}
	switch code {
	case bhPush:
		msg := x.msg(int(p.next()) % 40)
		x.call("TryPush", func() { x.checkErr(pr.TryPush(msg)) })
	case bhPushBatch:
		msgs := x.batch(p)
		x.call("TryPushBatch", func() {
			n, err := pr.TryPushBatch(msgs)
			x.checkErr(err)
			if n < 0 || n > len(msgs) || err != nil && n != 0 {
				x.fail("pushed %d of %d with %v", n, len(msgs), err)
			}
		})
	case bhReserve:
		n := int(p.next()) % 40
		x.call("TryReserve", func() {
			res, err := pr.TryReserve(n)
			x.checkErr(err)
			if err == nil {
				x.within("reservation", res.Buf, bhCfg.SlotSize)
				copy(res.Buf, x.msg(len(res.Buf)))
				x.res[pi] = &res
			}
		})
	case bhCommit:
		res, n := x.res[int(p.next())%len(x.res)], int(p.next())%40
		if res == nil {
			res = &Reservation{}
		}
		x.call("Commit", func() { x.checkErr(pr.Commit(*res, n)) })
	case bhPushWait:
		msg := x.msg(int(p.next()) % 40)
		if ctx, cancel, ok := x.wait(); ok {
			x.call("Push", func() { x.checkErr(pr.Push(ctx, msg)) })
			cancel()
		}
	case bhPushBatchWait:
		msgs := x.batch(p)
		if ctx, cancel, ok := x.wait(); ok {
			x.call("PushBatch", func() {
				n, err := pr.PushBatch(ctx, msgs)
				x.checkErr(err)
				if n < 0 || n > len(msgs) {
					x.fail("pushed %d of %d", n, len(msgs))
				}
			})
			cancel()
		}
	case bhCloseWrite:
		if p.next()&1 == 0 || sub == nil {
			x.call("Broadcast.CloseWrite", func() { x.checkErr(pr.CloseWrite()) })
		} else {
			x.call("Subscriber.CloseWrite", func() { x.checkErr(sub.CloseWrite()) })
		}
	case bhClose:
		if p.next()&1 == 0 || sub == nil {
			x.call("Broadcast.Close", func() { x.checkErr(pr.Close()) })
		} else {
			x.call("Subscriber.Close", func() { x.checkErr(sub.Close()) })
		}
	case bhInspect:
		x.call("inspect", func() {
			if n := pr.Len(); n < 0 || n > bhCfg.Slots {
				x.fail("Broadcast.Len %d", n)
			}
			_ = pr.Stats()
			_ = pr.IsClosed()
			if l := pr.Subscribers(); len(l) > bhCfg.Subscribers {
				x.fail("Subscribers lists %d entries of %d", len(l), bhCfg.Subscribers)
			}
			for _, s := range x.subs {
				_ = s.Lag()
				_ = s.Stats()
			}
		})
	case bhJoin:
		opt := SubscribeOptions{From: JoinAt(p.next() & 1), Lossy: p.next()&1 != 0}
		if len(x.subs) >= 5 {
			return
		}
		x.call("AttachSubscriber", func() {
			s, err := AttachSubscriber(x.mem, opt, WithOpenTimeout(time.Millisecond))
			x.checkErr(err, ErrKind, ErrVersion, ErrNotReady, ErrSubscribers)
			if err == nil {
				x.addSub(s)
			}
		})
	case bhAttach:
		if len(x.prods) >= 4 {
			return
		}
		x.call("AttachBroadcast", func() {
			b, err := AttachBroadcast(x.mem, WithOpenTimeout(time.Millisecond))
			x.checkErr(err, ErrKind, ErrVersion, ErrNotReady)
			if err == nil {
				x.addProd(b)
			}
		})
	}
	if sub == nil {
		return
	}
	switch code {
	case bhPop:
		dst := make([]byte, int(p.next())%40)
		x.call("TryPop", func() {
			n, err := sub.TryPop(dst)
			x.checkPopped(n, err, len(dst))
		})
	case bhPopBatch:
		bufs := x.bufs(p)
		x.call("TryPopBatch", func() {
			n, err := sub.TryPopBatch(bufs)
			x.checkBatch(bufs, n, err)
		})
	case bhPeek:
		x.call("TryPeek", func() {
			m, err := sub.TryPeek()
			x.checkErr(err)
			if err == nil {
				x.within("peeked message", m.Data, int(alignUp(x.g.slotSize, 8)))
				x.msgs[si] = &m
			}
		})
	case bhRelease:
		m := x.msgs[int(p.next())%len(x.msgs)]
		if m == nil {
			m = &Message{}
		}
		x.call("Release", func() { x.checkErr(sub.Release(*m)) })
	case bhPopWait:
		dst := make([]byte, int(p.next())%40)
		if ctx, cancel, ok := x.wait(); ok {
			x.call("Pop", func() {
				n, err := sub.Pop(ctx, dst)
				x.checkPopped(n, err, len(dst))
			})
			cancel()
		}
	case bhPopBatchWait:
		bufs := x.bufs(p)
		if ctx, cancel, ok := x.wait(); ok {
			x.call("PopBatch", func() {
				n, err := sub.PopBatch(ctx, bufs)
				x.checkBatch(bufs, n, err)
			})
			cancel()
		}
	case bhZeroCopyWait:
		n := int(p.next())
		ctx, cancel, ok := x.wait()
		if !ok {
			return
		}
		defer cancel()
		if n&1 == 0 {
			x.call("Reserve", func() {
				res, err := pr.Reserve(ctx, n%40)
				x.checkErr(err)
				if err == nil {
					x.within("reservation", res.Buf, bhCfg.SlotSize)
					x.res[pi] = &res
				}
			})
		} else {
			x.call("Peek", func() {
				m, err := sub.Peek(ctx)
				x.checkErr(err)
				if err == nil {
					x.within("peeked message", m.Data, int(alignUp(x.g.slotSize, 8)))
					x.msgs[si] = &m
				}
			})
		}
	}
}

// poke performs one hostile write, atomically (as FuzzHostileMemory's
// do), so that the race detector checks the ring's accesses.
func (x *bhostile) poke(b byte, p *script) {
	g := &x.g
	put64 := func(off, v uint64) { atomic.StoreUint64((*uint64)(unsafe.Pointer(&x.mem[off])), v) }
	put32 := func(off uint64, v uint32) { atomic.StoreUint32((*uint32)(unsafe.Pointer(&x.mem[off])), v) }
	get64 := func(off uint64) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&x.mem[off]))) }
	// value: as in FuzzHostileMemory, 8 raw bytes (spec's top bit set)
	// or a signed 7-bit delta from the word's value.
	value := func(cur uint64) uint64 {
		spec := p.next()
		if spec&0x80 != 0 {
			return p.u64()
		}
		return cur + uint64(int64(int8(spec<<1)>>1))
	}
	slot := func() uint64 { return g.slotsOff + uint64(p.next())%g.slots*g.stride }
	entry := func() uint64 { return g.peersOff + uint64(p.next())%g.peers*g.peerStride }
	e := peerEntry{}
	switch b & 15 {
	case bhPokeAny64:
		put64(uint64(p.u16())%(g.size/8)*8, p.u64())
	case bhPokeAny32:
		put32(uint64(p.u16())%(g.size/4)*4, p.u32())
	case bhPokeProd:
		put64(g.prodOff, value(get64(g.prodOff)))
	case bhPokeSeq:
		s := slot()
		put64(s, value(get64(s)))
	case bhPokeLen:
		put32(slot()+8, p.u32())
	case bhPokeCursor:
		c := entry() + uint64(unsafe.Offsetof(e.ConsClaim))
		put64(c, value(get64(c)))
	case bhPokeRoles:
		put32(entry()+uint64(unsafe.Offsetof(e.Roles)), p.u32())
	case bhPokePID:
		off := entry() + uint64(unsafe.Offsetof(e.PID))
		var pid uint32
		switch spec := p.next(); spec % 5 {
		case 1:
			pid = selfPID
		case 2:
			pid = 1 // init: alive, and not us
		case 3:
			pid = 1<<22 + 12345 // above the usual pid_max: dead
		case 4:
			pid = p.u32()
		}
		put32(off, pid)
	case bhPokeGeneration:
		put32(entry()+uint64(unsafe.Offsetof(e.Generation)), p.u32())
	case bhPokeStartTicks:
		put64(entry()+uint64(unsafe.Offsetof(e.StartTicks)), p.u64())
	case bhPokeState:
		off := uint64(unsafe.Offsetof(ringHeader{}.State))
		if p.next()&1 != 0 {
			off = uint64(unsafe.Offsetof(ringHeader{}.Closed))
		}
		put32(off, p.u32())
	case bhPokeHeader:
		// A peer that rewrites a field and the checksum: only later
		// attaches read the header (every handle keeps its geometry).
		field, v := p.next(), p.u32()
		h := (*ringHeader)(unsafe.Pointer(&x.mem[0]))
		words := []*uint32{&h.Kind, &h.Slots, &h.SlotSize, &h.SlotStride, &h.PadUnit, &h.PeerCapacity, &h.PeerStride, &h.Flags, &h.Subscribers}
		w := words[int(field)%len(words)]
		atomic.StoreUint32(w, v)
		atomic.StoreUint32(&h.Checksum, h.sum())
	case bhPokeWaiters:
		offs := [4]uint64{g.prodOff + 8, g.prodOff + 12, g.consOff + 8, g.consOff + 12}
		put32(offs[p.next()%4], p.u32())
	}
}

// bhProg writes FuzzHostileBroadcast programs.
type bhProg []byte

func (p bhProg) op(code int, args ...byte) bhProg { return append(append(p, byte(code)), args...) }
func (p bhProg) poke(t int, args ...byte) bhProg {
	return append(append(p, byte(hostileWrite|t)), args...)
}
func (p bhProg) then(q bhProg) bhProg { return append(append(bhProg(nil), p...), q...) }
func (p bhProg) each(n int, f func(bhProg, byte) bhProg) bhProg {
	for i := 0; i < n; i++ {
		p = f(p, byte(i))
	}
	return p
}

// raw64 is a value spec of 8 raw bytes, after the bytes pre.
func raw64(v uint64, pre ...byte) []byte {
	b := append(pre, 0x80)
	for i := 0; i < 8; i++ {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// bhSeeds are FuzzHostileBroadcast's seeds: traffic on every handle, then
// each kind of damage, with traffic after it.
func bhSeeds() map[string]bhProg {
	// Handle bytes: producers 0 (creator) and 1 (attached: takes over at
	// its first operation); subscribers 0 (tethered, Oldest) and 1 (lossy).
	traffic := bhProg(nil).
		op(bhPush, 0, 20).op(bhPushBatch, 0, 9, 5).op(bhPop, 0, 32).op(bhPopBatch, 1, 4, 32).
		op(bhReserve, 0, 8).op(bhCommit, 0, 0, 8).op(bhPeek, 0).op(bhPeek, 1).op(bhRelease, 0, 0).op(bhRelease, 1, 1).
		op(bhInspect, 0)
	ops := bhProg(nil).
		op(bhPush, 0, 20).op(bhPop, 0, 32).op(bhPushBatch, 0, 9, 5).op(bhPopBatch, 1, 4, 32).op(bhPopBatch, 0, 9, 32).
		op(bhReserve, 0, 8).op(bhCommit, 0, 0, 8).op(bhPeek, 1).op(bhRelease, 1, 1).op(bhJoin, 0, 1, 0).op(bhInspect, 0)
	// entry i of the subscriber part: bhCfg has Peers 3, so entries 3..5.
	sub := func(i int) byte { return byte(int(bhCfg.Peers) + i) }
	seeds := map[string]bhProg{
		"traffic":           traffic.then(traffic).then(traffic),
		"prod-ahead":        traffic.poke(bhPokeProd, 5).then(ops),
		"prod-behind":       traffic.poke(bhPokeProd, 0x7d).then(ops),
		"prod-closed-bit":   traffic.poke(bhPokeProd, raw64(1<<63|3)...).then(ops),
		"prod-epoch":        traffic.poke(bhPokeProd, raw64(5<<56|17)...).then(ops),
		"prod-garbage":      traffic.poke(bhPokeProd, raw64(1<<55|12345)...).then(ops),
		"seq-ahead":         traffic.each(8, func(p bhProg, i byte) bhProg { return p.poke(bhPokeSeq, i, 9) }).then(ops),
		"seq-behind":        traffic.each(8, func(p bhProg, i byte) bhProg { return p.poke(bhPokeSeq, i, 0x70) }).then(ops),
		"seq-writing":       traffic.each(8, func(p bhProg, i byte) bhProg { return p.poke(bhPokeSeq, raw64(1<<63|uint64(20+i), i)...) }).then(ops),
		"seq-far":           traffic.each(8, func(p bhProg, i byte) bhProg { return p.poke(bhPokeSeq, raw64(1<<40, i)...) }).then(ops),
		"len-huge":          traffic.each(8, func(p bhProg, i byte) bhProg { return p.poke(bhPokeLen, i, 0xff, 0xff, 0xff, 0x7f) }).then(ops),
		"len-just-over":     traffic.each(8, func(p bhProg, i byte) bhProg { return p.poke(bhPokeLen, i, 33, 0, 0, 0) }).then(ops),
		"cursor-ahead":      traffic.poke(bhPokeCursor, sub(0), 40).poke(bhPokeCursor, raw64(1<<50, sub(1))...).then(ops),
		"cursor-behind":     traffic.poke(bhPokeCursor, sub(0), 0x60).poke(bhPokeCursor, sub(2), 0x41).then(ops),
		"roles-tethered":    traffic.poke(bhPokeRoles, sub(1), 0xff, 0xff, 0xff, 0xff).poke(bhPokeRoles, 1, 0x0e, 0, 0, 0).then(ops),
		"pid-dead":          traffic.poke(bhPokePID, sub(0), 3).poke(bhPokePID, sub(2), 3).poke(bhPokeRoles, sub(2), 0x0e, 0, 0, 0).then(ops).op(bhPushWait, 0, 5),
		"pid-init":          traffic.poke(bhPokePID, sub(0), 2).poke(bhPokePID, sub(1), 4, 0xff, 0xff, 0xff, 0xff).then(ops),
		"pid-zero":          traffic.poke(bhPokePID, sub(0), 0).poke(bhPokePID, 1, 0).op(bhJoin, 0, 0, 0).op(bhJoin, 0, 1, 1).then(ops),
		"generation":        traffic.poke(bhPokeGeneration, sub(0), 0xff, 0xff, 0xff, 0xff).poke(bhPokeStartTicks, sub(1), 1, 2, 3, 4, 5, 6, 7, 8).then(ops),
		"state-zero":        traffic.poke(bhPokeState, 0, 0, 0, 0, 0).op(bhJoin, 0, 0, 0).op(bhAttach, 0).then(ops),
		"closed-mirror":     traffic.poke(bhPokeState, 1, 1, 0, 0, 0).then(ops).op(bhPopWait, 0, 32),
		"header-subs":       traffic.poke(bhPokeHeader, 8, 99, 0, 0, 0).op(bhJoin, 0, 0, 0).op(bhAttach, 0).then(ops),
		"header-subs-split": traffic.poke(bhPokeHeader, 8, 1, 0, 0, 0).op(bhJoin, 0, 0, 0).op(bhJoin, 0, 1, 0).op(bhAttach, 0).then(ops),
		"header-kind":       traffic.poke(bhPokeHeader, 0, 1, 0, 0, 0).op(bhJoin, 0, 0, 0).op(bhAttach, 0).then(ops),
		"header-slots":      traffic.poke(bhPokeHeader, 1, 0, 1, 0, 0).op(bhJoin, 0, 0, 0).then(ops),
		"waiters-garbage": traffic.poke(bhPokeWaiters, 1, 9, 0, 0, 0).poke(bhPokeWaiters, 3, 0xff, 0xff, 0xff, 0xff).
			op(bhPushWait, 0, 3).op(bhPopWait, 0, 32).op(bhPopWait, 1, 32).then(ops),
		"blocking-ops": bhProg(nil).op(bhPopWait, 0, 32).op(bhPopBatchWait, 1, 2, 32).
			each(9, func(p bhProg, _ byte) bhProg { return p.op(bhPush, 0, 1) }).
			op(bhPushWait, 0, 1).op(bhPushBatchWait, 0, 2, 1).op(bhZeroCopyWait, 0, 2).op(bhZeroCopyWait, 1, 3),
		"takeover-scribble": traffic.op(bhPush, 1, 4).poke(bhPokeProd, 0x02).op(bhPush, 0, 4).op(bhPush, 1, 4).
			op(bhReserve, 1, 9).poke(bhPokeSeq, raw64(0, 0)...).op(bhCommit, 1, 1, 9).then(ops),
		"close-then-scribble": traffic.op(bhCloseWrite, 0, 0).poke(bhPokeProd, 2).then(ops).
			op(bhClose, 0, 1).op(bhClose, 1, 0).op(bhInspect, 0),
	}
	return seeds
}

// TestHostileBroadcastSeeds checks FuzzHostileBroadcast's committed
// corpus is there; SHMRING_WRITE_CORPUS=1 rewrites it from bhSeeds.
func TestHostileBroadcastSeeds(t *testing.T) {
	for name, p := range bhSeeds() {
		seed.Corpus(t, "FuzzHostileBroadcast", name, fmt.Sprintf("[]byte(%q)\n", []byte(p)))
	}
}

// headerCase is a malformed (or re-split) broadcast ring header.
type headerCase struct {
	name string
	// kind is the ring the case starts from; edit changes its header.
	kind  ringKind
	edit  func(h *ringHeader)
	keep  bool // keep the old checksum (otherwise it is recomputed)
	short bool // hand attach one byte less than the ring
	// wantSub and wantProd are what AttachSubscriber and AttachBroadcast
	// must return (errors.Is); nil: they succeed. wantSame is what the
	// attach of the ring's own kind returns (for SPSC and MPMC rings).
	wantSub, wantProd, wantSame error
}

// TestBroadcastHeaderRejected builds rings, edits their headers (and
// fixes the checksum, as a peer that knows the layout would), and checks
// each attach refuses them with the right error.
func TestBroadcastHeaderRejected(t *testing.T) {
	cases := []headerCase{
		{name: "subscribers-over-capacity", kind: kindBroadcast, edit: func(h *ringHeader) { h.Subscribers = h.PeerCapacity + 1 }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "subscribers-all-entries", kind: kindBroadcast, edit: func(h *ringHeader) { h.Subscribers = h.PeerCapacity }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "subscribers-zero", kind: kindBroadcast, edit: func(h *ringHeader) { h.Subscribers = 0 }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "subscribers-huge", kind: kindBroadcast, edit: func(h *ringHeader) { h.Subscribers = 1 << 31 }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "subscribers-over-max", kind: kindBroadcast, edit: func(h *ringHeader) { h.PeerCapacity, h.Subscribers = MaxPeers+2, MaxPeers+1 }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "peers-over-max", kind: kindBroadcast, edit: func(h *ringHeader) { h.PeerCapacity, h.Subscribers = MaxPeers+2, 1 }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "capacity-mismatch", kind: kindBroadcast, edit: func(h *ringHeader) { h.PeerCapacity++ }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "subscribers-split", kind: kindBroadcast, edit: func(h *ringHeader) { h.Subscribers = 1 }}, // a consistent split: accepted
		{name: "subscribers-unsummed", kind: kindBroadcast, edit: func(h *ringHeader) { h.Subscribers = 1 }, keep: true, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "kind-spsc", kind: kindBroadcast, edit: func(h *ringHeader) { h.Kind = uint32(kindSPSC) }, wantSub: ErrKind, wantProd: ErrKind},
		{name: "kind-mpmc", kind: kindBroadcast, edit: func(h *ringHeader) { h.Kind = uint32(kindMPMC) }, wantSub: ErrKind, wantProd: ErrKind},
		{name: "kind-unknown", kind: kindBroadcast, edit: func(h *ringHeader) { h.Kind = 9 }, wantSub: ErrKind, wantProd: ErrKind},
		{name: "magic", kind: kindBroadcast, edit: func(h *ringHeader) { h.Magic[0] = 'X' }, wantSub: ErrKind, wantProd: ErrKind},
		{name: "version-major", kind: kindBroadcast, edit: func(h *ringHeader) { h.VersionMajor++ }, wantSub: ErrVersion, wantProd: ErrVersion},
		{name: "unknown-flag", kind: kindBroadcast, edit: func(h *ringHeader) { h.Flags |= 1 << 7 }, wantSub: ErrVersion, wantProd: ErrVersion},
		{name: "no-claim-repair-flag", kind: kindBroadcast, edit: func(h *ringHeader) { h.Flags &^= ringFlagClaimRepair }, wantSub: ErrVersion, wantProd: ErrVersion},
		{name: "slot-stride", kind: kindBroadcast, edit: func(h *ringHeader) { h.SlotStride -= 8 }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "slots-not-power-of-two", kind: kindBroadcast, edit: func(h *ringHeader) { h.Slots = 6 }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "region-too-small", kind: kindBroadcast, edit: func(*ringHeader) {}, short: true, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "state-not-ready", kind: kindBroadcast, edit: func(h *ringHeader) { h.State = 0 }, wantSub: ErrNotReady, wantProd: ErrNotReady},
		{name: "state-garbage", kind: kindBroadcast, edit: func(h *ringHeader) { h.State = 0xdead }, wantSub: ErrCorrupt, wantProd: ErrCorrupt},
		{name: "spsc", kind: kindSPSC, edit: func(*ringHeader) {}, wantSub: ErrKind, wantProd: ErrKind},
		{name: "mpmc", kind: kindMPMC, edit: func(*ringHeader) {}, wantSub: ErrKind, wantProd: ErrKind},
		{name: "spsc-with-subscribers", kind: kindSPSC, edit: func(h *ringHeader) { h.Subscribers = 1 }, wantSub: ErrKind, wantProd: ErrKind, wantSame: ErrCorrupt},
		{name: "mpmc-with-subscribers", kind: kindMPMC, edit: func(h *ringHeader) { h.Subscribers = 2 }, wantSub: ErrKind, wantProd: ErrKind, wantSame: ErrCorrupt},
		{name: "spsc-subscribers-over-capacity", kind: kindSPSC, edit: func(h *ringHeader) { h.Subscribers = h.PeerCapacity + 1 }, wantSub: ErrKind, wantProd: ErrKind, wantSame: ErrCorrupt},
	}
	cfg := Config{Slots: 8, SlotSize: 24, Peers: 4, Subscribers: 3}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			if tc.kind != kindBroadcast {
				c.Subscribers = 0
			}
			size, err := Size(tc.kind.region(), c, 128)
			if err != nil {
				t.Fatal(err)
			}
			mem := make([]byte, size)
			switch tc.kind {
			case kindBroadcast:
				_, err = NewBroadcast(mem, c, 128)
			case kindSPSC:
				_, err = NewSPSC(mem, c, 128)
			case kindMPMC:
				_, err = NewMPMC(mem, c, 128)
			}
			if err != nil {
				t.Fatal(err)
			}
			h := (*ringHeader)(unsafe.Pointer(&mem[0]))
			tc.edit(h)
			if !tc.keep {
				h.Checksum = h.sum()
			}
			if tc.short {
				mem = mem[:len(mem)-1]
			}
			s, err := AttachSubscriber(mem, SubscribeOptions{From: Oldest}, WithOpenTimeout(0))
			check(t, "AttachSubscriber", err, tc.wantSub)
			if err == nil {
				if s.peerIdx < int(s.g.subBase) || uint64(s.peerIdx) >= s.g.peers || s.g.peers-s.g.subBase != uint64(h.Subscribers) {
					t.Errorf("subscriber in entry %d of [%d,%d), header says %d subscribers", s.peerIdx, s.g.subBase, s.g.peers, h.Subscribers)
				}
				s.Close()
			}
			b, err := AttachBroadcast(mem, WithOpenTimeout(0))
			check(t, "AttachBroadcast", err, tc.wantProd)
			if err == nil {
				b.Close()
			}
			var r Ring
			switch tc.kind {
			case kindSPSC:
				r, err = AttachSPSC(mem, WithOpenTimeout(0))
			case kindMPMC:
				r, err = AttachMPMC(mem, WithOpenTimeout(0))
			default:
				// A broadcast ring has no Ring handle.
				_, err = Attach(mem, KindBroadcast, WithOpenTimeout(0))
				check(t, "Attach(KindBroadcast)", err, ErrKind)
				return
			}
			check(t, "attach of the ring's kind", err, tc.wantSame)
			if err == nil {
				r.Close()
			}
		})
	}
}

func check(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: %v, want success", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// TestBroadcastConfigRejected: configs and options a broadcast ring (or
// another kind, for Subscribers) must refuse with ErrInvalid.
func TestBroadcastConfigRejected(t *testing.T) {
	mem := make([]byte, 1<<20) // never written: every call below fails first
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"broadcast-subscribers-negative", fst(NewBroadcast(mem, Config{Slots: 4, SlotSize: 8, Subscribers: -1}, 128)), ErrInvalid},
		{"broadcast-subscribers-over-max", fst(NewBroadcast(mem, Config{Slots: 4, SlotSize: 8, Subscribers: MaxPeers + 1}, 128)), ErrInvalid},
		{"broadcast-slots", fst(NewBroadcast(mem, Config{Slots: 3, SlotSize: 8}, 128)), ErrInvalid},
		{"broadcast-pad", fst(NewBroadcast(mem, Config{Slots: 4, SlotSize: 8}, 100)), ErrInvalid},
		{"broadcast-small-memory", fst(NewBroadcast(mem[:512], Config{Slots: 4, SlotSize: 8}, 128)), ErrInvalid},
		{"broadcast-size-subscribers", fst(Size(KindBroadcast, Config{Slots: 4, SlotSize: 8, Subscribers: -3}, 128)), ErrInvalid},
		{"spsc-subscribers", fst(NewSPSC(mem, Config{Slots: 4, SlotSize: 8, Subscribers: 1}, 128)), ErrInvalid},
		{"mpmc-subscribers", fst(NewMPMC(mem, Config{Slots: 4, SlotSize: 8, Subscribers: 1}, 128)), ErrInvalid},
		{"size-spsc-subscribers", fst(Size(KindSPSC, Config{Slots: 4, SlotSize: 8, Subscribers: 2}, 128)), ErrInvalid},
		{"new-broadcast-as-ring", fst(New(mem, KindBroadcast, Config{Slots: 4, SlotSize: 8}, 128)), ErrKind},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	for _, b := range mem {
		if b != 0 {
			t.Fatal("a refused constructor wrote into the memory")
		}
	}
	_, good := newHeapBroadcast(t, Config{Slots: 4, SlotSize: 8})
	for _, from := range []JoinAt{-1, 2, 99} {
		if _, err := AttachSubscriber(good, SubscribeOptions{From: from}); !errors.Is(err, ErrInvalid) {
			t.Errorf("SubscribeOptions.From %v: %v, want ErrInvalid", from, err)
		}
	}
	if _, err := AttachSubscriber(good[:100], SubscribeOptions{}); !errors.Is(err, ErrKind) {
		t.Errorf("AttachSubscriber to 100 bytes: %v, want ErrKind", err)
	}
	if _, err := AttachSubscriber(good, SubscribeOptions{}, WithWaitStrategy(WaitStrategy(42))); !errors.Is(err, ErrInvalid) {
		t.Errorf("AttachSubscriber with a bad wait strategy: %v, want ErrInvalid", err)
	}
}

// fst is the error of a constructor's two results.
func fst[T any](_ T, err error) error { return err }
