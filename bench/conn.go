package bench

import (
	"errors"
	"io"
	"net"
	"time"
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
// bounded by the deadline the conn was made with. Each transport_*.go file
// holds its own conn, except the byte streams', streamConn, shared here.
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

// streamConn is a byte stream (pipe pair, stream socket, TCP) carrying
// fixed-size messages.
type streamConn struct {
	r io.Reader
	w io.Writer
	c []io.Closer
}

// netStream is a stream over one connected socket; the caller has set its
// deadline.
func netStream(nc net.Conn) *streamConn {
	return &streamConn{r: nc, w: nc, c: []io.Closer{nc}}
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

// liveness is how a shared-memory conn with waits of its own (the futex
// and stream floors) gives up: at the deadline, or once its peer process
// has exited (watch, which the session calls with the peer's exit).
type liveness struct {
	deadline time.Time
	exited   <-chan struct{} // nil: no peer process to watch (in-process test)
}

func (l *liveness) watch(exited []<-chan struct{}) {
	if len(exited) > 0 {
		l.exited = exited[0]
	}
}

// check returns errDeadline past the deadline, errPeerExited once the peer
// has exited, nil otherwise. It reads the clock: waits call it only every
// so many polls. A waiter that gets an error polls once more before giving
// up, so that what the peer published just before exiting is not lost.
func (l *liveness) check() error {
	if time.Now().After(l.deadline) {
		return errDeadline
	}
	select {
	case <-l.exited:
		return errPeerExited
	default:
		return nil
	}
}
