package ring

// Invariants of the SPSC ring (positions are 56-bit counters that only
// grow, below the side's epoch in bits 56..62 of its word: see
// spsc_takeover.go; a slot index is pos & (Slots-1)):
//
//   - 0 <= Tail - Head <= Slots, where Tail = prod.Pos &^ closedBit and
//     Head = cons.Pos; except that Head may run ahead of the published
//     Tail by the messages of an in-flight publish, which a consumer can
//     take early through their slot Seq (never by more than Slots).
//   - Slots [Head, Tail) hold committed messages and belong to the
//     consumer; slots [Tail, Head+Slots) belong to the producer.
//   - Only the producer writes prod.Pos (by CAS, so that CloseWrite from
//     any process can set the closed bit without losing a publish); only
//     the consumer writes cons.Pos (by CAS, so that a second consumer is
//     reported instead of moving the position backwards).
//   - Each side keeps its own position privately and a cached copy of the
//     other side's, and reads the shared copy only when the cache says
//     full (producer) or empty (consumer): the rigtorp/Agrona way.
//   - A value read from the peer's word is checked against the invariant
//     before use; a slot's length is read once and checked against
//     SlotSize. Violations return ErrCorrupt.
//
// Slot format: Len uint32, Seq uint32 (low 32 bits of position+1, stored
// with release after Len and the data and before Tail), then SlotSize
// bytes of data, stride rounded up to 8. A consumer whose cached tail is
// exhausted checks the next slot's Seq before loading Tail, so in a
// ping-pong the Tail line stays in the producer's cache.
//
// This file and spsc_consumer.go are the algorithm, hot path first: the
// producer side here, the consumer side there. What happens when a handle
// finds that another took over its side (adoption of a dead producer's
// unpublished slots, a consumer that ran ahead of the published Tail) is
// in spsc_takeover.go.

import (
	"context"
	"sync/atomic"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

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

// cacheLinePad keeps the producer's and the consumer's private state on
// separate cache lines (128 bytes: two lines, for the adjacent-line
// prefetcher) when one handle is used from two goroutines.
type cacheLinePad [128]byte

// unsynced is a side's private position before its first operation (and
// after a failed publish): no valid position equals it (bit 63 is never set
// in one), so the comparison in each operation's prologue sends it to the
// resync; the prologues also send any word with bit 63 set there, so a
// corrupt word equal to the sentinel is refused too.
const unsynced = ^uint64(0)

// spscProducer is the producer side's private state.
type spscProducer struct {
	tail      uint64 // next position to publish; unsynced until the first producer operation
	epoch     uint64 // the producer word's epoch bits since this handle took the side over
	headCache uint64 // last Head seen
	resv      bool   // a reservation is outstanding
	pend      pending
}

// spscConsumer is the consumer side's private state.
type spscConsumer struct {
	head       uint64 // next position to consume; unsynced until the first consumer operation
	epoch      uint64 // the consumer word's epoch bits since this handle took the side over
	tailCache  uint64 // last Tail seen
	peek       bool   // a peeked message is outstanding
	emptyPolls uint32 // consecutive single-message polls that found nothing
	pend       pending
}

// CreateSPSC allocates a region named name in a and initialises an SPSC
// ring in it. The padding unit is the arena's.
func CreateSPSC(a *arena.Arena, name string, cfg Config, opts ...Option) (*SPSC, error) {
	return created(newSPSC(), a, name, cfg, opts)
}

// OpenSPSC attaches to the SPSC ring named name in a, waiting up to the
// open timeout (WithOpenTimeout) for its creator to finish.
func OpenSPSC(a *arena.Arena, name string, opts ...Option) (*SPSC, error) {
	return opened(newSPSC(), a, name, opts)
}

// NewSPSC initialises an SPSC ring over caller memory (zeroed, 8-byte
// aligned, at least Size(KindSPSC, cfg, padUnit) bytes) and returns a
// handle. Other handles attach with AttachSPSC. Tests use it over heap
// memory, where the race detector can see the ring's accesses.
func NewSPSC(mem []byte, cfg Config, padUnit int, opts ...Option) (*SPSC, error) {
	return initialised(newSPSC(), mem, cfg, padUnit, opts)
}

// AttachSPSC attaches a new handle to an SPSC ring in caller memory.
func AttachSPSC(mem []byte, opts ...Option) (*SPSC, error) { return attached(newSPSC(), mem, opts) }

func newSPSC() *SPSC {
	r := &SPSC{p: spscProducer{tail: unsynced}, c: spscConsumer{head: unsynced}}
	r.core.bind(kindSPSC, r, &r.p.pend, &r.c.pend)
	return r
}

func (r *SPSC) slotOff(pos uint64) uint64 { return r.g.slotsOff + (pos&r.g.mask)*r.g.stride }

// The producer side; the consumer side is in spsc_consumer.go.

// TryPush copies msg into the next slot and commits it. It returns
// ErrFull, ErrTooLarge, ErrClosed, ErrOutstanding or ErrCorrupt, and never
// blocks.
func (r *SPSC) TryPush(msg []byte) error { return r.counted(r.push(msg)) }

// Push is TryPush that waits while the ring is full, using the handle's
// wait strategy, until ctx is done.
func (r *SPSC) Push(ctx context.Context, msg []byte) error {
	return r.pushWait(ctx, msg, r.TryPush(msg))
}

func (r *SPSC) push(msg []byte) error {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return r.shutErr()
	}
	p := &r.p
	if uint64(len(msg)) > r.g.slotSize {
		return ErrTooLarge
	}
	// prodPrologue's common case inline (one call fewer per push).
	if cur := atomic.LoadUint64(&r.prod.Pos); cur != p.tail|p.epoch || int64(cur) < 0 || p.resv { // acquire: as in prodPrologue
		if err := r.prodPrologue(); err != nil {
			return err
		}
	}
	if p.tail-p.headCache >= r.g.slots { // the cache says full: look again
		if f, err := r.refreshHead(); err != nil || f == 0 {
			return orFull(err)
		}
	}
	off := r.slotOff(p.tail)
	s := r.mem[off : off+r.g.stride] // bounds-checked: the slot lies inside the ring
	h := (*spscSlot)(unsafe.Pointer(&s[0]))
	h.Len = uint32(len(msg))
	copy(s[spscSlotHeader:], msg)
	if !r.stillProducer() {
		return ErrFenced
	}
	// Release: Len and the data before Seq, for a consumer that takes the
	// message through Seq before the Tail publish below.
	storeRelease32(&h.Seq, uint32(p.tail+1))
	return r.publish(p.tail+1, 1, uint64(len(msg)))
}

// stillProducer looks again, just before a slot's Seq store (which a
// consumer may act on before the publish CAS), whether another handle
// took the producer side over since the prologue: one load of our own
// line. A handle paused between this load and its Seq store is the
// residual case of spsc_takeover.go's fencing argument.
func (r *SPSC) stillProducer() bool {
	return atomic.LoadUint64(&r.prod.Pos)&spscEpochMask == r.p.epoch // acquire
}

// prodPrologue starts every producer operation with one load of the
// shared producer word (our own line, so usually a hit): it catches a
// CloseWrite from elsewhere before we write a slot, and a producer handle
// that took over since our last operation (we then continue from its
// position instead of overwriting its messages).
func (r *SPSC) prodPrologue() error {
	cur := atomic.LoadUint64(&r.prod.Pos)            // acquire: pairs with any publish or close of the word
	if cur != r.p.tail|r.p.epoch || int64(cur) < 0 { // bit 63: closed (or a word equal to unsynced)
		if err := r.resyncProd(cur); err != nil {
			return err
		}
	}
	if r.p.resv {
		return ErrOutstanding
	}
	return nil
}

// refreshHead reloads Head into the producer's cache and returns how many
// slots are free.
func (r *SPSC) refreshHead() (uint64, error) {
	p := &r.p
	// Acquire: pairs with the consumer's CAS of cons.Pos after it copied
	// the slots out, so we never overwrite a slot still being read.
	h := atomic.LoadUint64(&r.cons.Pos) & spscPosMask
	if p.tail-h > r.g.slots { // also catches h > tail
		if atomic.LoadUint64(&r.prod.Pos)&spscEpochMask != p.epoch {
			return 0, ErrFenced // replaced since our prologue: the consumer follows the new producer
		}
		return 0, corruptf("consumer position %d vs producer position %d", h, p.tail)
	}
	p.headCache = h
	return r.g.slots - (p.tail - h), nil
}

// publish makes positions [p.tail, next) visible to the consumer.
func (r *SPSC) publish(next, n, nbytes uint64) error {
	p := &r.p
	// CAS (LOCK CMPXCHG, sequentially consistent): releases the slot
	// writes to the consumer's acquire load of prod.Pos, fails if
	// CloseWrite set the closed bit meanwhile, and is the StoreLoad fence
	// that orders this publish before notify's load of NotEmptyWaiters.
	// The word carries our epoch: after a takeover the CAS fails, and
	// nothing we wrote is published (ErrFenced).
	if !atomic.CompareAndSwapUint64(&r.prod.Pos, p.tail|p.epoch, next|p.epoch) {
		if err := r.publishFailed(next); err != nil {
			return err
		}
	}
	p.tail = next
	r.cnt.addIn(n, nbytes)
	if p.pend.tick() {
		r.slowIn()
	}
	r.notEmpty.notify(int(n), r.peer)
	return nil
}

// TryPushBatch pushes as many of msgs as fit, in order, with one update of
// the shared producer position. It returns how many were pushed; the error
// is non-nil only when none were (ErrFull, ErrTooLarge, ErrClosed, ...).
// A message longer than SlotSize ends the batch before it.
func (r *SPSC) TryPushBatch(msgs [][]byte) (int, error) {
	n, err := r.pushBatch(msgs)
	return r.countedBatch(msgs, n, err)
}

// PushBatch pushes all of msgs, waiting while the ring is full. It returns
// how many were pushed (all of them unless err != nil).
func (r *SPSC) PushBatch(ctx context.Context, msgs [][]byte) (int, error) {
	n, err := r.pushBatch(msgs)
	return r.pushAll(ctx, msgs, n, err)
}

func (r *SPSC) pushBatch(msgs [][]byte) (int, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, r.shutErr()
	}
	p := &r.p
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := r.prodPrologue(); err != nil {
		return 0, err
	}
	f := r.g.slots - (p.tail - p.headCache)
	if f < uint64(len(msgs)) {
		var err error
		if f, err = r.refreshHead(); err != nil || f == 0 {
			return 0, orFull(err)
		}
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
		off := r.slotOff(p.tail + i)
		s := r.mem[off : off+r.g.stride]
		h := (*spscSlot)(unsafe.Pointer(&s[0]))
		h.Len = uint32(len(m))
		copy(s[spscSlotHeader:], m)
		if !r.stillProducer() {
			return 0, ErrFenced
		}
		storeRelease32(&h.Seq, uint32(p.tail+i+1)) // release: as in push
		nbytes += uint64(len(m))
	}
	if err := r.publish(p.tail+n, n, nbytes); err != nil {
		return 0, err
	}
	return int(n), nil
}

// TryReserve reserves the next slot for a message of up to n bytes
// written in place; Commit publishes it. At most one reservation is
// outstanding per producer: until it is committed, other producer
// operations return ErrOutstanding.
func (r *SPSC) TryReserve(n int) (Reservation, error) { return r.countedRes(r.reserve(n)) }

// Reserve is TryReserve that waits while the ring is full.
func (r *SPSC) Reserve(ctx context.Context, n int) (Reservation, error) {
	res, err := r.TryReserve(n)
	return r.reserveWait(ctx, n, res, err)
}

func (r *SPSC) reserve(n int) (Reservation, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return Reservation{}, r.shutErr()
	}
	p := &r.p
	if err := checkMsgLen(n, r.g.slotSize); err != nil {
		return Reservation{}, err
	}
	if err := r.prodPrologue(); err != nil {
		return Reservation{}, err
	}
	if p.tail-p.headCache >= r.g.slots {
		if f, err := r.refreshHead(); err != nil || f == 0 {
			return Reservation{}, orFull(err)
		}
	}
	off := r.slotOff(p.tail) + spscSlotHeader
	p.resv = true
	return Reservation{Buf: r.mem[off : off+uint64(n) : off+r.g.slotSize], pos: p.tail, ring: &r.core}, nil
}

// Commit publishes a reserved slot holding a message of n bytes
// (0 <= n <= SlotSize; usually len(res.Buf)).
func (r *SPSC) Commit(res Reservation, n int) error {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return r.shutErr()
	}
	p := &r.p
	if res.ring != &r.core || !p.resv || res.pos != p.tail {
		return ErrNotReserved
	}
	if err := checkMsgLen(n, r.g.slotSize); err != nil {
		return err
	}
	// A reservation may be held for long: before writing the slot header,
	// one load of our own word says whether another handle took the side
	// over meanwhile (and may be using this slot).
	if atomic.LoadUint64(&r.prod.Pos)&spscEpochMask != p.epoch { // acquire
		p.resv = false
		return ErrFenced
	}
	h := (*spscSlot)(unsafe.Pointer(&r.mem[r.slotOff(p.tail)]))
	h.Len = uint32(n)
	storeRelease32(&h.Seq, uint32(p.tail+1)) // release: as in push
	p.resv = false
	return r.publish(p.tail+1, 1, uint64(n))
}

// ready implements kindOps: whether a producer (push) or consumer
// operation could make progress now, or fail for good. It reads the
// shared words (not the caches, not the Closed mirror) and changes no
// private state: the caller is about to sleep, and the answer must agree
// with what the next try finds.
func (r *SPSC) ready(push bool) bool {
	if push {
		t := atomic.LoadUint64(&r.prod.Pos) // acquire
		if t&closedBit != 0 {
			return true
		}
		h := atomic.LoadUint64(&r.cons.Pos) & spscPosMask // acquire
		return (t&spscPosMask)-h < r.g.slots
	}
	if r.c.head == unsynced || r.seqReady() {
		return true
	}
	_, a, eof, err := r.loadTail()
	return a > 0 || eof || err != nil
}

// watch implements kindOps: a consumer waits for the head slot's Seq, a
// producer for the consumer's position.
func (r *SPSC) watch(push bool) (*uint64, *uint32) {
	if push {
		return &r.cons.Pos, nil
	}
	if r.c.head == unsynced {
		return nil, nil
	}
	return nil, &(*spscSlot)(unsafe.Pointer(&r.mem[r.slotOff(r.c.head)])).Seq
}

// Close releases this handle (see Detach). If the handle is the ring's
// producer (it ran a producer operation and no other handle has published
// since), Close first ends the stream, as closing the write end of a pipe
// does: consumers drain and then get io.EOF. A consumer's Close never ends
// the stream, nor does Close after Detach. Idempotent; call it after the
// handle's last operation.
func (r *SPSC) Close() error {
	if r.detached.Load() {
		return nil
	}
	if t := r.tailForClose(); t != unsynced {
		// One CAS tests "still the producer" and ends the stream at once,
		// so a producer handle that publishes in between is not closed
		// under.
		r.closeAt(t | r.p.epoch)
	}
	return r.Detach()
}
