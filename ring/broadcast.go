package ring

// The broadcast ring: one producer, many subscribers, each of which sees
// every message (the producer side here; subscribers in subscriber.go).
//
// Invariants (positions are 56-bit counters below the producer word's
// epoch, as on SPSC; slot i holds position p with p & (Slots-1) == i):
//
//   - Only the producer writes prod.Pos (by CAS, so that CloseWrite from
//     any process can set the closed bit without losing a publish) and the
//     slots. Each subscriber writes only its own entry in the subscriber
//     part of the peer table: its cursor (the entry's word at 64, the next
//     position it will read) and its counters. No subscriber writes a line
//     another subscriber reads.
//   - A slot's Seq is its seqlock word: 1 + the position whose message it
//     holds, complete; or that with bcastWriting (bit 63) set while the
//     producer rewrites it. The producer sets the writing bit before it
//     touches the slot's Len or data, and stores the plain value (release)
//     after them: a reader that loaded Seq == q+1 before copying and
//     again after copying read the whole of message q, untorn.
//   - Tethered subscribers hold the producer back: it writes position p
//     only if p < c + Slots for every live tethered cursor c, which it
//     checks against a private cache (limit = the lowest cursor at its
//     last look + Slots) and reloads the cursors only when the cache says
//     full. A cursor only grows, so a stale cache is conservative. A
//     tethered subscriber stores its cursor (sequentially consistent)
//     after copying the slot out, and the producer acquire-loads it before
//     rewriting: a tethered subscriber's reads never race a write.
//   - Lossy subscribers hold nothing back: the producer may rewrite any
//     slot, and a lossy reader finds out from Seq (lapped).
//   - Values read from shared memory (Seq, Len, cursors, the producer
//     word) are checked before use: an impossible one is ErrCorrupt, and a
//     cursor ahead of the producer holds nothing back.
//
// Takeover and fencing are SPSC's (spsc_takeover.go): a producer handle's
// first operation bumps the epoch in prod.Pos, and the replaced handle's
// publish CAS fails with ErrFenced. The new producer adopts slots the old
// one completed but did not publish (Seq == position+1 past the tail).
//
// Dead tethered subscribers. When the cursors say full, the producer tests
// the liveness (peers.go) of each tethered subscriber that holds it back:
// at once from a blocking call, at most every millisecond from Try calls.
// A dead one's tether is released in the producer's private state (it
// remembers the entry's generation as dead), without writing the entry: a
// new subscriber that reclaims the entry bumps its generation and is
// counted again.

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// bcastWriting marks a broadcast slot's Seq while the producer rewrites it.
const bcastWriting = uint64(1) << 63

// probeEvery bounds how often Try calls that find the ring full test the
// liveness of the subscribers holding it (a system call each).
const probeEvery = time.Millisecond

// Broadcast is the producer's handle on a broadcast ring. At most one
// goroutine (in any process) produces (TryPush, Push, batches,
// Reserve/Commit) at a time; a second producer handle takes the side over
// as on SPSC, and the replaced one gets ErrFenced. The other methods are
// safe for concurrent use.
type Broadcast struct {
	core
	_ cacheLinePad
	p bcastProducer
	_ cacheLinePad
}

// bcastProducer is the producer's private state.
type bcastProducer struct {
	tail  uint64 // next position to publish; unsynced until the first producer operation
	epoch uint64 // the producer word's epoch bits since this handle took the side over
	// limit is the lowest live tethered cursor at the last look, plus
	// Slots (or the tail then, plus Slots, with none): positions below it
	// may be written without looking again.
	limit uint64
	resv  bool
	pend  pending
	// dead[i] is deadMark(the Generation of subscriber entry subBase+i)
	// when it was last found dead: its tether no longer holds the
	// producer. 0: none.
	dead      []uint64
	lastProbe int64 // monoNow of the last liveness probe made by a Try call
}

// CreateBroadcast allocates a region named name in a and initialises a
// broadcast ring in it. cfg.Subscribers is the most subscribers attached
// at once (0: DefaultSubscribers).
func CreateBroadcast(a *arena.Arena, name string, cfg Config, opts ...Option) (*Broadcast, error) {
	return created(newBroadcast(), a, name, cfg, opts)
}

// OpenBroadcast attaches a producer handle to the broadcast ring named
// name in a. Its first producer operation takes the producer side over
// from whichever handle had it (as on SPSC: a restarted feed handler
// continues the stream).
func OpenBroadcast(a *arena.Arena, name string, opts ...Option) (*Broadcast, error) {
	return opened(newBroadcast(), a, name, opts)
}

// NewBroadcast initialises a broadcast ring over caller memory (zeroed,
// 8-byte aligned, at least Size(KindBroadcast, cfg, padUnit) bytes).
// Subscribers attach with AttachSubscriber.
func NewBroadcast(mem []byte, cfg Config, padUnit int, opts ...Option) (*Broadcast, error) {
	return initialised(newBroadcast(), mem, cfg, padUnit, opts)
}

// AttachBroadcast attaches a producer handle to a broadcast ring in
// caller memory.
func AttachBroadcast(mem []byte, opts ...Option) (*Broadcast, error) {
	return attached(newBroadcast(), mem, opts)
}

func newBroadcast() *Broadcast {
	b := &Broadcast{p: bcastProducer{tail: unsynced}}
	b.core.bind(kindBroadcast, b, &b.p.pend, nil)
	return b
}

func (c *core) bcastSlot(pos uint64) *bcastSlot {
	off := c.g.slotsOff + (pos&c.g.mask)*c.g.stride // inside the ring: pos&mask < slots
	return (*bcastSlot)(unsafe.Pointer(&c.mem[off]))
}

// bcastData is the data area of pos's slot, n bytes (n <= SlotSize),
// with its capacity rounded up to 8 inside the stride (sharedCopy).
func (c *core) bcastData(pos, n uint64) []byte {
	off := c.g.slotsOff + (pos&c.g.mask)*c.g.stride + bcastSlotHeader
	return c.mem[off : off+n : off+alignUp(c.g.slotSize, 8)]
}

// TryPush copies msg into the next slot and publishes it to every
// subscriber. It returns ErrFull (only while a live tethered subscriber
// has not read the message Slots positions back), ErrTooLarge, ErrClosed,
// ErrFenced, ErrOutstanding or ErrCorrupt, and never blocks.
func (b *Broadcast) TryPush(msg []byte) error { return b.counted(b.push(msg)) }

// Push is TryPush that waits while a tethered subscriber holds the ring
// full (never for lossy subscribers), until ctx is done.
func (b *Broadcast) Push(ctx context.Context, msg []byte) error {
	return b.pushWait(ctx, msg, b.TryPush(msg))
}

func (b *Broadcast) push(msg []byte) error {
	if b.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return b.shutErr()
	}
	p := &b.p
	if uint64(len(msg)) > b.g.slotSize {
		return ErrTooLarge
	}
	if err := b.prodPrologue(); err != nil {
		return err
	}
	if p.tail >= p.limit && !b.roomFor(1) {
		return ErrFull
	}
	if !b.stillProducer() { // roomFor may have taken long (liveness tests): look again before marking
		return ErrFenced
	}
	b.writeSlot(p.tail, msg)
	if !b.stillProducer() {
		return ErrFenced
	}
	b.endWrite(p.tail, uint64(len(msg)))
	return b.publish(p.tail+1, 1, uint64(len(msg)))
}

// writeSlot marks pos's slot as being written and writes msg into it.
func (b *Broadcast) writeSlot(pos uint64, msg []byte) {
	h := b.bcastSlot(pos)
	b.beginWrite(h, pos)
	storeOwned32(&h.Len, uint32(len(msg))) // ordered before Seq's final store by its release
	sharedCopyIn(b.bcastData(pos, uint64(len(msg))), msg)
}

// beginWrite sets the writing bit in h's Seq before the producer changes
// the slot's Len or data: a reader that copied any of the new bytes then
// sees a changed Seq at its second look.
func (b *Broadcast) beginWrite(h *bcastSlot, pos uint64) {
	// A release store (plain MOV on amd64), then the store-store fence
	// that keeps the data stores after it (TSO gives it on amd64, where
	// storeStoreFence is empty; the copy is a call the compiler does not
	// move above the store).
	storeOwned64(&h.Seq, (pos+1)|bcastWriting)
	storeStoreFence()
}

// endWrite completes pos's slot, holding n bytes.
func (b *Broadcast) endWrite(pos, n uint64) {
	h := b.bcastSlot(pos)
	_ = n
	// Release: Len and the data before the plain Seq, which a subscriber
	// acquire-loads before it copies (and which lets it take the message
	// before the tail publish, as on SPSC).
	storeRelease64(&h.Seq, pos+1)
}

// stillProducer is SPSC's: one load of our own word before a slot's
// completing Seq store says whether another handle took the side over.
func (b *Broadcast) stillProducer() bool {
	return atomic.LoadUint64(&b.prod.Pos)&spscEpochMask == b.p.epoch // acquire
}

// prodPrologue is SPSC's: one load of the producer word catches a close
// and a takeover since our last operation.
func (b *Broadcast) prodPrologue() error {
	cur := atomic.LoadUint64(&b.prod.Pos)            // acquire: pairs with any publish or close of the word
	if cur != b.p.tail|b.p.epoch || int64(cur) < 0 { // bit 63: closed (or a word equal to unsynced)
		if err := b.resyncProd(cur); err != nil {
			return err
		}
	}
	if b.p.resv {
		return ErrOutstanding
	}
	return nil
}

// publish makes positions [tail, next) visible to subscribers.
func (b *Broadcast) publish(next, n, nbytes uint64) error {
	p := &b.p
	// CAS (sequentially consistent): releases the slots to a subscriber's
	// acquire load of prod.Pos, fails if CloseWrite set the closed bit or
	// another handle took over (ErrFenced), and is the StoreLoad fence
	// before notify's load of NotEmptyWaiters.
	if !atomic.CompareAndSwapUint64(&b.prod.Pos, p.tail|p.epoch, next|p.epoch) {
		if err := b.publishFailed(next); err != nil {
			return err
		}
	}
	p.tail = next
	b.cnt.addIn(n, nbytes)
	if p.pend.tick() {
		b.slowIn()
	}
	// Every sleeping subscriber wants every message: wake them all.
	b.notEmpty.notify(0, b.peer)
	return nil
}

// publishFailed handles a failed publish CAS, as SPSC's does: another
// handle took over (ErrFenced: nothing of ours is published); or a
// CloseWrite landed since our prologue, and as the slots already carry
// their Seq and a subscriber may have taken them, they are published under
// the closed bit (nil) rather than reported failed.
func (b *Broadcast) publishFailed(next uint64) error {
	p := &b.p
	now := atomic.LoadUint64(&b.prod.Pos) // acquire
	if now&spscEpochMask != p.epoch {
		return ErrFenced
	}
	if now == p.tail|p.epoch|closedBit {
		if atomic.CompareAndSwapUint64(&b.prod.Pos, now, next|p.epoch|closedBit) {
			return nil
		}
		now = atomic.LoadUint64(&b.prod.Pos)
	}
	if now&closedBit != 0 {
		return ErrClosed
	}
	err := corruptf("producer word %#x changed under the producer (expected %#x)", now, p.tail|p.epoch)
	p.tail = unsynced // resync on the next operation
	return err
}

// roomFor looks at the tethered cursors again (the cache said full) and
// reports whether n more positions are free. A Try call tests the
// liveness of the subscribers holding it back at most every probeEvery.
func (b *Broadcast) roomFor(n uint64) bool {
	p := &b.p
	b.refreshLimit(false)
	if p.tail+n <= p.limit {
		return true
	}
	if now := monoNow(); now-p.lastProbe >= int64(probeEvery) {
		p.lastProbe = now
		b.refreshLimit(true)
	}
	return p.tail+n <= p.limit
}

// refreshLimit reloads the tethered cursors into the cache. With probe,
// each subscriber that holds the producer back is tested for liveness
// and, dead, released. It reports whether a probe released one.
func (b *Broadcast) refreshLimit(probe bool) bool {
	p := &b.p
	lo, released := b.tetherMin(probe)
	p.limit = lo + b.g.slots
	return released
}

// tetherMin is the lowest cursor of the tethered subscribers not known to
// be dead, or the tail with none. It reads shared memory and, with probe,
// records dead subscribers; nothing else.
func (b *Broadcast) tetherMin(probe bool) (lo uint64, released bool) {
	p := &b.p
	lo = p.tail
	for i := b.g.subBase; i < b.g.peers; i++ {
		e := b.peerAt(int(i))
		cur, ok := b.tether(i, e)
		if !ok {
			continue
		}
		if probe && cur+b.g.slots <= p.tail && b.subscriberDead(i, e) {
			released = true
			continue
		}
		lo = min(lo, cur)
	}
	return lo, released
}

// tether returns the cursor of subscriber entry i if it is occupied by a
// tethered subscriber not known to be dead and its cursor is at or behind
// the tail.
func (b *Broadcast) tether(i uint64, e *peerEntry) (uint64, bool) {
	if atomic.LoadUint32(&e.PID) == 0 {
		return 0, false
	}
	// Generation before Roles and the cursor: a subscriber that reclaims
	// the entry bumps it before it sets its role, so a generation found
	// dead is never a live subscriber's.
	gen := atomic.LoadUint32(&e.Generation)
	if b.p.dead[i-b.g.subBase] == deadMark(gen) {
		return 0, false
	}
	if Role(atomic.LoadUint32(&e.Roles))&RoleTethered == 0 {
		return 0, false
	}
	// Acquire: pairs with the subscriber's store of its cursor after it
	// copied the slots below it out, so rewriting them cannot race its
	// reads.
	cur := atomic.LoadUint64(subCursor(e))
	if atomic.LoadUint32(&e.Generation) != gen {
		// Reclaimed meanwhile: the cursor may be the claimer's zeroing,
		// not a subscriber's. The new subscriber's role and cursor come
		// after its generation bump, and our look is older than its
		// join's second tail read: it does not need this look.
		return 0, false
	}
	if cur > b.p.tail {
		// Ahead of every message (a subscriber that took in-flight
		// messages through Seq; or a hostile word): holds nothing back.
		return 0, false
	}
	return cur, true
}

// subscriberDead tests subscriber entry i, which holds the producer back,
// and records it as dead if it is.
func (b *Broadcast) subscriberDead(i uint64, e *peerEntry) bool {
	gen := atomic.LoadUint32(&e.Generation)
	pid := atomic.LoadUint32(&e.PID)
	if pid == 0 {
		return false
	}
	alive, locked := b.peerAlive(int(i), pid)
	if alive || b.g.peerLocks && !locked {
		return false // alive, or a lock ring whose lock could not be tested: unknown is alive
	}
	// A subscriber that claimed the entry since our generation load is
	// not the dead one.
	if atomic.LoadUint32(&e.Generation) != gen {
		return false
	}
	b.p.dead[i-b.g.subBase] = deadMark(gen)
	return true
}

// deadMark is a dead generation as recorded in bcastProducer.dead: never 0.
func deadMark(gen uint32) uint64 { return uint64(gen) | 1<<32 }

// TryPushBatch pushes as many of msgs as fit, in order, with one update of
// the shared producer position. It returns how many were pushed; the
// error is non-nil only when none were. A message longer than SlotSize
// ends the batch before it. Every message left out because the ring was
// full counts one full event.
func (b *Broadcast) TryPushBatch(msgs [][]byte) (int, error) {
	n, err := b.pushBatch(msgs)
	return b.countedBatch(msgs, n, err)
}

// PushBatch pushes all of msgs, waiting while a tethered subscriber holds
// the ring full. It returns how many were pushed (all of them unless
// err != nil).
func (b *Broadcast) PushBatch(ctx context.Context, msgs [][]byte) (int, error) {
	n, err := b.pushBatch(msgs)
	return b.pushAll(ctx, msgs, n, err)
}

func (b *Broadcast) pushBatch(msgs [][]byte) (int, error) {
	if b.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, b.shutErr()
	}
	p := &b.p
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := b.prodPrologue(); err != nil {
		return 0, err
	}
	want := uint64(len(msgs))
	if p.tail+want > p.limit && !b.roomFor(want) && p.tail >= p.limit {
		return 0, ErrFull
	}
	n := min(want, p.limit-p.tail)
	if !b.stillProducer() { // as in push
		return 0, ErrFenced
	}
	var nbytes uint64
	for i := uint64(0); i < n; i++ {
		m := msgs[i]
		if uint64(len(m)) > b.g.slotSize {
			if i == 0 {
				return 0, ErrTooLarge
			}
			n = i
			break
		}
		if i > 0 && !b.stillProducer() { // before each mark, as in push
			return 0, ErrFenced
		}
		b.writeSlot(p.tail+i, m)
		if !b.stillProducer() {
			return 0, ErrFenced
		}
		b.endWrite(p.tail+i, uint64(len(m)))
		nbytes += uint64(len(m))
	}
	if err := b.publish(p.tail+n, n, nbytes); err != nil {
		return 0, err
	}
	return int(n), nil
}

// TryReserve reserves the next slot for a message of up to n bytes
// written in place; Commit publishes it. Until then other producer
// operations return ErrOutstanding. Subscribers see nothing of the slot
// before the Commit (a lossy subscriber that was reading the message the
// slot held before finds it overwritten).
func (b *Broadcast) TryReserve(n int) (Reservation, error) { return b.countedRes(b.reserve(n)) }

// Reserve is TryReserve that waits while a tethered subscriber holds the
// ring full.
func (b *Broadcast) Reserve(ctx context.Context, n int) (Reservation, error) {
	res, err := b.TryReserve(n)
	return b.reserveWait(ctx, n, res, err)
}

func (b *Broadcast) reserve(n int) (Reservation, error) {
	if b.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return Reservation{}, b.shutErr()
	}
	p := &b.p
	if err := checkMsgLen(n, b.g.slotSize); err != nil {
		return Reservation{}, err
	}
	if err := b.prodPrologue(); err != nil {
		return Reservation{}, err
	}
	if p.tail >= p.limit && !b.roomFor(1) {
		return Reservation{}, ErrFull
	}
	if !b.stillProducer() { // as in push
		return Reservation{}, ErrFenced
	}
	// The writing bit before the caller writes anything into the slot.
	b.beginWrite(b.bcastSlot(p.tail), p.tail)
	p.resv = true
	buf := b.bcastData(p.tail, b.g.slotSize)
	return Reservation{Buf: buf[:n:b.g.slotSize], pos: p.tail, ring: &b.core}, nil
}

// Commit publishes a reserved slot holding a message of n bytes
// (0 <= n <= SlotSize; usually len(res.Buf)).
func (b *Broadcast) Commit(res Reservation, n int) error {
	if b.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return b.shutErr()
	}
	p := &b.p
	if res.ring != &b.core || !p.resv || res.pos != p.tail {
		return ErrNotReserved
	}
	if err := checkMsgLen(n, b.g.slotSize); err != nil {
		return err
	}
	// A reservation may be held for long: taken over, or closed, since?
	// Closed, the message is refused before its Seq says anything (the
	// slot stays marked, so subscribers see io.EOF, not a message after
	// it).
	if w := atomic.LoadUint64(&b.prod.Pos); w&spscEpochMask != p.epoch || w&closedBit != 0 { // acquire
		p.resv = false
		if w&spscEpochMask != p.epoch {
			return ErrFenced
		}
		return ErrClosed
	}
	storeOwned32(&b.bcastSlot(p.tail).Len, uint32(n))
	b.endWrite(p.tail, uint64(n))
	p.resv = false
	return b.publish(p.tail+1, 1, uint64(n))
}

// Close releases the handle. If it is the ring's producer (it ran a
// producer operation and no other handle took over since), Close first
// ends the stream: subscribers drain what they can still read and then
// get io.EOF. Idempotent; call it after the handle's last operation.
func (b *Broadcast) Close() error {
	if b.detached.Load() {
		return nil
	}
	if b.shut.CompareAndSwap(0, shutHandle) {
		b.quiesce() // a Push blocked in another goroutine writes the tail we read next
		if b.p.tail != unsynced {
			b.closeAt(b.p.tail | b.p.epoch)
		}
	}
	return b.Detach()
}

// Len is the number of messages the slowest live tethered subscriber has
// yet to read (what holds the producer back), 0 without one.
func (b *Broadcast) Len() int {
	if b.shut.Load() != 0 {
		return 0
	}
	return int(b.backlog())
}

// backlog is the tail minus the lowest live tethered cursor that is
// not ahead of it, capped at Slots (a reader any further back was lapped
// while it joined).
func (c *core) backlog() uint64 {
	t := atomic.LoadUint64(&c.prod.Pos) & c.g.posMask // acquire
	var most uint64
	for i := c.g.subBase; i < c.g.peers; i++ {
		e := c.peerAt(int(i))
		pid := atomic.LoadUint32(&e.PID)
		if pid == 0 || Role(atomic.LoadUint32(&e.Roles))&RoleTethered == 0 {
			continue
		}
		if alive, _ := c.peerAlive(int(i), pid); !alive {
			continue // a dead subscriber holds nothing back (one liveness test per tethered entry)
		}
		if cur := atomic.LoadUint64(subCursor(e)); cur <= t {
			most = max(most, t-cur)
		}
	}
	return min(most, c.g.slots)
}

// watch implements kindOps: a producer held back by tethered
// subscribers waits for whichever of their cursors moves: no single word.
func (b *Broadcast) watch(bool) (*uint64, *uint32) { return nil, nil }

// ready implements kindOps for the producer: closed, or room by the
// cursors as they are now (no liveness probe: blocked does that).
func (b *Broadcast) ready(push bool) bool {
	if !push {
		return true
	}
	t := atomic.LoadUint64(&b.prod.Pos) // acquire
	if t&closedBit != 0 || b.p.tail == unsynced || t&spscEpochMask != b.p.epoch || t&spscPosMask != b.p.tail {
		return true // closed, or taken over: the try reports it
	}
	lo, _ := b.tetherMin(false)
	return b.p.tail < lo+b.g.slots
}

// blocked implements kindOps: a waiting producer tests the subscribers
// that hold it back, and a dead one's tether is released (repaired).
// Still held, it reports stuck, so that its futex sleeps last at most
// stallSleep: a tethered subscriber that dies while the producer sleeps
// never wakes it, and the next look must come within milliseconds (one
// wake-up and one liveness test per holder every 2 ms while held).
func (b *Broadcast) blocked(push bool) (repaired, stuck bool) {
	if !push || b.p.tail == unsynced {
		return false, false
	}
	repaired = b.refreshLimit(true)
	return repaired, b.p.tail >= b.p.limit
}

func (b *Broadcast) repairClaims(int) (int, int)    { return 0, 0 }
func (b *Broadcast) pop([]byte) (int, error)        { return 0, errNotSubscriber }
func (b *Broadcast) popBatch([][]byte) (int, error) { return 0, errNotSubscriber }
func (b *Broadcast) peek() (Message, error)         { return Message{}, errNotSubscriber }

// subCursor is a subscriber entry's cursor: the word at 64, which other
// kinds' entries use for ConsClaim.
func subCursor(e *peerEntry) *uint64 { return &e.ConsClaim }
