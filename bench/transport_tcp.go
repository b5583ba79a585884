package bench

import (
	"net"
	"os"
	"time"
)

// tcpTransport is one TCP connection over loopback: the parent listens on
// an ephemeral port and the peer dials the address in the spec.
type tcpTransport struct{}

func (tcpTransport) name() string { return "tcp" }

// open listens and accepts in the background: the parent's conn exists
// only once the peer, started after open returns, has dialled.
func (tcpTransport) open(_ *engine, spec *peerSpec) (*endpoint, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	spec.Addr = ln.Addr().String()
	deadline := spec.deadline()
	accepted := make(chan conn, 1)
	go func() {
		defer close(accepted)
		nc, err := ln.Accept()
		if err == nil {
			nc.SetDeadline(deadline)
			accepted <- netStream(nc)
		}
	}()
	return &endpoint{accept: accepted, cleanup: func() { ln.Close() }}, nil
}

func (tcpTransport) attach(spec peerSpec, _ []*os.File) (conn, error) {
	nc, err := net.DialTimeout("tcp", spec.Addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(spec.deadline())
	return netStream(nc), nil
}
