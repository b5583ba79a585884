package bench

import (
	"fmt"
	"math/bits"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// streamFloorTransport is the stream floor: the simplest single-producer
// single-consumer ring, with plain atomics, that streams fixed-size copies
// between two processes about as fast as the hardware allows (one cache
// line per 64-byte message, and index traffic amortised over many). SPSC
// streaming is compared to it (vs stream floor), measured in turn with it
// (alternate.go). It is a transport like the others so that both run
// under the same harness loop: the same send calls, the same in-place
// consumption (discard) and the same acknowledgement.
//
// One ring each way (the peer's way carries only its hello and its
// acknowledgement), each in a region of its own:
//
//	offset 0    tail  uint64  written by the producer   (128-byte unit)
//	offset 128  head  uint64  written by the consumer   (128-byte unit)
//	offset 256  slots × size bytes, slot i at 256 + (i mod slots) × size
//
// Invariants: 0 <= tail-head <= slots (both count messages from 0 and
// never wrap in a run); slot i belongs to the producer when i < head+slots
// and to the consumer when head <= i < tail.
//
// Batching, as the issue specifies the floor: each side caches the other's
// index and re-reads it only when the cache says the ring is full (the
// producer) or empty (the consumer); the producer publishes its tail
// every streamPublishEvery messages, when the ring is full and with every
// control message (hello, stop, ack: the harness waits for those); the
// consumer drains all it has seen and publishes its head once per drain,
// when it runs dry. Waits spin on plain loads, as the cache-line floor's.
type streamFloorTransport struct{}

func (streamFloorTransport) name() string { return "streamfloor" }

// streamPublishEvery is how many messages the producer writes between two
// publishes of its tail.
const streamPublishEvery = 32

// Regions, from the parent's side: it produces on streamA2B.
const (
	streamA2B = "sf-a2b"
	streamB2A = "sf-b2a"
)

// streamIndices opens a stream floor region: the two indices on their own
// 128-byte units (two 64-byte lines, against the adjacent-line prefetcher).
type streamIndices struct {
	tail uint64
	_    [120]byte
	head uint64
	_    [120]byte
}

const streamSlotsAt = int(unsafe.Sizeof(streamIndices{}))

// streamRegionSize is a region of slots messages of size bytes.
func streamRegionSize(slots, size int) int64 { return int64(streamSlotsAt) + int64(slots)*int64(size) }

// streamRing is one side's private view of one direction: geometry from
// the spec (never from shared memory), and the side's own indices.
type streamRing struct {
	idx   *streamIndices
	slots []byte // slots × size bytes
	n     uint64 // slot count, a power of two
	size  int
	// The producer's: next to write, last published, cached consumer head.
	// The consumer's: next to read, cached producer tail.
	pos, published, peer uint64
}

func newStreamRing(reg *arena.Region, slots, size int) (*streamRing, error) {
	b := reg.Bytes()
	if slots <= 0 || bits.OnesCount(uint(slots)) != 1 || size <= 0 || int64(len(b)) < streamRegionSize(slots, size) {
		return nil, fmt.Errorf("stream floor: region %s of %d bytes for %d slots of %d bytes", reg.Name(), len(b), slots, size)
	}
	// unsafe: the region is 128-byte aligned (Alloc's align) and at least
	// streamRegionSize long, checked above; its memory is the arena's
	// mapping, which outlives the conn.
	idx := (*streamIndices)(unsafe.Pointer(&b[0]))
	return &streamRing{idx: idx, slots: b[streamSlotsAt:streamRegionSize(slots, size)], n: uint64(slots), size: size}, nil
}

// slot is the bytes of message i.
func (r *streamRing) slot(i uint64) []byte {
	off := int(i&(r.n-1)) * r.size
	return r.slots[off : off+r.size]
}

func (t streamFloorTransport) open(e *engine, spec *peerSpec) (*endpoint, error) {
	slots := ringSlots(spec.Mode, spec.Size)
	one := streamRegionSize(slots, spec.Size)
	a, path, remove, err := e.newArena(2*one + 1<<20)
	if err != nil {
		return nil, err
	}
	var regs [2]*arena.Region
	for i, name := range []string{streamA2B, streamB2A} {
		if err == nil {
			regs[i], err = a.Alloc(name, one, 128)
		}
	}
	var c *streamFloorConn
	if err == nil {
		c, err = newStreamFloorConn(a, regs[0], regs[1], slots, spec.Size, spec.deadline())
	}
	if err != nil {
		a.Close()
		remove()
		return nil, err
	}
	spec.Arena, spec.Tx, spec.Rx = path, streamB2A, streamA2B
	return &endpoint{conn: c, cleanup: remove}, nil
}

func (streamFloorTransport) attach(spec peerSpec, _ []*os.File) (conn, error) {
	a, err := arena.Open(spec.Arena)
	if err != nil {
		return nil, err
	}
	tx, err := a.Lookup(spec.Tx)
	var rx *arena.Region
	if err == nil {
		rx, err = a.Lookup(spec.Rx)
	}
	var c *streamFloorConn
	if err == nil {
		c, err = newStreamFloorConn(a, tx, rx, ringSlots(spec.Mode, spec.Size), spec.Size, spec.deadline())
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return c, nil
}

// streamFloorConn produces on one stream floor ring and consumes from the
// other; it owns its arena mapping.
type streamFloorConn struct {
	liveness
	a      *arena.Arena
	tx, rx *streamRing
}

func newStreamFloorConn(a *arena.Arena, tx, rx *arena.Region, slots, size int, deadline time.Time) (*streamFloorConn, error) {
	t, err := newStreamRing(tx, slots, size)
	if err != nil {
		return nil, err
	}
	r, err := newStreamRing(rx, slots, size)
	if err != nil {
		return nil, err
	}
	return &streamFloorConn{liveness: liveness{deadline: deadline}, a: a, tx: t, rx: r}, nil
}

// spinCheck is how many polls a wait makes between two liveness checks.
const spinCheck = 4096

func (c *streamFloorConn) send(msg []byte) error {
	p := c.tx
	if len(msg) != p.size {
		return errShort
	}
	if p.pos-p.peer == p.n {
		if err := c.waitRoom(); err != nil {
			return err
		}
	}
	copy(p.slot(p.pos), msg)
	p.pos++
	if p.pos-p.published >= streamPublishEvery || msg[0] != opData {
		// Sequentially consistent store (release is what is needed):
		// publishes the slots written since the last publish to the
		// consumer's load of tail.
		atomic.StoreUint64(&p.idx.tail, p.pos)
		p.published = p.pos
	}
	return nil
}

// waitRoom publishes what the producer has written (the consumer must see
// a full ring to empty it) and waits for the consumer's head to free a
// slot. The head is loaded once per poll and bounded by the producer's
// own tail.
func (c *streamFloorConn) waitRoom() error {
	p := c.tx
	if p.published != p.pos {
		atomic.StoreUint64(&p.idx.tail, p.pos) // publishes the slots, as in send
		p.published = p.pos
	}
	var failed error
	for spins := 1; ; spins++ {
		h := atomic.LoadUint64(&p.idx.head) // acquire: the consumer has read every slot before h
		if p.pos-h > p.n {
			return fmt.Errorf("%w: head %d, tail %d, %d slots", errFloorIndex, h, p.pos, p.n)
		}
		if p.pos-h < p.n {
			p.peer = h
			return nil
		}
		if failed != nil {
			return failed
		}
		if spins%spinCheck == 0 {
			failed = c.check()
		}
	}
}

// next returns the next message in place; it stays the caller's until
// the next call (head is published only then).
func (c *streamFloorConn) next() ([]byte, error) {
	q := c.rx
	if q.pos == q.peer {
		if err := c.waitData(); err != nil {
			return nil, err
		}
	}
	m := q.slot(q.pos)
	q.pos++
	return m, nil
}

// waitData ends a drain: it publishes the consumer's head once, then waits
// for the producer's tail to move past it. The tail is loaded once per
// poll and bounded by the consumer's own head.
func (c *streamFloorConn) waitData() error {
	q := c.rx
	// Sequentially consistent store (release is what is needed): the
	// caller has finished with every slot before pos, which the producer
	// may now overwrite.
	atomic.StoreUint64(&q.idx.head, q.pos)
	var failed error
	for spins := 1; ; spins++ {
		t := atomic.LoadUint64(&q.idx.tail) // acquire: the producer wrote every slot before t
		if t-q.pos > q.n {
			return fmt.Errorf("%w: tail %d, head %d, %d slots", errFloorIndex, t, q.pos, q.n)
		}
		if t != q.pos {
			q.peer = t
			return nil
		}
		if failed != nil {
			return failed
		}
		if spins%spinCheck == 0 {
			failed = c.check()
		}
	}
}

func (c *streamFloorConn) recv(buf []byte) error {
	if len(buf) != c.rx.size {
		return errShort
	}
	m, err := c.next()
	if err != nil {
		return err
	}
	copy(buf, m)
	return nil
}

// discard consumes a message in place, as ringConn's does with Peek and
// Release: it reads the opcode (and an ack's count) from the slot.
func (c *streamFloorConn) discard(size int) (byte, uint64, error) {
	if size != c.rx.size {
		return 0, 0, errShort
	}
	m, err := c.next()
	if err != nil {
		return 0, 0, err
	}
	op, payload := m[0], uint64(0)
	if op == opAck {
		payload = getCount(m)
	}
	return op, payload, nil
}

func (c *streamFloorConn) close() error { return c.a.Close() }
