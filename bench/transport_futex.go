package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/futex"
)

// futexTransport is the blocking floor: a bare futex ping-pong between two
// processes through two futex words in an arena region, with the repo's
// futex package and nothing else. A send stores the word it owns and
// wakes it; a receive sleeps on the peer's word until it changes, with no
// spinning first. Every round trip is therefore two wake-ups, the least a
// blocking hand-off can cost; shmring's blocking rows are compared with it
// (vs futex).
//
// Each word carries, on its own cache line, the first 8 bytes of the
// message (the opcode and an acknowledged count, all the harness's
// protocol reads); the rest of a message is not sent. A conn carries one
// message at a time each way, which is all a ping-pong needs: a second
// send before the peer has received the first overwrites it.
type futexTransport struct{}

func (futexTransport) name() string { return "futex" }

// futexRegion names the region holding the two words.
const futexRegion = "futex"

// futexLine is one direction: a futex word and the payload it publishes,
// padded to a 128-byte unit of its own (two 64-byte lines, against the
// adjacent-line prefetcher).
type futexLine struct {
	seq     uint32 // the futex word: its writer's count of sends
	_       uint32
	payload uint64 // the message's first 8 bytes, little-endian
	_       [112]byte
}

// futexLines is the region: [0] is written by the parent, [1] by the peer.
type futexLines [2]futexLine

func futexLinesAt(reg *arena.Region) (*futexLines, error) {
	b := reg.Bytes()
	if len(b) < int(unsafe.Sizeof(futexLines{})) {
		return nil, fmt.Errorf("futex: region of %d bytes, want %d", len(b), unsafe.Sizeof(futexLines{}))
	}
	// unsafe: the region is 128-byte aligned (Alloc's align) and at least
	// as large as futexLines, checked above; its memory is the arena's
	// mapping, which outlives the conn.
	return (*futexLines)(unsafe.Pointer(&b[0])), nil
}

func (t futexTransport) open(e *engine, spec *peerSpec) (*endpoint, error) {
	a, path, remove, err := e.newArena(1 << 20)
	if err != nil {
		return nil, err
	}
	reg, err := a.Alloc(futexRegion, int64(unsafe.Sizeof(futexLines{})), 128)
	var lines *futexLines
	if err == nil {
		lines, err = futexLinesAt(reg)
	}
	if err != nil {
		a.Close()
		remove()
		return nil, err
	}
	spec.Arena = path
	c := newFutexConn(a, &lines[0], &lines[1], spec.deadline())
	return &endpoint{conn: c, cleanup: remove}, nil
}

func (futexTransport) attach(spec peerSpec, _ []*os.File) (conn, error) {
	a, err := arena.Open(spec.Arena)
	if err != nil {
		return nil, err
	}
	reg, err := a.Lookup(futexRegion)
	var lines *futexLines
	if err == nil {
		lines, err = futexLinesAt(reg)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return newFutexConn(a, &lines[1], &lines[0], spec.deadline()), nil
}

// futexPoll bounds one sleep, so that a receiver whose peer died notices
// (liveness). futex.Wait reads the clock twice per call to honour it; the
// ~50 ns that costs is < 1 % of a wake-up, and shmring's blocking waits
// pay the same.
const futexPoll = 50 * time.Millisecond

// futexConn is one side of the futex ping-pong; it owns its arena mapping.
type futexConn struct {
	liveness
	a    *arena.Arena
	tx   *futexLine // ours
	rx   *futexLine // the peer's
	sent uint32     // our last tx.seq
	seen uint32     // the last rx.seq received
}

func newFutexConn(a *arena.Arena, tx, rx *futexLine, deadline time.Time) *futexConn {
	return &futexConn{liveness: liveness{deadline: deadline}, a: a, tx: tx, rx: rx}
}

func (c *futexConn) send(msg []byte) error {
	if len(msg) < 8 {
		return errShort
	}
	// Before the seq store below, which publishes it (Go's atomics are
	// sequentially consistent, so the two are seen in this order).
	atomic.StoreUint64(&c.tx.payload, binary.LittleEndian.Uint64(msg))
	c.sent++
	// Sequentially consistent (XCHG on amd64): publishes the payload to
	// the receiver's acquiring load of seq, and comes before the wake, so
	// a receiver that compares in FUTEX_WAIT after it sees the new value
	// and does not sleep (the futex package's contract).
	atomic.StoreUint32(&c.tx.seq, c.sent)
	_, err := futex.Wake(&c.tx.seq, 1)
	return err
}

func (c *futexConn) recv(buf []byte) error {
	if len(buf) < 8 {
		return errShort
	}
	var failed error
	for {
		v := atomic.LoadUint32(&c.rx.seq) // acquire: pairs with the sender's seq store, after its payload store
		if v != c.seen {
			c.seen = v
			binary.LittleEndian.PutUint64(buf, atomic.LoadUint64(&c.rx.payload))
			return nil
		}
		if failed != nil {
			return failed // the load after the failure found nothing either
		}
		err := futex.Wait(&c.rx.seq, v, futexPoll)
		switch {
		case errors.Is(err, futex.ErrTimeout):
			failed = c.check()
		case err != nil:
			return err
		}
	}
}

func (c *futexConn) close() error { return c.a.Close() }
