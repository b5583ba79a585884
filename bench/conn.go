package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/shmring/shmring/ring"
)

// Message opcodes, in byte 0 of every message. Messages have a fixed size
// per run that both sides know, so stream transports need no framing.
const (
	opData  = 1
	opStop  = 2
	opHello = 3
	opIdle  = 4
	opAck   = 5
)

// conn is one side of a bidirectional message channel. Every call is
// bounded by the deadline the conn was made with.
type conn interface {
	send(msg []byte) error
	// recv reads exactly one message of len(buf) bytes into buf.
	recv(buf []byte) error
	close() error
}

// discarder is a conn that can consume a message in place without copying
// it out (shmring's Peek/Release); it returns the message's opcode and,
// for an ack, its payload word.
type discarder interface {
	discard(size int) (op byte, payload uint64, err error)
}

var errShort = errors.New("bench: short message")

// ringConn sends on one ring and receives on another.
type ringConn struct {
	tx, rx ring.Ring
	ctx    context.Context
	cancel context.CancelFunc
}

func newRingConn(tx, rx ring.Ring, deadline time.Time) *ringConn {
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

func (c *ringConn) close() error {
	c.cancel()
	c.tx.Detach()
	c.rx.Detach()
	return nil
}

// streamConn is a byte stream (pipe pair, stream socket, TCP) carrying
// fixed-size messages.
type streamConn struct {
	r io.Reader
	w io.Writer
	c []io.Closer
}

func (c *streamConn) send(msg []byte) error {
	_, err := c.w.Write(msg)
	return err
}

func (c *streamConn) recv(buf []byte) error {
	_, err := io.ReadFull(c.r, buf)
	return err
}

func (c *streamConn) close() error {
	var errs []error
	for _, cl := range c.c {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

// packetConn is a SOCK_SEQPACKET socket: one read, one message.
type packetConn struct{ c net.Conn }

func (c *packetConn) send(msg []byte) error {
	_, err := c.c.Write(msg)
	return err
}

func (c *packetConn) recv(buf []byte) error {
	n, err := c.c.Read(buf)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return fmt.Errorf("%w: %d of %d bytes", errShort, n, len(buf))
	}
	return nil
}

func (c *packetConn) close() error { return c.c.Close() }

// chanConn is a pair of Go channels inside one process. The receiver
// copies the message out, so each message costs one copy as with the
// other mechanisms.
type chanConn struct {
	tx, rx chan []byte
	done   <-chan struct{}
	cancel context.CancelFunc
	pool   [][]byte // send buffers, reused round-robin
	next   int
}

func newChanPair(deadline time.Time) (*chanConn, *chanConn) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	a2b, b2a := make(chan []byte, 1024), make(chan []byte, 1024)
	return &chanConn{tx: a2b, rx: b2a, done: ctx.Done(), cancel: cancel},
		&chanConn{tx: b2a, rx: a2b, done: ctx.Done(), cancel: cancel}
}

var errDeadline = fmt.Errorf("bench: %w", os.ErrDeadlineExceeded)

// send copies msg into the next pooled buffer (the sender's copy, as a
// ring or socket makes one) and sends that. With cap(tx)+2 buffers a
// buffer is reused only after the receiver has copied it out.
func (c *chanConn) send(msg []byte) error {
	if c.pool == nil || len(c.pool[0]) != len(msg) {
		c.pool = make([][]byte, cap(c.tx)+2)
		for i := range c.pool {
			c.pool[i] = make([]byte, len(msg))
		}
	}
	b := c.pool[c.next]
	c.next = (c.next + 1) % len(c.pool)
	copy(b, msg)
	select {
	case c.tx <- b:
		return nil
	case <-c.done:
		return errDeadline
	}
}

func (c *chanConn) recv(buf []byte) error {
	select {
	case m := <-c.rx:
		if copy(buf, m) != len(buf) {
			return errShort
		}
		return nil
	case <-c.done:
		return errDeadline
	}
}

func (c *chanConn) close() error { c.cancel(); return nil }

// putCount stores an acknowledged message count in bytes 1..7 of an
// 8-byte-or-longer message (56 bits: no run sends 2^56 messages).
func putCount(msg []byte, n uint64) {
	for i := 1; i < 8; i++ {
		msg[i] = byte(n >> (8 * (i - 1)))
	}
}

func getCount(msg []byte) uint64 {
	var n uint64
	for i := 1; i < 8; i++ {
		n |= uint64(msg[i]) << (8 * (i - 1))
	}
	return n
}
