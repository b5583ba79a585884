package ring

// Invariants of the SPSC ring (positions are 63-bit counters that only
// grow; a slot index is pos & (Slots-1)):
//
//   - 0 <= Tail - Head <= Slots, where Tail = prod.Pos &^ closedBit and
//     Head = cons.Pos; except that Head may run ahead of the published
//     Tail by the messages of an in-flight publish, which a consumer can
//     take early through their slot Seq (never by more than Slots).
//   - Slots [Head, Tail) hold committed messages and belong to the
//     consumer; slots [Tail, Head+Slots) belong to the producer.
//   - Only the producer writes prod.Pos (by CAS, so that Close from any
//     process can set the closed bit without losing a publish); only the
//     consumer writes cons.Pos.
//   - Each side keeps its own position privately and a cached copy of the
//     other side's, and reads the shared copy only when the cache says
//     full (producer) or empty (consumer): the rigtorp/Agrona way.
//   - A value read from the peer's word is checked against the invariant
//     before use; a slot's length is read once and checked against
//     SlotSize. Violations return ErrCorrupt.
//
// Slot format: Len uint32, Seq uint32 (low 32 bits of position+1, stored
// after the message and before Tail), then SlotSize bytes of data, stride
// rounded up to 8. A consumer whose cached tail is exhausted checks the next
// slot's Seq before loading Tail, so in a ping-pong the Tail line stays in
// the producer's cache.

import (
	"context"
	"io"
	"sync/atomic"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/atomicx"
)

// cacheLinePad keeps the producer's and the consumer's private state on
// separate cache lines (128 bytes: two lines, for the adjacent-line
// prefetcher) when one handle is used from two goroutines.
type cacheLinePad [128]byte

// spscProducer is the producer side's private state.
type spscProducer struct {
	tail      uint64 // next position to publish
	headCache uint64 // last Head seen
	synced    bool   // tail loaded from shared memory
	closed    bool   // saw the closed bit
	resv      bool   // a reservation is outstanding
	pend      pending
}

// spscConsumer is the consumer side's private state.
type spscConsumer struct {
	head       uint64 // next position to consume
	tailCache  uint64 // last Tail seen
	synced     bool
	peek       bool   // a peeked message is outstanding
	emptyPolls uint32 // consecutive single-message polls that found nothing
	pend       pending
}

// SPSC is a handle on a single-producer single-consumer ring. At any time
// at most one goroutine (in any process) may produce (TryPush, Push,
// batches, Reserve/Commit) and at most one may consume (TryPop, Pop,
// batches, Peek/Release); the two may be the same handle or handles in
// different processes. The other methods are safe for concurrent use.
type SPSC struct {
	core
	_ cacheLinePad
	p spscProducer
	_ cacheLinePad
	c spscConsumer
	_ cacheLinePad
}

// Reservation is a slot reserved for zero-copy writing. Write the message
// into Buf (len as asked, cap SlotSize) and Commit it.
type Reservation struct {
	Buf  []byte
	pos  uint64
	ring *core // the handle that made it; Commit refuses another's
}

// Message is a committed message viewed in place. Data aliases the slot
// and is valid until Release.
type Message struct {
	Data []byte
	pos  uint64
	ring *core
}

// CreateSPSC allocates a region named name in a and initialises an SPSC
// ring in it. The padding unit is the arena's.
func CreateSPSC(a *arena.Arena, name string, cfg Config) (*SPSC, error) {
	r := new(SPSC)
	if err := r.core.create(a, name, cfg, kindSPSC, KindSPSC); err != nil {
		return nil, err
	}
	return r, nil
}

// OpenSPSC attaches to the SPSC ring named name in a, waiting up to
// OpenTimeout for its creator to finish.
func OpenSPSC(a *arena.Arena, name string) (*SPSC, error) {
	r := new(SPSC)
	if err := r.core.open(a, name, kindSPSC, KindSPSC); err != nil {
		return nil, err
	}
	return r, nil
}

// NewSPSC initialises an SPSC ring over caller memory (zeroed, 8-byte
// aligned, at least Size(KindSPSC, cfg, padUnit) bytes) and returns a
// handle. Other handles attach with AttachSPSC. Tests use it over heap
// memory, where the race detector can see the ring's accesses.
func NewSPSC(mem []byte, cfg Config, padUnit int) (*SPSC, error) {
	r := new(SPSC)
	if err := r.core.initMem(mem, cfg, kindSPSC, KindSPSC, padUnit); err != nil {
		return nil, err
	}
	return r, nil
}

// AttachSPSC attaches a new handle to an SPSC ring in caller memory.
func AttachSPSC(mem []byte) (*SPSC, error) {
	r := new(SPSC)
	if err := r.core.attach(mem, kindSPSC, 0); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *SPSC) slot(pos uint64) uint64 { return r.g.slotsOff + (pos&r.g.mask)*r.g.stride }

// prodPrologue starts every producer operation: one load of the shared
// producer position (our own cache line, so usually a hit) that catches a
// Close from elsewhere before we write a slot, and a producer handle that
// took over since our last operation (we then continue from its position
// instead of overwriting its messages).
func (r *SPSC) prodPrologue() error {
	p := &r.p
	cur := atomic.LoadUint64(&r.prod.Pos) // acquire
	if cur&closedBit != 0 {
		p.closed = true
		return ErrClosed
	}
	if !p.synced || cur != p.tail {
		return r.syncProd()
	}
	return nil
}

// syncProd loads the producer position from shared memory on the first
// producer operation, so a handle opened early takes over where the
// previous producer stopped.
func (r *SPSC) syncProd() error {
	p := &r.p
	raw := atomic.LoadUint64(&r.prod.Pos) // acquire
	if raw&closedBit != 0 {
		p.closed = true
	}
	t := raw & posMask
	h := atomic.LoadUint64(&r.cons.Pos) // acquire
	if t-h > r.g.slots && h-t > r.g.slots {
		return corruptf("positions: tail %d, head %d, %d slots", t, h, r.g.slots)
	}
	// Adopt what a previous producer wrote but did not publish (it died or
	// stopped between a slot's Seq store and its tail CAS): those messages
	// are complete (Seq is stored after the data) and a consumer may
	// already have taken them through Seq, so the tail moves past them
	// before we write anything. Without this a new producer would rewrite
	// a slot whose Seq already says "ready".
	base := min(t, h)
	k := uint64(0)
	for t+k-base < r.g.slots {
		s := (*spscSlot)(unsafe.Pointer(&r.mem[r.slot(t+k)]))
		if atomic.LoadUint32(&s.Seq) != uint32(t+k+1) { // acquire
			break
		}
		k++
	}
	if k > 0 {
		if !atomic.CompareAndSwapUint64(&r.prod.Pos, raw, raw+k) { // keeps the closed bit
			return corruptf("producer position changed while adopting %d unpublished slots", k)
		}
		t += k
		r.notEmpty.notify(int(k), r.peer)
	}
	if t < h {
		return corruptf("positions: tail %d behind head %d after adoption", t, h)
	}
	p.tail, p.headCache, p.synced = t, h, true
	r.markRole(roleProducer)
	return nil
}

func (r *SPSC) syncCons() error {
	c := &r.c
	h := atomic.LoadUint64(&r.cons.Pos) // acquire
	t := atomic.LoadUint64(&r.prod.Pos) &^ closedBit
	// Head may run ahead of Tail by an in-flight publish (consumption
	// through slot Seqs), never by more than Slots.
	if t-h > r.g.slots && h-t > r.g.slots {
		return corruptf("positions: tail %d, head %d, %d slots", t, h, r.g.slots)
	}
	c.head, c.tailCache, c.synced = h, t, true
	r.markRole(roleConsumer)
	return nil
}

// free returns how many slots the producer may fill, refreshing its cached
// Head if the cache says fewer than want.
func (r *SPSC) free(want uint64) (uint64, error) {
	p := &r.p
	if f := r.g.slots - (p.tail - p.headCache); f >= want {
		return f, nil
	}
	// Acquire: pairs with the consumer's store of cons.Pos after it copied
	// the slots out, so we never overwrite a slot still being read.
	h := atomic.LoadUint64(&r.cons.Pos)
	if p.tail-h > r.g.slots { // also catches h > tail
		return 0, corruptf("consumer position %d vs producer position %d", h, p.tail)
	}
	p.headCache = h
	return r.g.slots - (p.tail - h), nil
}

// storeSeq stores a slot's Seq with release ordering: a plain MOV on
// amd64, STLR on arm64 (sync/atomic under the race detector, which does not
// see the assembly).
func storeSeq(addr *uint32, v uint32) {
	if atomicx.Race {
		atomic.StoreUint32(addr, v)
	} else {
		atomicx.StoreRelease32(addr, v)
	}
}

// publish makes positions [p.tail, next) visible to the consumer.
func (r *SPSC) publish(next, n, nbytes uint64) error {
	p := &r.p
	// CAS (LOCK CMPXCHG, sequentially consistent): releases the slot
	// writes to the consumer's acquire load of prod.Pos, fails if Close set
	// the closed bit meanwhile, and is the StoreLoad fence that orders this
	// publish before notify's load of NotEmptyWaiters.
	if !atomic.CompareAndSwapUint64(&r.prod.Pos, p.tail, next) {
		if err := r.publishFailed(next); err != nil {
			return err
		}
	} else {
		p.tail = next
	}
	p.pend.msgs += n
	p.pend.bytes += nbytes
	if p.pend.ops++; p.pend.ops >= flushEvery {
		r.flushIn(&p.pend)
	}
	r.notEmpty.notify(int(n), r.peer)
	return nil
}

func (r *SPSC) publishFailed(next uint64) error {
	cur := atomic.LoadUint64(&r.prod.Pos)
	if cur == r.p.tail|closedBit {
		// Close landed between our prologue and this publish (a Close
		// that raced a push, which the contract asks callers to avoid).
		// The slots already carry their Seq, so a consumer may have seen
		// them: publish them under the closed bit rather than report a
		// failure for messages that were delivered.
		if atomic.CompareAndSwapUint64(&r.prod.Pos, cur, next|closedBit) {
			r.p.tail = next
			r.p.closed = true
			return nil
		}
		cur = atomic.LoadUint64(&r.prod.Pos)
	}
	if cur&closedBit != 0 {
		r.p.closed = true
		return ErrClosed
	}
	return corruptf("producer position changed under the producer: %d, expected %d", cur, r.p.tail)
}

// TryPush copies msg into the next slot and commits it. It returns
// ErrFull, ErrTooLarge, ErrClosed, or ErrCorrupt, and never blocks.
func (r *SPSC) TryPush(msg []byte) error {
	err := r.push(msg)
	if err == ErrFull {
		r.p.pend.full++
	}
	return err
}

func (r *SPSC) push(msg []byte) error {
	p := &r.p
	if uint64(len(msg)) > r.g.slotSize {
		return ErrTooLarge
	}
	if err := r.prodPrologue(); err != nil {
		return err
	}
	if p.resv {
		return ErrNotReserved
	}
	f, err := r.free(1)
	if err != nil {
		return err
	}
	if f == 0 {
		return ErrFull
	}
	off := r.slot(p.tail)
	s := r.mem[off : off+r.g.stride] // bounds-checked: the slot lies inside the ring
	h := (*spscSlot)(unsafe.Pointer(&s[0]))
	h.Len = uint32(len(msg))
	copy(s[spscSlotHeader:], msg)
	storeSeq(&h.Seq, uint32(p.tail+1))
	return r.publish(p.tail+1, 1, uint64(len(msg)))
}

// TryPushBatch pushes as many of msgs as fit, in order, with one update of
// the shared producer position. It returns how many were pushed; the error
// is non-nil only when none were (ErrFull, ErrTooLarge, ErrClosed, ...).
// A message longer than SlotSize ends the batch before it.
func (r *SPSC) TryPushBatch(msgs [][]byte) (int, error) {
	n, err := r.pushBatch(msgs)
	if err == ErrFull {
		r.countFull()
	}
	return n, err
}

func (r *SPSC) pushBatch(msgs [][]byte) (int, error) {
	p := &r.p
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := r.prodPrologue(); err != nil {
		return 0, err
	}
	if p.resv {
		return 0, ErrNotReserved
	}
	f, err := r.free(uint64(len(msgs)))
	if err != nil {
		return 0, err
	}
	if f == 0 {
		return 0, ErrFull
	}
	n := min(uint64(len(msgs)), f)
	var nbytes uint64
	for i := uint64(0); i < n; i++ {
		m := msgs[i]
		if uint64(len(m)) > r.g.slotSize {
			if i == 0 {
				return 0, ErrTooLarge
			}
			n = i
			break
		}
		off := r.slot(p.tail + i)
		s := r.mem[off : off+r.g.stride]
		h := (*spscSlot)(unsafe.Pointer(&s[0]))
		h.Len = uint32(len(m))
		copy(s[spscSlotHeader:], m)
		storeSeq(&h.Seq, uint32(p.tail+i+1))
		nbytes += uint64(len(m))
	}
	if err := r.publish(p.tail+n, n, nbytes); err != nil {
		return 0, err
	}
	return int(n), nil
}

// TryReserve reserves the next slot for a message of n bytes written in
// place. Commit publishes it. At most one reservation is outstanding per
// producer; TryPush fails with ErrNotReserved until it is committed.
func (r *SPSC) TryReserve(n int) (Reservation, error) {
	res, err := r.reserve(n)
	if err == ErrFull {
		r.p.pend.full++
	}
	return res, err
}

func (r *SPSC) reserve(n int) (Reservation, error) {
	p := &r.p
	if n < 0 || uint64(n) > r.g.slotSize {
		return Reservation{}, ErrTooLarge
	}
	if err := r.prodPrologue(); err != nil {
		return Reservation{}, err
	}
	if p.resv {
		return Reservation{}, ErrNotReserved
	}
	f, err := r.free(1)
	if err != nil {
		return Reservation{}, err
	}
	if f == 0 {
		return Reservation{}, ErrFull
	}
	off := r.slot(p.tail) + spscSlotHeader
	p.resv = true
	return Reservation{Buf: r.mem[off : off+uint64(n) : off+r.g.slotSize], pos: p.tail, ring: &r.core}, nil
}

// Commit publishes a reserved slot holding a message of n bytes
// (0 <= n <= SlotSize; usually len(res.Buf)).
func (r *SPSC) Commit(res Reservation, n int) error {
	p := &r.p
	if res.ring != &r.core || !p.resv || res.pos != p.tail {
		return ErrNotReserved
	}
	if n < 0 || uint64(n) > r.g.slotSize {
		return ErrTooLarge
	}
	off := r.slot(p.tail)
	h := (*spscSlot)(unsafe.Pointer(&r.mem[off]))
	h.Len = uint32(n)
	storeSeq(&h.Seq, uint32(p.tail+1))
	p.resv = false
	return r.publish(p.tail+1, 1, uint64(n))
}

// available returns how many committed messages the consumer may read,
// refreshing its cached Tail when the cache says fewer than want, and whether the
// ring is closed (only meaningful when it returns 0).
func (r *SPSC) available(want uint64) (uint64, bool, error) {
	c := &r.c
	a := c.tailCache - c.head
	if c.tailCache < c.head { // we ran ahead of the cache through slot Seqs
		a = 0
	}
	if a >= want {
		return a, false, nil
	}
	if a == 0 && want == 1 {
		// The next slot's Seq says whether its message is written, through
		// the line we are about to read anyway; the Tail line stays with
		// the producer. Acquire: pairs with storeSeq after Len and Data.
		if r.seqReady() {
			return 1, false, nil
		}
		// Not written: empty, unless closed. The Closed mirror sits on a
		// read-mostly line, so polling an empty ring does not pull the
		// producer's line away from it between messages; every
		// tailEvery-th empty poll loads the tail anyway, so neither a
		// closer that died before setting the mirror nor a message
		// published without a Seq can be missed for long.
		if c.emptyPolls++; !r.closedHint() && c.emptyPolls%tailEvery != 0 {
			return 0, false, nil
		}
	}
	// Acquire: pairs with the producer's CAS of prod.Pos, so the slot
	// contents written before it are visible below.
	t := atomic.LoadUint64(&r.prod.Pos)
	closed := t&closedBit != 0
	if closed && !r.closedHint() {
		atomic.StoreUint32(&r.hdr.Closed, 1) // repair the mirror a dead closer left unset
	}
	t &= posMask
	c.tailCache = t
	switch {
	case t >= c.head:
		if t-c.head > r.g.slots {
			return 0, false, corruptf("producer position %d vs consumer position %d", t, c.head)
		}
		if t > c.head {
			return t - c.head, false, nil
		}
		return 0, closed, nil // t == head: empty, and EOF if closed
	case c.head-t > r.g.slots:
		return 0, false, corruptf("consumer position %d ahead of producer position %d", c.head, t)
	}
	// We consumed through slot Seqs ahead of the producer's Tail publish,
	// which is on its way: empty for now, never EOF. A batch may still
	// take the next message through its Seq.
	if r.seqReady() {
		return 1, false, nil
	}
	return 0, false, nil
}

// seqReady reports whether the slot at the consumer's head holds the
// message of that position (acquire load of its Seq).
func (r *SPSC) seqReady() bool {
	h := (*spscSlot)(unsafe.Pointer(&r.mem[r.slot(r.c.head)]))
	return atomic.LoadUint32(&h.Seq) == uint32(r.c.head+1)
}

// tailEvery is how often (in consecutive empty polls) a single-message
// consumer loads the tail even though the slot Seq and the Closed mirror
// say nothing is there.
const tailEvery = 64

// msgAt returns the validated length and data offset of the message at pos.
func (r *SPSC) msgAt(pos uint64) (uint64, uint64, error) {
	off := r.slot(pos)
	// One load of the peer-written length, checked before use.
	n := uint64(*(*uint32)(unsafe.Pointer(&r.mem[off])))
	if n > r.g.slotSize {
		return 0, 0, corruptf("slot %d: length %d exceeds slot size %d", pos&r.g.mask, n, r.g.slotSize)
	}
	return n, off + spscSlotHeader, nil
}

// release hands positions below next back to the producer.
func (r *SPSC) release(next, n, nbytes uint64) error {
	c := &r.c
	// CAS (LOCK CMPXCHG, sequentially consistent): releases our reads of
	// the slots to the producer's acquire load, orders this store before
	// notify's load of NotFullWaiters, and fails rather than moving the
	// position backwards if another consumer handle ran concurrently
	// (a contract violation we report instead of hiding).
	if !atomic.CompareAndSwapUint64(&r.cons.Pos, c.head, next) {
		c.synced = false
		return corruptf("consumer position changed under the consumer (two consumers?)")
	}
	c.head = next
	c.pend.msgs += n
	c.pend.bytes += nbytes
	if c.pend.ops++; c.pend.ops >= flushEvery {
		r.flushOut(&c.pend)
	}
	r.notFull.notify(int(n), r.peer)
	return nil
}

// consPrologue starts every consumer operation: one load of the shared
// consumer position (our own line) so that a consumer handle that took
// over since our last operation is followed, never re-delivered.
func (r *SPSC) consPrologue() error {
	c := &r.c
	if c.peek {
		return ErrNotReserved
	}
	if cur := atomic.LoadUint64(&r.cons.Pos); !c.synced || cur != c.head {
		return r.syncCons()
	}
	return nil
}

// TryPop copies the next message into dst and returns its length. It
// returns ErrEmpty, io.EOF once the ring is closed and drained,
// io.ErrShortBuffer if dst is too short (the message stays in the ring),
// or ErrCorrupt; it never blocks.
func (r *SPSC) TryPop(dst []byte) (int, error) {
	n, err := r.pop(dst)
	if err == ErrEmpty {
		r.c.pend.empty++
	}
	return n, err
}

func (r *SPSC) pop(dst []byte) (int, error) {
	if err := r.consPrologue(); err != nil {
		return 0, err
	}
	a, closed, err := r.available(1)
	if err != nil {
		return 0, err
	}
	if a == 0 {
		if closed {
			return 0, io.EOF
		}
		return 0, ErrEmpty
	}
	c := &r.c
	n, data, err := r.msgAt(c.head)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(dst)) {
		return 0, io.ErrShortBuffer
	}
	copy(dst, r.mem[data:data+n])
	if err := r.release(c.head+1, 1, n); err != nil {
		return 0, err
	}
	return int(n), nil
}

// TryPopBatch pops up to len(bufs) messages with one update of the shared
// consumer position. Message i is copied into bufs[i][:cap(bufs[i])] and
// bufs[i] is resliced to its length. It returns how many were popped; the
// error is non-nil only when none were (ErrEmpty, io.EOF,
// io.ErrShortBuffer, ErrCorrupt). A message longer than the cap of its
// buffer ends the batch before it.
func (r *SPSC) TryPopBatch(bufs [][]byte) (int, error) {
	n, err := r.popBatch(bufs)
	if err == ErrEmpty {
		r.c.pend.empty++
	}
	return n, err
}

func (r *SPSC) popBatch(bufs [][]byte) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if err := r.consPrologue(); err != nil {
		return 0, err
	}
	a, closed, err := r.available(uint64(len(bufs)))
	if err != nil {
		return 0, err
	}
	if a == 0 {
		if closed {
			return 0, io.EOF
		}
		return 0, ErrEmpty
	}
	c := &r.c
	k := min(a, uint64(len(bufs)))
	var nbytes uint64
	for i := uint64(0); i < k; i++ {
		n, data, err := r.msgAt(c.head + i)
		if err == nil && n > uint64(cap(bufs[i])) {
			err = io.ErrShortBuffer
		}
		if err != nil {
			if i == 0 {
				return 0, err
			}
			k = i
			break
		}
		bufs[i] = bufs[i][:n]
		copy(bufs[i], r.mem[data:data+n])
		nbytes += n
	}
	if err := r.release(c.head+k, k, nbytes); err != nil {
		return 0, err
	}
	return int(k), nil
}

// TryPeek returns the next message in place, without copying or consuming
// it. Release consumes it. At most one peeked message is outstanding.
func (r *SPSC) TryPeek() (Message, error) {
	m, err := r.peek()
	if err == ErrEmpty {
		r.c.pend.empty++
	}
	return m, err
}

func (r *SPSC) peek() (Message, error) {
	if err := r.consPrologue(); err != nil {
		return Message{}, err
	}
	a, closed, err := r.available(1)
	if err != nil {
		return Message{}, err
	}
	if a == 0 {
		if closed {
			return Message{}, io.EOF
		}
		return Message{}, ErrEmpty
	}
	c := &r.c
	n, data, err := r.msgAt(c.head)
	if err != nil {
		return Message{}, err
	}
	c.peek = true
	return Message{Data: r.mem[data : data+n : data+n], pos: c.head, ring: &r.core}, nil
}

// Release consumes a message returned by TryPeek or Peek; its Data must
// not be used afterwards.
func (r *SPSC) Release(m Message) error {
	c := &r.c
	if m.ring != &r.core || !c.peek || m.pos != c.head {
		return ErrNotReserved
	}
	c.peek = false
	return r.release(c.head+1, 1, uint64(len(m.Data)))
}

// ready implements readiness for the waiter.
func (r *SPSC) ready(push bool) bool {
	if push {
		t := atomic.LoadUint64(&r.prod.Pos)
		if t&closedBit != 0 {
			return true
		}
		h := atomic.LoadUint64(&r.cons.Pos)
		return (t&posMask)-h < r.g.slots
	}
	if r.seqReady() {
		return true
	}
	// About to sleep (a system call anyway): consult the producer word
	// itself, not the Closed mirror, so that the answer agrees with what
	// the next pop will find. Ready when a message is published, or when
	// closed and drained (EOF). Closed with the head ahead of the tail
	// (a publish still in flight) is not ready: sleep, bounded.
	t := atomic.LoadUint64(&r.prod.Pos)
	pos := t & posMask
	return pos > r.c.head || (t&closedBit != 0 && pos == r.c.head)
}

func (r *SPSC) flush(push bool) {
	if push {
		r.flushIn(&r.p.pend)
	} else {
		r.flushOut(&r.c.pend)
	}
}

// Push is TryPush that waits while the ring is full, using the handle's
// wait strategy, until ctx is done.
func (r *SPSC) Push(ctx context.Context, msg []byte) error {
	err := r.TryPush(msg)
	if err != ErrFull {
		return err
	}
	_, err = waitFor(ctx, &r.core, r, true, ErrFull, func() (struct{}, error) { return struct{}{}, r.push(msg) })
	return err
}

// PushBatch pushes all of msgs, waiting while the ring is full. It returns
// how many were pushed (all of them unless err != nil).
func (r *SPSC) PushBatch(ctx context.Context, msgs [][]byte) (int, error) {
	return pushAll(ctx, &r.core, r, msgs, r.pushBatch, r.countFull)
}

// Reserve is TryReserve that waits while the ring is full.
func (r *SPSC) Reserve(ctx context.Context, n int) (Reservation, error) {
	res, err := r.TryReserve(n)
	if err != ErrFull {
		return res, err
	}
	return waitFor(ctx, &r.core, r, true, ErrFull, func() (Reservation, error) { return r.reserve(n) })
}

// Pop is TryPop that waits while the ring is empty, using the handle's
// wait strategy, until ctx is done. It returns io.EOF once the ring is
// closed and drained.
func (r *SPSC) Pop(ctx context.Context, dst []byte) (int, error) {
	n, err := r.TryPop(dst)
	if err != ErrEmpty {
		return n, err
	}
	return waitFor(ctx, &r.core, r, false, ErrEmpty, func() (int, error) { return r.pop(dst) })
}

// PopBatch waits until at least one message is available, then pops up to
// len(bufs) like TryPopBatch.
func (r *SPSC) PopBatch(ctx context.Context, bufs [][]byte) (int, error) {
	n, err := r.TryPopBatch(bufs)
	if err != ErrEmpty {
		return n, err
	}
	return waitFor(ctx, &r.core, r, false, ErrEmpty, func() (int, error) { return r.popBatch(bufs) })
}

// Peek is TryPeek that waits while the ring is empty.
func (r *SPSC) Peek(ctx context.Context) (Message, error) {
	m, err := r.TryPeek()
	if err != ErrEmpty {
		return m, err
	}
	return waitFor(ctx, &r.core, r, false, ErrEmpty, r.peek)
}

// Close closes the ring for everyone: further pushes fail with ErrClosed,
// consumers drain what was committed and then get io.EOF, and every
// blocked waiter on both sides wakes up. Call it from the producer (or when
// no push is in flight); it is idempotent.
func (r *SPSC) Close() error {
	r.p.closed = true
	return r.closeRing()
}

// Len is the number of committed messages not yet consumed.
func (r *SPSC) Len() int {
	t := atomic.LoadUint64(&r.prod.Pos) & posMask
	h := atomic.LoadUint64(&r.cons.Pos)
	if t-h > r.g.slots {
		return 0
	}
	return int(t - h)
}

// Stats reads the ring's shared counters.
func (r *SPSC) Stats() Stats { return r.stats() }

// Detach publishes this handle's pending counters and frees its peer
// entry. It does not close the ring. Call it from the goroutine(s) that
// used the handle, after they are done.
func (r *SPSC) Detach() error {
	r.flushIn(&r.p.pend)
	r.flushOut(&r.c.pend)
	r.detach()
	return nil
}

func (r *SPSC) countFull() { r.p.pend.full++ }
