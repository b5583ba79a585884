package bench

import (
	"context"
	"fmt"
	"os"
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
	c := &arenaConn{ringConn: newRingConn(tx, rx, t.wait, spec.deadline()), a: a}
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
	return newRingConn(tx, rx, w, spec.deadline()), nil
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

// ringConn sends on one ring and receives on another.
type ringConn struct {
	tx, rx ring.Ring
	ctx    context.Context
	cancel context.CancelFunc
}

func newRingConn(tx, rx ring.Ring, w ring.WaitStrategy, deadline time.Time) *ringConn {
	tx.SetWaitStrategy(w)
	rx.SetWaitStrategy(w)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	return &ringConn{tx: tx, rx: rx, ctx: ctx, cancel: cancel}
}

func (c *ringConn) send(msg []byte) error { return c.tx.Push(c.ctx, msg) }

func (c *ringConn) recv(buf []byte) error {
	n, err := c.rx.Pop(c.ctx, buf)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return fmt.Errorf("%w: %d of %d bytes", errShort, n, len(buf))
	}
	return nil
}

func (c *ringConn) discard(size int) (byte, uint64, error) {
	m, err := c.rx.Peek(c.ctx)
	if err != nil {
		return 0, 0, err
	}
	if len(m.Data) != size {
		c.rx.Release(m)
		return 0, 0, fmt.Errorf("%w: %d of %d bytes", errShort, len(m.Data), size)
	}
	op, payload := m.Data[0], uint64(0)
	if op == opAck {
		payload = getCount(m.Data)
	}
	return op, payload, c.rx.Release(m)
}

// watch cancels the conn's blocking operations once done is closed (the
// peer process exited): a message it pushed before exiting is still
// received, since every blocking operation tries first.
func (c *ringConn) watch(done <-chan struct{}) {
	go func() {
		select {
		case <-done:
			c.cancel()
		case <-c.ctx.Done():
		}
	}()
}

func (c *ringConn) close() error {
	c.cancel()
	c.tx.Detach()
	c.rx.Detach()
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
