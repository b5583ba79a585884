package bench

import (
	"fmt"
	"os"
)

// transport is one IPC mechanism with both of its halves, so that a
// transport is one type in one file (transport_*.go):
//
//   - open runs in the parent, once per measurement: it sets up the
//     resources (an arena, pipes, a socket pair, a listener), writes into
//     the spec whatever the peer needs to find them, and returns the
//     parent's endpoint;
//   - attach runs in the re-executed peer process: it joins those
//     resources from the spec and the files open passed down.
//
// The peer learns everything from the spec: the transport value attach is
// called on is the first in mechanisms with that name, not the parent's.
type transport interface {
	// name is the transport's peerSpec.Transport value.
	name() string
	// open sets up one session's resources on the parent's side. spec
	// holds the mode, size and deadline; open adds its own fields.
	open(e *engine, spec *peerSpec) (*endpoint, error)
	// attach is the peer's side: files are endpoint.files, now fd 3 on.
	attach(spec peerSpec, files []*os.File) (conn, error)
}

// endpoint is the parent's half of one session, as open returns it.
type endpoint struct {
	// conn is the parent's conn, or nil until accept delivers it.
	conn conn
	// accept, if set, delivers the parent's conn once the peer process has
	// connected back, or is closed without one if accepting failed.
	accept <-chan conn
	// files go to the peer process as fd 3 onward; start closes the
	// parent's copies once the peer has been started.
	files []*os.File
	// local, if set, is the peer's conn in this process: start serves it
	// on a goroutine instead of starting a peer process.
	local conn
	// cleanup, if set, runs when start returns: after the peer's hello
	// (so the peer has opened what it needed) or on failure.
	cleanup func()
	// program, if set, is the peer process to start instead of this
	// binary in PeerRole (the C peer, cpeer.go).
	program *program
}

// program is a peer written in another language: its path, and its
// command line for a spec (it cannot read the JSON spec PeerRole gets).
type program struct {
	path string
	args func(peerSpec) []string
}

// transportNamed finds the transport a peer is asked to attach to.
func transportNamed(name string) (transport, error) {
	for _, m := range mechanisms() {
		if m.transport.name() == name {
			return m.transport, nil
		}
	}
	for _, fm := range frameMechanisms() {
		if fm.transport.name() == name {
			return fm.transport, nil
		}
	}
	return nil, fmt.Errorf("unknown transport %q", name)
}

// inherited checks that the peer received the n files its transport
// passes down.
func inherited(files []*os.File, n int, t transport) error {
	if len(files) != n {
		return fmt.Errorf("%s: %d inherited files, want %d", t.name(), len(files), n)
	}
	return nil
}
