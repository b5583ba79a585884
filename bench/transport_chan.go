package bench

import (
	"context"
	"errors"
	"os"
	"time"
)

// chanTransport is a pair of buffered Go channels inside one process, the
// baseline a Go program has without IPC. Its peer is a goroutine in the
// parent's process (endpoint.local), never a process of its own.
type chanTransport struct{}

func (chanTransport) name() string { return "chan" }

func (chanTransport) open(_ *engine, spec *peerSpec) (*endpoint, error) {
	a, b := newChanPair(spec.deadline())
	return &endpoint{conn: a, local: b}, nil
}

func (chanTransport) attach(peerSpec, []*os.File) (conn, error) {
	return nil, errors.New("chan: the peer runs inside the parent's process")
}

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
