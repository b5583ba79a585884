package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// ringTransport is shmring itself: two rings, one each way, in one arena
// file the peer opens by path, SPSC or MPMC, with any wait strategy. Only
// ring's and arena's exported API is used.
type ringTransport struct {
	mpmc bool
	wait ring.WaitStrategy
}

// The rings' names, from the parent's side: it pushes on ringA2B and pops
// from ringB2A; the peer the other way round.
const (
	ringA2B = "a2b"
	ringB2A = "b2a"
)

func (ringTransport) name() string { return "ring" }

func (t ringTransport) open(e *engine, spec *peerSpec) (*endpoint, error) {
	kind := ring.KindSPSC
	if t.mpmc {
		kind = ring.KindMPMC
	}
	rcfg := ring.Config{Slots: ringSlots(spec.Mode, spec.Size), SlotSize: spec.Size}
	one, err := ring.Size(kind, rcfg, 128)
	if err != nil {
		return nil, err
	}
	path := e.arenaPath()
	a, err := arena.Create(path, 2*one+1<<20, arena.WithPrefault())
	if err != nil {
		return nil, err
	}
	// Unlinked once the peer has attached (so a killed run leaves no file),
	// while both sides still use it: hence WithForce.
	remove := func() { arena.Remove(path, arena.WithForce()) }
	tx, err := ring.Create(a, ringA2B, kind, rcfg)
	var rx ring.Ring
	if err == nil {
		rx, err = ring.Create(a, ringB2A, kind, rcfg)
	}
	if err != nil {
		a.Close()
		remove()
		return nil, err
	}
	spec.Arena, spec.Tx, spec.Rx = path, ringB2A, ringA2B
	spec.Wait = t.wait.String()
	c := &arenaConn{ringConn: newRingConn(tx, []receiver{rx}, t.wait, spec.deadline()), a: a}
	return &endpoint{conn: c, cleanup: remove}, nil
}

// attach opens the rings the spec names, of whatever kind they are; the
// wait strategy comes from the spec, not the receiver. The arena stays
// mapped until the process exits.
func (ringTransport) attach(spec peerSpec, _ []*os.File) (conn, error) {
	w, err := ring.ParseWaitStrategy(spec.Wait)
	if err != nil {
		return nil, err
	}
	a, err := arena.Open(spec.Arena)
	if err != nil {
		return nil, err
	}
	tx, err := ring.Open(a, spec.Tx)
	var rx ring.Ring
	if err == nil {
		rx, err = ring.Open(a, spec.Rx)
	}
	if err != nil {
		return nil, err
	}
	return newRingConn(tx, []receiver{rx}, w, spec.deadline()), nil
}

// ringSlots sizes a ring for mode: a few slots for the ping-pong, up to
// 1024 (at most 8 MiB) for streaming.
func ringSlots(mode string, size int) int {
	if mode == modeEcho {
		return 16
	}
	slots := 1024
	for slots > 8 && slots*size > 8<<20 {
		slots /= 2
	}
	return slots
}

// sender and receiver are what a ringConn uses of a ring: an SPSC or MPMC
// ring is both; a broadcast ring's producer is a sender and each of its
// subscribers a receiver.
type sender interface {
	Push(ctx context.Context, msg []byte) error
	SetWaitStrategy(w ring.WaitStrategy)
	Detach() error
}

type receiver interface {
	Pop(ctx context.Context, dst []byte) (int, error)
	Peek(ctx context.Context) (ring.Message, error)
	Release(m ring.Message) error
	SetWaitStrategy(w ring.WaitStrategy)
	Detach() error
}

// ringConn sends on one ring and receives on one or more: a broadcast
// producer receives on each subscriber's return ring, and one message
// received is one from each of them, which must all be the same (every
// subscriber answers the same stream).
type ringConn struct {
	tx      sender
	rx      []receiver
	scratch []byte // the second and later receivers' copy, to compare
	// ctx bounds every operation (the deadline; every peer gone, see
	// watch); rxCtx[i] bounds receiving on rx[i] (and peer i gone).
	ctx    context.Context
	cancel context.CancelFunc
	rxCtx  []context.Context
}

func newRingConn(tx sender, rx []receiver, w ring.WaitStrategy, deadline time.Time) *ringConn {
	tx.SetWaitStrategy(w)
	for _, r := range rx {
		r.SetWaitStrategy(w)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	c := &ringConn{tx: tx, rx: rx, ctx: ctx, cancel: cancel, rxCtx: make([]context.Context, len(rx))}
	for i := range c.rxCtx {
		c.rxCtx[i] = ctx
	}
	return c
}

func (c *ringConn) send(msg []byte) error { return c.tx.Push(c.ctx, msg) }

func (c *ringConn) recv(buf []byte) error {
	for i, rx := range c.rx {
		dst := buf
		if i > 0 {
			if len(c.scratch) != len(buf) {
				c.scratch = make([]byte, len(buf))
			}
			dst = c.scratch
		}
		n, err := rx.Pop(c.rxCtx[i], dst)
		if err != nil {
			return c.from(i, err)
		}
		if n != len(buf) {
			return c.from(i, fmt.Errorf("%w: %d of %d bytes", errShort, n, len(buf)))
		}
		if i > 0 && !bytes.Equal(dst, buf) {
			return c.from(i, fmt.Errorf("%w: op %d, receiver 0 got op %d", errDiverged, dst[0], buf[0]))
		}
	}
	return nil
}

func (c *ringConn) discard(size int) (byte, uint64, error) {
	var op0 byte
	var payload0 uint64
	for i, rx := range c.rx {
		m, err := rx.Peek(c.rxCtx[i])
		if err != nil {
			return 0, 0, c.from(i, err)
		}
		if len(m.Data) != size {
			rx.Release(m)
			return 0, 0, c.from(i, fmt.Errorf("%w: %d of %d bytes", errShort, len(m.Data), size))
		}
		op, payload := m.Data[0], uint64(0)
		if op == opAck {
			payload = getCount(m.Data)
		}
		if err := rx.Release(m); err != nil {
			return 0, 0, c.from(i, err)
		}
		if i == 0 {
			op0, payload0 = op, payload
		} else if op != op0 || payload != payload0 {
			return 0, 0, c.from(i, fmt.Errorf("%w: op %d payload %d, receiver 0 got op %d payload %d", errDiverged, op, payload, op0, payload0))
		}
	}
	return op0, payload0, nil
}

// from names receiver i in err when there are several.
func (c *ringConn) from(i int, err error) error {
	if len(c.rx) == 1 {
		return err
	}
	return fmt.Errorf("receiver %d: %w", i, err)
}

// watch gives up on the peers once they exit: exited[i] is closed when
// the peer that answers on rx[i] has exited, and receiving on rx[i] is
// cancelled then; every operation is, once every peer has exited. A
// message a peer pushed before exiting is still received, since a
// blocking operation tries once more when its context ends (the ring's
// contract: the cancellation comes after the push); a broadcast
// subscriber that exits after its answer does not cut short the wait for
// the others'.
func (c *ringConn) watch(exited []<-chan struct{}) {
	var left atomic.Int32
	left.Store(int32(len(exited)))
	for i, done := range exited {
		ctx, cancel := context.WithCancel(c.ctx)
		if i < len(c.rxCtx) {
			c.rxCtx[i] = ctx
		}
		go func() {
			defer cancel()
			select {
			case <-done:
				if left.Add(-1) == 0 {
					c.cancel()
				}
			case <-c.ctx.Done():
			}
		}()
	}
}

func (c *ringConn) close() error {
	c.cancel()
	c.tx.Detach()
	for _, rx := range c.rx {
		rx.Detach()
	}
	return nil
}

// arenaConn is the parent's ringConn, which also owns its arena.
type arenaConn struct {
	*ringConn
	a *arena.Arena
}

func (c *arenaConn) close() error {
	c.ringConn.close()
	return c.a.Close()
}
