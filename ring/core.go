package ring

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// core is what SPSC and MPMC handles share: the private geometry, pointers
// into the mapped ring computed from it, the handle's peer entry, and the
// wait strategy.
type core struct {
	mem      []byte // exactly the ring's bytes: len == g.size
	g        geometry
	hdr      *ringHeader
	prod     *prodUnit
	cons     *consUnit
	peer     *peerEntry
	peerIdx  int
	peerGen  uint32     // the entry's Generation after our claim
	ownerTag uint32     // peerIdx | peerGen<<10, written into claimed MPMC slots
	notEmpty eventcount // consumers sleep here
	notFull  eventcount // producers sleep here
	strategy atomic.Int32
	region   *arena.Region
	detached atomic.Bool
}

// maxRetries bounds every CAS retry loop on a shared word: legitimate
// contention makes progress long before it; only a peer rewriting the word
// forever reaches it, and then the operation fails with ErrCorrupt rather
// than spinning.
const maxRetries = 1 << 20

// OpenTimeout bounds how long Open waits for a ring's creator to mark it
// ready.
var OpenTimeout = time.Second

// attach builds a handle's core over mem, which holds (or is about to
// hold, if a creator races us) a ring of the given kind.
func (c *core) attach(mem []byte, kind uint32, arenaPad uint64) error {
	if err := c.attachNoPeer(mem, kind, arenaPad); err != nil {
		return err
	}
	c.claimPeer()
	return nil
}

// attachNoPeer is attach without claiming a peer entry.
func (c *core) attachNoPeer(mem []byte, kind uint32, arenaPad uint64) error {
	if len(mem) < ringHeaderSize {
		return fmt.Errorf("%w: region of %d bytes is smaller than a ring header", ErrKind, len(mem))
	}
	if uintptrOf(mem)%8 != 0 {
		return fmt.Errorf("%w: ring memory not 8-byte aligned", ErrInvalid)
	}
	h := (*ringHeader)(unsafe.Pointer(&mem[0])) // len >= ringHeaderSize, 8-aligned
	deadline := time.Now().Add(OpenTimeout)
	sleep := 20 * time.Microsecond
	for {
		// Acquire: pairs with the release store in initRing; the header
		// bytes read by readHeader were written before it.
		st := atomic.LoadUint32(&h.State)
		if st == stateReady {
			break
		}
		if st != 0 {
			return corruptf("ring state word %#x", st)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: ring not marked ready within %v", ErrNotReady, OpenTimeout)
		}
		time.Sleep(sleep)
		sleep = min(2*sleep, 5*time.Millisecond)
	}
	g, err := readHeader(mem, kind, arenaPad)
	if err != nil {
		return err
	}
	c.layout(mem, g)
	return nil
}

// setup derives every pointer and claims a peer entry.
func (c *core) setup(mem []byte, g geometry) {
	c.layout(mem, g)
	c.claimPeer()
}

// layout derives every pointer from the private geometry. All offsets were
// computed by computeGeometry and are < g.size <= len(mem).
func (c *core) layout(mem []byte, g geometry) {
	c.mem = mem[:g.size:g.size]
	c.g = g
	c.hdr = (*ringHeader)(unsafe.Pointer(&c.mem[0]))
	c.prod = (*prodUnit)(unsafe.Pointer(&c.mem[g.prodOff])) // pad-aligned, 16 bytes fit in a unit
	c.cons = (*consUnit)(unsafe.Pointer(&c.mem[g.consOff])) // likewise
	c.notEmpty = eventcount{seq: &c.prod.NotEmptySeq, waiters: &c.prod.NotEmptyWaiters}
	c.notFull = eventcount{seq: &c.cons.NotFullSeq, waiters: &c.cons.NotFullWaiters}
	c.peer, c.peerIdx = c.peerAt(0), 0
}

func (c *core) peerAt(i int) *peerEntry {
	off := c.g.peersOff + uint64(i)*c.g.peerStride // i < peers: inside the table
	return (*peerEntry)(unsafe.Pointer(&c.mem[off]))
}

// claimPeer takes a free peer entry (or one whose process is gone), or
// falls back to the shared overflow entry 0.
func (c *core) claimPeer() {
	pid := uint32(os.Getpid())
	now := time.Now().UnixNano()
	for pass := 0; pass < 2; pass++ {
		for i := 1; i < int(c.g.peers); i++ {
			e := c.peerAt(i)
			// CAS: the entry becomes ours only if it was free (pass 0) or
			// held by a process that no longer exists (pass 1).
			old := atomic.LoadUint32(&e.PID)
			if pass == 0 && old != 0 || pass == 1 && (old == 0 || processAlive(old)) {
				continue
			}
			if atomic.CompareAndSwapUint32(&e.PID, old, pid) {
				c.peerGen = atomic.AddUint32(&e.Generation, 1)
				c.ownerTag = uint32(i) | c.peerGen<<10
				atomic.StoreUint32(&e.Roles, 0)
				atomic.StoreUint64(&e.StartTicks, processStartTicks())
				atomic.StoreInt64(&e.AttachUnixNano, now)
				atomic.StoreInt64(&e.HeartbeatUnixNano, now)
				c.peer, c.peerIdx = e, i
				return
			}
		}
	}
	c.peer, c.peerIdx = c.peerAt(0), 0
}

// detach flushes nothing (callers flush first) and frees the peer entry.
func (c *core) detach() {
	if c.detached.Swap(true) {
		return
	}
	if c.peerIdx > 0 && atomic.LoadUint32(&c.peer.Generation) == c.peerGen {
		// Release: our last counter updates happen before the entry is
		// seen free. The generation check keeps us from freeing an entry
		// someone reclaimed meanwhile (a pid-namespace mix-up).
		atomic.CompareAndSwapUint32(&c.peer.PID, uint32(os.Getpid()), 0)
	}
	// Later counting through this handle goes to a private entry, not to
	// the shared one another handle may claim next.
	c.peer, c.peerIdx = new(peerEntry), 0
}

func (c *core) markRole(role uint32) {
	if atomic.LoadUint32(&c.peer.Roles)&role == 0 {
		atomic.OrUint32(&c.peer.Roles, role)
	}
}

const (
	roleProducer uint32 = 1
	roleConsumer uint32 = 2
)

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

// closeRing sets the closed bit on the producer position word and wakes
// every sleeper on both sides.
func (c *core) closeRing() error {
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
	// After the bit: a consumer that sees Closed == 1 then loads the
	// producer word and finds the bit.
	atomic.StoreUint32(&c.hdr.Closed, 1)
	c.notEmpty.wakeAll(c.peer)
	c.notFull.wakeAll(c.peer)
	return nil
}

// closedHint reads the read-mostly Closed mirror. Only a true answer is
// confirmed against the producer word.
func (c *core) closedHint() bool { return atomic.LoadUint32(&c.hdr.Closed) != 0 }

// IsClosed reports whether the ring has been closed.
func (c *core) IsClosed() bool {
	return atomic.LoadUint64(&c.prod.Pos)&closedBit != 0 // acquire
}

// Stats are a ring's counters, read from shared memory by any process.
type Stats struct {
	// MsgsIn and MsgsOut are exact: they are the producer and consumer
	// positions.
	MsgsIn, MsgsOut uint64
	// Len is the number of messages committed or claimed and not yet
	// consumed.
	Len uint64
	// The rest are summed over the peer table. Each handle publishes its
	// counts at least every 64 operations, before it sleeps, and when it
	// detaches, so they may lag by that much per live handle.
	BytesIn, BytesOut       uint64
	FullEvents, EmptyEvents uint64
	Sleeps, Wakes           uint64
	// Peers is the number of attached handles (occupied peer entries).
	Peers  int
	Closed bool
}

func (c *core) stats() Stats {
	var s Stats
	p := atomic.LoadUint64(&c.prod.Pos)
	s.Closed = p&closedBit != 0
	s.MsgsIn = p & posMask
	s.MsgsOut = atomic.LoadUint64(&c.cons.Pos)
	if s.MsgsIn >= s.MsgsOut {
		s.Len = s.MsgsIn - s.MsgsOut
	}
	for i := 0; i < int(c.g.peers); i++ {
		e := c.peerAt(i)
		if i > 0 && atomic.LoadUint32(&e.PID) != 0 {
			s.Peers++
		}
		s.BytesIn += atomic.LoadUint64(&e.BytesIn)
		s.BytesOut += atomic.LoadUint64(&e.BytesOut)
		s.FullEvents += atomic.LoadUint64(&e.FullEvents)
		s.EmptyEvents += atomic.LoadUint64(&e.EmptyEvents)
		s.Sleeps += atomic.LoadUint64(&e.Sleeps)
		s.Wakes += atomic.LoadUint64(&e.Wakes)
	}
	return s
}

// pending holds one side's counter deltas, published in bulk.
type pending struct {
	msgs, bytes, full, empty uint64
	ops                      uint32
}

// flushEvery is how many operations a side batches its counter updates
// over: one locked add per counter per 64 operations instead of one each.
const flushEvery = 64

func (c *core) flushIn(p *pending) {
	e := c.peer
	if p.msgs != 0 {
		atomic.AddUint64(&e.MsgsIn, p.msgs)
		atomic.AddUint64(&e.BytesIn, p.bytes)
	}
	if p.full != 0 {
		atomic.AddUint64(&e.FullEvents, p.full)
	}
	*p = pending{}
}

func (c *core) flushOut(p *pending) {
	e := c.peer
	if p.msgs != 0 {
		atomic.AddUint64(&e.MsgsOut, p.msgs)
		atomic.AddUint64(&e.BytesOut, p.bytes)
	}
	if p.empty != 0 {
		atomic.AddUint64(&e.EmptyEvents, p.empty)
	}
	*p = pending{}
}

// ctxErr is ctx.Err() for contexts that can end, nil otherwise, without
// the lock cancelCtx.Err takes when Done is already nil.
func ctxErr(ctx context.Context) error {
	if ctx.Done() == nil {
		return nil
	}
	return ctx.Err()
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
