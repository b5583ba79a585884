package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// frameRingTransport carries the frame rows (frames.go) over shmring: a
// record ring, or the fixed-slot SPSC ring with slots of the largest
// frame, one way, and a small ring of the same kind back for the
// acknowledgements, in one arena file the peer opens by path. Both sides
// busy-spin. Only ring's and arena's exported API is used.
type frameRingTransport struct {
	records bool
}

func (t frameRingTransport) name() string {
	if t.records {
		return "frames-records"
	}
	return "frames-spsc"
}

func (frameRingTransport) frames() bool { return true }

// configs are the frame ring's and the return ring's kind and geometry
// for the frames in spec.
func (t frameRingTransport) configs(spec *peerSpec) (arena.Kind, ring.Config, ring.Config) {
	if t.records {
		c := recordCapacity(frameMix{min: spec.FrameMin, max: spec.FrameMax, inFlight: spec.InFlight})
		if h := c / 2 / 4096 * 4096; spec.Half && h/2-16 >= spec.FrameMax {
			c = h
		}
		return ring.KindRecords, ring.Config{Capacity: c, SlotSize: spec.FrameMax},
			ring.Config{Capacity: ring.MinRecordCapacity, SlotSize: frameAckSize}
	}
	slots := 2
	for slots < spec.InFlight {
		slots *= 2
	}
	return ring.KindSPSC, ring.Config{Slots: slots, SlotSize: spec.FrameMax},
		ring.Config{Slots: 16, SlotSize: frameAckSize}
}

func (t frameRingTransport) open(e *engine, spec *peerSpec) (*endpoint, error) {
	kind, fcfg, acfg := t.configs(spec)
	size, err := ring.ArenaSize([]ring.Spec{{Kind: kind, Config: fcfg}, {Kind: kind, Config: acfg}})
	if err != nil {
		return nil, err
	}
	a, path, remove, err := e.newArena(size)
	if err != nil {
		return nil, err
	}
	tx, err := ring.Create(a, ringA2B, kind, fcfg)
	var rx ring.Ring
	if err == nil {
		rx, err = ring.Create(a, ringB2A, kind, acfg)
	}
	if err != nil {
		a.Close()
		remove()
		return nil, err
	}
	spec.Arena, spec.Tx, spec.Rx = path, ringB2A, ringA2B
	spec.Wait = ring.WaitSpin.String()
	c := &frameRingConn{ringConn: newRingConn(tx, []receiver{rx}, ring.WaitSpin, spec.deadline()), tx: tx, rx: rx, a: a}
	return &endpoint{conn: c, cleanup: remove}, nil
}

// attach opens the rings prefaulted, as the parent created them (a
// record ring's double mapping too), so that neither side's first lap
// takes page faults the other's does not.
func (frameRingTransport) attach(spec peerSpec, _ []*os.File) (conn, error) {
	a, err := arena.Open(spec.Arena, arena.WithPrefault())
	if err != nil {
		return nil, err
	}
	tx, err := ring.Open(a, spec.Tx)
	var rx ring.Ring
	if err == nil {
		rx, err = ring.Open(a, spec.Rx)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return &frameRingConn{ringConn: newRingConn(tx, []receiver{rx}, ring.WaitSpin, spec.deadline()), tx: tx, rx: rx, a: a}, nil
}

// frameRingConn is a ringConn that hands frames over in place: it
// reserves on the ring it sends on and peeks on the one it receives on,
// one frame outstanding at a time.
type frameRingConn struct {
	*ringConn
	tx, rx ring.Ring
	a      *arena.Arena
	res    ring.Reservation
	msg    ring.Message
}

func (c *frameRingConn) reserve(n int) ([]byte, error) {
	res, err := c.tx.Reserve(c.ctx, n)
	if err != nil {
		return nil, err
	}
	c.res = res
	return res.Buf, nil
}

func (c *frameRingConn) commit(n int) error { return c.tx.Commit(c.res, n) }

func (c *frameRingConn) peek() ([]byte, error) {
	m, err := c.rx.Peek(c.rxCtx[0])
	if err != nil {
		return nil, err
	}
	c.msg = m
	return m.Data, nil
}

func (c *frameRingConn) release() error { return c.rx.Release(c.msg) }

func (c *frameRingConn) memory() int64 { return c.tx.Region().Size() }

func (c *frameRingConn) close() error {
	c.ringConn.close()
	return c.a.Close()
}

// frameUnixTransport carries the frame rows over a Unix stream socket
// pair: each frame is a 4-byte length and the frame, written with one
// write(2) from a buffer the producer fills (its "reservation") and read
// into a buffer the consumer checks (its "peek"); the acknowledgements
// come back as fixed-size messages on the same socket.
type frameUnixTransport struct{}

func (frameUnixTransport) name() string { return "frames-unix" }

func (frameUnixTransport) frames() bool { return true }

func (t frameUnixTransport) open(e *engine, spec *peerSpec) (*endpoint, error) {
	ep, err := unixStream.open(e, spec)
	if err != nil {
		return nil, err
	}
	ep.conn = newFrameStream(ep.conn, spec.FrameMax)
	return ep, nil
}

func (t frameUnixTransport) attach(spec peerSpec, files []*os.File) (conn, error) {
	c, err := unixStream.attach(spec, files)
	if err != nil {
		return nil, err
	}
	return newFrameStream(c, spec.FrameMax), nil
}

// frameStream is a stream conn with length-prefixed frames.
type frameStream struct {
	*streamConn
	max  int
	wbuf []byte // the length, then the frame being written
	rbuf []byte // the frame last read
}

func newFrameStream(c conn, maxFrame int) *frameStream {
	return &frameStream{streamConn: c.(*streamConn), max: maxFrame}
}

func (c *frameStream) reserve(n int) ([]byte, error) {
	if n > c.max {
		return nil, ring.ErrTooLarge
	}
	if cap(c.wbuf) < 4+n {
		c.wbuf = make([]byte, 4+c.max)
	}
	return c.wbuf[4 : 4+n], nil
}

func (c *frameStream) commit(n int) error {
	binary.LittleEndian.PutUint32(c.wbuf, uint32(n))
	_, err := c.w.Write(c.wbuf[:4+n])
	return err
}

func (c *frameStream) peek() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	// The length is the peer's: bounded by the run's largest frame.
	n := int(binary.LittleEndian.Uint32(hdr[:]))
	if n > c.max {
		return nil, fmt.Errorf("%w: frame length %d over the largest, %d", errFrame, n, c.max)
	}
	if cap(c.rbuf) < n {
		c.rbuf = make([]byte, c.max)
	}
	if _, err := io.ReadFull(c.r, c.rbuf[:n]); err != nil {
		return nil, err
	}
	return c.rbuf[:n], nil
}

func (c *frameStream) release() error { return nil }

func (c *frameStream) memory() int64 { return 0 }
