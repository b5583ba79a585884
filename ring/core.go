package ring

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// core is what every ring kind's handle shares: the private geometry,
// pointers into the mapped ring computed from it, the handle's peer entry,
// the eventcounts, the wait strategy and the counters. The kind embeds it
// and binds itself (kindOps) for the shared slow path in shell.go.
type core struct {
	// shut is why this handle no longer touches the ring (closed.go): 0
	// while it may, else shutHandle, shutArena or shutTruncated. Private
	// to the process, written once; first in the handle, on the line of
	// mem and the first geometry words, which every operation loads next,
	// so the check adds a load and a branch and no cache line.
	shut atomic.Uint32
	// rolesDone is the roles this handle has recorded in its peer entry
	// (markRole), read by every claim: private, and written once per role.
	rolesDone atomic.Uint32
	mem       []byte // exactly the ring's bytes: len == g.size
	g         geometry
	hdr       *ringHeader
	prod      *prodUnit
	cons      *consUnit
	peer      *peerEntry
	peerIdx   int
	peerGen   uint32     // the entry's Generation after our claim
	ownerTag  uint32     // makeTag(peerIdx, peerGen), or tagOverflow: written into claimed MPMC slots
	notEmpty  eventcount // consumers sleep here
	notFull   eventcount // producers sleep here
	strategy  atomic.Int32
	region    *arena.Region
	arena     *arena.Arena    // nil for a ring over caller memory
	live      *arena.LiveLock // this handle's liveness lock on its peer entry, if the ring uses them
	pin       *arena.Pin      // this handle's pin on the arena's mapping (closed.go), nil over caller memory
	detached  atomic.Bool
	// subscriber: the handle is a broadcast subscriber (subscriber.go),
	// which claims an entry in the ring's subscriber part.
	subscriber bool
	// claimTimeout is WithClaimTimeout's (MPMC repair; 0 = dead holders only).
	claimTimeout time.Duration
	// waiting counts this handle's blocking calls inside the shared slow
	// path (shell.go, wait.go), which a closer waits to see leave.
	waiting atomic.Int32

	// lastRecover is when an idle wake last ran Recover (peers.go).
	lastRecover atomic.Int64
	// surplusSeen and surplusAt are sweepSurplus's last look (peers.go).
	surplusSeen [2]atomic.Uint32
	surplusAt   atomic.Int64

	// kind and ops are the concrete handle's kind and the handle itself,
	// called only by the slow path.
	kind ringKind
	ops  kindOps
	// pendIn and pendOut are the producer's and consumer's counting
	// state for kinds whose sides are single-threaded (SPSC, broadcast),
	// which count into their entry with plain adds (peerEntry.addIn,
	// addOut: pending);
	// nil for kinds whose handle is shared by goroutines (MPMC), which
	// use locked adds (countIn, countOut).
	pendIn, pendOut *pending
	// cnt is where the single-threaded sides count: the handle's own
	// entry, or spill while the handle's entry is shared (pending),
	// a pointer (the handle's hot state keeps its size).
	cnt, spill *peerEntry
}

// bind ties the core to the kind that embeds it.
func (c *core) bind(k ringKind, ops kindOps, pendIn, pendOut *pending) {
	c.kind, c.ops, c.pendIn, c.pendOut = k, ops, pendIn, pendOut
	c.cnt = c.spillEntry() // until setPeer: counts nowhere shared
	for _, p := range [...]*pending{pendIn, pendOut} {
		if p != nil {
			p.left = 1 // the first operation takes the slow path, which sets the pace
		}
	}
}

// maxRetries bounds every CAS retry loop on a shared word: legitimate
// contention makes progress long before it; only a peer rewriting the word
// forever reaches it, and then the operation fails with ErrCorrupt rather
// than spinning.
const maxRetries = 1 << 20

// layout derives every pointer from the private geometry. All offsets were
// computed by computeGeometry and are < g.size <= len(mem).
func (c *core) layout(mem []byte, g geometry) {
	c.mem = mem[:g.size:g.size]
	c.g = g
	c.hdr = (*ringHeader)(unsafe.Pointer(&c.mem[0]))
	c.prod = (*prodUnit)(unsafe.Pointer(&c.mem[g.prodOff])) // pad-aligned, 16 bytes fit in a unit
	c.cons = (*consUnit)(unsafe.Pointer(&c.mem[g.consOff])) // likewise
	c.notEmpty = eventcount{seq: &c.prod.NotEmptySeq, waiters: &c.prod.NotEmptyWaiters, owner: c}
	c.notFull = eventcount{seq: &c.cons.NotFullSeq, waiters: &c.cons.NotFullWaiters, owner: c}
	c.setPeer(c.peerAt(0), 0)
	c.ownerTag = tagOverflow
}

// setPeer makes entry e (index i; 0: the shared overflow entry, or a
// private one after release) the handle's, and points the single-threaded
// sides' counting at it, or at the spill entry if it is shared (pending).
// Their next operation takes the slow path, which sets their pace.
func (c *core) setPeer(e *peerEntry, i int) {
	c.peer, c.peerIdx = e, i
	c.cnt = e
	if i == 0 {
		c.cnt = c.spillEntry()
	}
	for _, p := range [...]*pending{c.pendIn, c.pendOut} {
		if p != nil {
			p.left = 1 // the next operation sets the pace (beatAfter)
		}
	}
}

func (c *core) peerAt(i int) *peerEntry {
	off := c.g.peersOff + uint64(i)*c.g.peerStride // i < peers: inside the table
	return (*peerEntry)(unsafe.Pointer(&c.mem[off]))
}

// SetWaitStrategy sets how this handle's blocking operations wait. Safe to
// call at any time; operations already waiting keep their strategy.
func (c *core) SetWaitStrategy(w WaitStrategy) { c.strategy.Store(int32(w)) }

// WaitStrategy returns the handle's wait strategy.
func (c *core) WaitStrategy() WaitStrategy { return WaitStrategy(c.strategy.Load()) }

// Slots is the ring's capacity in messages.
func (c *core) Slots() int { return int(c.g.slots) }

// SlotSize is the largest message the ring accepts.
func (c *core) SlotSize() int { return int(c.g.slotSize) }

// Region is the arena region the ring lives in (nil for a ring built over
// caller memory).
func (c *core) Region() *arena.Region { return c.region }

// Len is the number of messages committed (SPSC) or claimed by producers
// (MPMC) and not yet consumed (claimed by consumers). A snapshot: the two
// positions are read one after the other. 0 once the handle is closed.
func (c *core) Len() int {
	if c.shut.Load() != 0 {
		return 0
	}
	t := atomic.LoadUint64(&c.prod.Pos) & c.g.posMask // acquire
	h := atomic.LoadUint64(&c.cons.Pos) & c.g.posMask // acquire
	if t-h > c.g.slots {                              // a consumer ahead of the published tail, or garbage
		return 0
	}
	return int(t - h)
}

// CloseWrite ends the stream for every process: later pushes fail with
// ErrClosed, consumers drain every message committed (or, for MPMC,
// claimed) before it and then get io.EOF, and every blocked waiter on both
// sides wakes up. It does not release the handle (Close does). Any handle
// may call it, at any time; it is idempotent. Like net.TCPConn's
// CloseWrite, it is the half-close that a producer's Close implies. On a
// closed handle it does nothing and returns an error matching ErrClosed.
func (c *core) CloseWrite() error {
	if c.shut.Load() != 0 {
		return c.shutErr()
	}
	for try := 0; ; try++ {
		if try == maxRetries {
			return corruptf("producer position keeps changing; cannot close")
		}
		// Acquire/CAS: the bit is added to the latest position, so no
		// publish is lost; a producer whose CAS then fails sees the bit.
		p := atomic.LoadUint64(&c.prod.Pos)
		if p&closedBit != 0 {
			break
		}
		if atomic.CompareAndSwapUint64(&c.prod.Pos, p, p|closedBit) {
			break
		}
	}
	c.closed()
	return nil
}

// closeAt ends the stream if the producer word is still exactly word (not
// closed, nobody published or took over since), and reports whether it
// did. Close calls it after shutting the handle itself (shutHandle: the
// memory is still the ring's); shut by the arena, it does nothing.
func (c *core) closeAt(word uint64) bool {
	if s := c.shut.Load(); s != 0 && s != shutHandle {
		return false
	}
	// CAS: sequentially consistent, as in CloseWrite.
	if !atomic.CompareAndSwapUint64(&c.prod.Pos, word, word|closedBit) {
		return false
	}
	c.closed()
	return true
}

// closed follows the closed bit: the mirror, then every sleeper wakes.
func (c *core) closed() {
	// After the bit: a consumer that sees Closed == 1 then loads the
	// producer word and finds the bit.
	atomic.StoreUint32(&c.hdr.Closed, 1)
	c.notEmpty.wakeAll(c.peer)
	c.notFull.wakeAll(c.peer)
}

// IsClosed reports whether the stream has been ended (CloseWrite). A
// closed handle reads nothing from the ring and says false.
func (c *core) IsClosed() bool {
	if c.shut.Load() != 0 {
		return false // a closed handle reads nothing: ask another one
	}
	return atomic.LoadUint64(&c.prod.Pos)&closedBit != 0 // acquire
}

// closedHint reads the read-mostly Closed mirror. Only a true answer is
// confirmed against the producer word.
func (c *core) closedHint() bool { return atomic.LoadUint32(&c.hdr.Closed) != 0 }

// quietEmpty is the empty poll every kind shares. A consumer that found
// nothing at its position asks it whether it may answer ErrEmpty without
// loading the producer word: polling an empty ring must not pull the
// producers' hot line away from them, so the read-mostly Closed mirror is
// read instead. polls counts this handle's empty polls; every tailEvery-th
// loads the producer word anyway, so neither a closer that died between
// the bit and the mirror nor a message published without its slot word
// can be missed for long.
func (c *core) quietEmpty(polls uint32) bool {
	return polls%tailEvery != 0 && !c.closedHint()
}

// tailEvery is how often (in empty polls) a consumer loads the producer
// word even though its slot and the Closed mirror say nothing is there.
const tailEvery = 64

// repairClosedMirror sets the mirror that a closer who died between the
// closed bit and the mirror left unset. The caller saw the bit.
func (c *core) repairClosedMirror() {
	if !c.closedHint() {
		atomic.StoreUint32(&c.hdr.Closed, 1)
	}
}

// Stats reads the ring's shared counters; zero once the handle is
// closed.
func (c *core) Stats() Stats {
	var s Stats
	if c.shut.Load() != 0 {
		return s
	}
	p := atomic.LoadUint64(&c.prod.Pos)
	s.Closed = p&closedBit != 0
	s.MsgsIn = p & c.g.posMask
	s.MsgsOut = atomic.LoadUint64(&c.cons.Pos) & c.g.posMask
	if s.MsgsIn >= s.MsgsOut {
		s.Len = s.MsgsIn - s.MsgsOut
	}
	if c.kind == kindBroadcast {
		// No consumer position: subscribers' reads are summed below, and
		// Len is what the slowest tethered subscriber has yet to read.
		s.MsgsOut, s.Len = 0, c.backlog()
	}
	if c.kind == kindRecords {
		// Positions count bytes: the records are the entries' counts.
		s.MsgsIn, s.MsgsOut, s.Len = 0, 0, 0
	}
	s.Peers, s.DeadPeers = c.livePeers()
	s.Skipped = atomic.LoadUint64(&c.hdr.Skipped)
	s.Redelivered = atomic.LoadUint64(&c.hdr.Redelivered)
	s.NotEmptyWaiters = atomic.LoadUint32(&c.prod.NotEmptyWaiters)
	s.NotFullWaiters = atomic.LoadUint32(&c.cons.NotFullWaiters)
	for i := 0; i < int(c.g.peers); i++ {
		e := c.peerAt(i)
		if uint64(i) >= c.g.subBase {
			// A subscriber entry: its producer-side words are its lapped
			// and missed counts (subscriber.go).
			s.MsgsOut += atomic.LoadUint64(&e.MsgsOut)
		} else {
			if c.kind == kindRecords {
				s.MsgsIn += atomic.LoadUint64(&e.MsgsIn)
				s.MsgsOut += atomic.LoadUint64(&e.MsgsOut)
			}
			s.BytesIn += atomic.LoadUint64(&e.BytesIn)
			s.FullEvents += atomic.LoadUint64(&e.FullEvents)
		}
		s.BytesOut += atomic.LoadUint64(&e.BytesOut)
		s.EmptyEvents += atomic.LoadUint64(&e.EmptyEvents)
		s.Sleeps += atomic.LoadUint64(&e.Sleeps)
		s.Wakes += atomic.LoadUint64(&e.Wakes)
	}
	if c.kind == kindRecords && s.MsgsIn >= s.MsgsOut {
		s.Len = s.MsgsIn - s.MsgsOut
	}
	return s
}

// pending is a single-threaded side's (an SPSC producer or consumer, a
// broadcast producer, a subscriber) counting state.
//
// Its counters are not batched: every operation adds to its peer entry's
// words before it returns (peerEntry.addIn, addOut: counter_plain.go), so a monitor
// sees every message and byte at once. The side is the only writer of
// those words of its entry (the producer side's and the consumer side's
// words are separate, and each side runs on one goroutine at a time), so
// the add needs no locked instruction, only a store that is not torn: a
// plain add to memory, which the compiler inlines into the hot path. A
// handle whose entry is shared (the overflow entry 0, which several
// handles write; or the private entry after release) adds to its private
// spill entry instead, and its every operation takes the slow path, which
// moves the spill into the shared entry with locked adds: exact there too.
type pending struct {
	// left counts down the operations until the slow path runs next:
	// beatEvery of them on an entry of its own, 1 on a shared one (0:
	// not set yet, which the first operation's decrement wraps: setPeer
	// sets it). ops counts the operations since the last heartbeat.
	left, ops uint32
}

// beatEvery is how many operations a single-threaded side makes between
// two records of its activity (Peer.LastActive): a clock read (~66 ns on
// the VMs measured) every 64 operations rather than on each.
const beatEvery = 64

// tick counts an operation and reports whether the slow path is due
// (slowIn, slowOut). A hot path counts with
//
//	c.cnt.addIn(n, nbytes) // (addOut)
//	if p.tick() {
//		c.slowIn() // (slowOut)
//	}
//
// which inlines whole (as one function holding both it would not).
func (p *pending) tick() bool {
	p.left--
	return p.left == 0
}

// slowIn and slowOut are the rare path of the counting: move a shared
// entry's spill into it, and record the side's activity every beatEvery
// operations.
func (c *core) slowIn() {
	p := c.pendIn
	if c.cnt == c.spill {
		s := c.spill
		spillInto(&c.peer.MsgsIn, &s.MsgsIn)
		spillInto(&c.peer.BytesIn, &s.BytesIn)
	}
	c.beatAfter(p)
}

func (c *core) slowOut() {
	p := c.pendOut
	if c.cnt == c.spill {
		s := c.spill
		spillInto(&c.peer.MsgsOut, &s.MsgsOut)
		spillInto(&c.peer.BytesOut, &s.BytesOut)
		spillInto(&c.peer.EmptyEvents, &s.EmptyEvents)
	}
	c.beatAfter(p)
}

// beatAfter sets the countdown, and records the side's activity once
// beatEvery operations have passed since it last did.
func (c *core) beatAfter(p *pending) {
	if c.cnt == c.spill {
		p.ops++
		p.left = 1
	} else {
		p.ops += beatEvery
		p.left = beatEvery
	}
	if p.ops >= beatEvery {
		p.ops = 0
		c.beat()
	}
}

// spillEntry returns the handle's spill entry, allocated on first use.
func (c *core) spillEntry() *peerEntry {
	if c.spill == nil {
		c.spill = new(peerEntry)
	}
	return c.spill
}

// spillInto adds a private spill word to the shared entry's and clears it.
func spillInto(shared, spill *uint64) {
	if v := atomic.LoadUint64(spill); v != 0 {
		atomic.AddUint64(shared, v)
		atomic.StoreUint64(spill, 0)
	}
}

// countIn and countOut record messages produced and consumed by a kind
// without pending counters (MPMC).
// (No clock read here: time.Now costs ~66 ns on the VMs measured, so an
// MPMC handle records its last activity only when it sleeps; see
// Peer.LastActive.)
func (c *core) countIn(n, nbytes uint64) {
	atomic.AddUint64(&c.peer.MsgsIn, n)
	atomic.AddUint64(&c.peer.BytesIn, nbytes)
}

func (c *core) countOut(n, nbytes uint64) {
	atomic.AddUint64(&c.peer.MsgsOut, n)
	atomic.AddUint64(&c.peer.BytesOut, nbytes)
}

// countFull and countEmpty record one full or empty event: once per Try
// call that found the ring full or empty (for a push batch, once per
// message left out), and once per blocking call (for PushBatch, once per
// message still to push) that had to wait, however long.
func (c *core) countFull() { c.countFullN(1) }

// countFullN counts n full events: published at once, even for kinds with
// pending counters, so that a producer dropping messages into a full ring
// shows it while it happens (the ring is full: this is no hot path).
func (c *core) countFullN(n uint64) { atomic.AddUint64(&c.peer.FullEvents, n) }

// countedBatch finishes a TryPushBatch: every message it left out because
// the ring was full counts one full event (not one per call: a producer
// that drops what does not fit sees each dropped message counted).
func (c *core) countedBatch(msgs [][]byte, n int, err error) (int, error) {
	if n < len(msgs) && (err == ErrFull || err == nil && uint64(len(msgs[n])) <= c.g.slotSize) {
		c.countFullN(uint64(len(msgs) - n))
	}
	return n, err
}

func (c *core) countEmpty() {
	if p := c.pendOut; p != nil { // a single-threaded consumer side
		c.cnt.addEmpty()
		if c.cnt == c.spill { // a shared entry: exact there at once, as the reads
			spillInto(&c.peer.EmptyEvents, &c.spill.EmptyEvents)
		}
		return
	}
	atomic.AddUint64(&c.peer.EmptyEvents, 1)
}

// flushIn and flushOut, before the side sleeps and when the handle is
// released: a shared entry's spill moves into it, and the activity is
// recorded if the side made operations since it last was.
func (c *core) flushIn() {
	if p := c.pendIn; p != nil {
		c.flushSide(p, c.slowIn)
	}
}

func (c *core) flushOut() {
	if p := c.pendOut; p != nil {
		c.flushSide(p, c.slowOut)
	}
}

func (c *core) flushSide(p *pending, slow func()) {
	if c.cnt == c.spill {
		// The spill moved at each operation already (left is 1).
		if p.ops != 0 {
			p.ops = beatEvery - 1 // the slow path's count makes it a heartbeat
			slow()
		}
		return
	}
	if p.left != beatEvery && p.left != 0 { // operations since the last heartbeat
		p.ops = 0 // the slow path adds beatEvery: a heartbeat
		slow()
	}
}

// checkMsgLen checks a caller's message length against the slot size.
func checkMsgLen(n int, slotSize uint64) error {
	if n < 0 {
		return ErrInvalid
	}
	if uint64(n) > slotSize {
		return ErrTooLarge
	}
	return nil
}

// orFull is err, or ErrFull when there is none: a refresh that found no
// room.
func orFull(err error) error {
	if err != nil {
		return err
	}
	return ErrFull
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
