package bench

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// socketTransport is an AF_UNIX socket pair of one type, made by the
// parent (socketpair_*.go); the peer inherits its end.
type socketTransport struct {
	kind string // its name: "unix" or "seqpacket"
	typ  int    // unix.SOCK_STREAM or unix.SOCK_SEQPACKET
}

var (
	unixStream    = socketTransport{kind: "unix", typ: unix.SOCK_STREAM}
	unixSeqpacket = socketTransport{kind: "seqpacket", typ: unix.SOCK_SEQPACKET}
)

func (t socketTransport) name() string { return t.kind }

func (t socketTransport) open(_ *engine, spec *peerSpec) (*endpoint, error) {
	fds, err := socketpair(t.typ)
	if err != nil {
		return nil, err
	}
	peer := os.NewFile(uintptr(fds[1]), "peer-sock")
	c, err := t.conn(os.NewFile(uintptr(fds[0]), "sock"), spec.deadline())
	if err != nil {
		peer.Close()
		return nil, err
	}
	return &endpoint{conn: c, files: []*os.File{peer}}, nil
}

func (t socketTransport) attach(spec peerSpec, files []*os.File) (conn, error) {
	if err := inherited(files, 1, t); err != nil {
		return nil, err
	}
	return t.conn(files[0], spec.deadline())
}

// conn makes one end of the pair, f, a conn bounded by deadline; f itself
// is closed (the conn holds its own descriptor).
func (t socketTransport) conn(f *os.File, deadline time.Time) (conn, error) {
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(deadline)
	if t.typ == unix.SOCK_SEQPACKET {
		return &packetConn{c: nc}, nil
	}
	return netStream(nc), nil
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
