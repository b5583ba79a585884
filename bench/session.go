package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

// session is one running measurement: the parent's conn and the peer,
// either re-executed processes (internal/xproc, role PeerRole) or, for an
// in-process transport, a goroutine.
type session struct {
	c conn
	// peers are the peer processes in peerSpec.Index order: one, or a
	// broadcast mechanism's subscribers; none for an in-process peer.
	peers []*peerProc
	local chan peerResult // in-process peer
	lerr  chan error
}

// peerProc is one peer process. out and errOut are its stdout (its
// result) and stderr, complete once it has exited.
type peerProc struct {
	child       *xproc.Child
	out, errOut bytes.Buffer
}

// start sets up mechanism m for messages of size bytes in mode (echo or
// sink), starts its peers, and waits for their hello. budget is how long
// the measurement may take; every operation of every side gives up 15 s
// after.
func (e *engine) start(ctx context.Context, m mechanism, mode string, size int, budget time.Duration) (*session, error) {
	deadline := time.Now().Add(budget + 15*time.Second)
	n := m.peerCount()
	spec := peerSpec{Transport: m.transport.name(), Mode: mode, Size: size, Peers: n, Deadline: deadline.UnixNano()}
	if mode == modeSource {
		spec.Duration = budget.Nanoseconds()
	}
	ep, err := m.transport.open(e, &spec)
	if err != nil {
		return nil, err
	}
	if ep.cleanup != nil {
		defer ep.cleanup()
	}
	s := &session{c: ep.conn}
	if ep.local != nil {
		s.serveLocal(ep.local, mode, size)
	} else {
		// Every peer is pinned to the peer side's CPU. A broadcast
		// mechanism's subscribers share it and the parent (the producer)
		// keeps its own: on 2 CPUs the producer then never waits for a
		// subscriber that cannot run because it shares the producer's
		// CPU, and both subscribers read the slots from one cache.
		spec.Files, spec.CPU = len(ep.files), e.cfg.CPUs[1]
		for i := 0; i < n && err == nil; i++ {
			one := spec
			one.Index = i
			err = e.spawn(ctx, s, one, ep.files, ep.program, deadline)
		}
		for _, f := range ep.files {
			f.Close() // the peers have their copies
		}
		if err != nil {
			return nil, s.fail(err)
		}
	}
	if ep.accept != nil {
		if err := s.accept(ep.accept); err != nil {
			// A conn the peer made just before failing may still arrive:
			// close it (the channel ends when cleanup closes the listener).
			go func() {
				for c := range ep.accept {
					c.close()
				}
			}()
			return nil, err
		}
	}
	// A shared-memory conn does not see its peers die (a stream sees
	// EOF): it gives up on each when it exits.
	if w, ok := s.c.(interface{ watch([]<-chan struct{}) }); ok && len(s.peers) > 0 {
		w.watch(s.exitedChans())
	}
	hello := make([]byte, size)
	if err := s.c.recv(hello); err != nil || hello[0] != opHello {
		return nil, s.fail(fmt.Errorf("no hello from the peer: %v", err))
	}
	return s, nil
}

// serveLocal runs the peer's loop over c on a goroutine of this process.
func (s *session) serveLocal(c conn, mode string, size int) {
	s.local, s.lerr = make(chan peerResult, 1), make(chan error, 1)
	go func() {
		defer c.close()
		res, err := serve(c, mode, size)
		s.local <- res
		s.lerr <- err
	}()
}

// accept waits for the parent's conn of a transport whose peer (one
// process) connects back once started.
func (s *session) accept(accepted <-chan conn) error {
	p := s.peers[0]
	select {
	case c, ok := <-accepted:
		if !ok {
			return s.fail(errors.New("accept failed"))
		}
		s.c = c
		return nil
	case <-p.child.Done():
		return fmt.Errorf("peer exited before connecting: %v: %s", p.exitStatus(), p.errOut.String())
	case <-time.After(10 * time.Second):
		return s.fail(errors.New("peer did not connect"))
	}
}

// spawn starts this binary again as the peer described by spec (or, with
// prog set, that program), passing it extra as fd 3 onward, and adds it
// to s.peers; the peer is killed when ctx ends or at deadline.
func (e *engine) spawn(ctx context.Context, s *session, spec peerSpec, extra []*os.File, prog *program, deadline time.Time) error {
	js, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	p := &peerProc{}
	o := xproc.Options{
		Role: PeerRole, Args: []string{string(js)},
		ExtraFiles: extra,
		Stdout:     &p.out, Stderr: &p.errOut,
		Deadline: deadline,
	}
	if prog != nil {
		o.Role, o.Path, o.Args = spec.Transport, prog.path, prog.args(spec)
	}
	p.child, err = xproc.Start(ctx, o)
	if err != nil {
		return err
	}
	s.peers = append(s.peers, p)
	return nil
}

// exitedChans lists, in Index order, the channels closed when each peer
// process has exited.
func (s *session) exitedChans() []<-chan struct{} {
	out := make([]<-chan struct{}, len(s.peers))
	for i, p := range s.peers {
		out[i] = p.child.Done()
	}
	return out
}

// exitStatus waits for the peer process to exit and returns nil, or how it
// ended ("exit status 1", "signal: killed") for a message that quotes its
// stderr beside it. (xproc's error names the child by its whole spec, too
// long for a table row.)
func (p *peerProc) exitStatus() error {
	err := p.child.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee
	}
	return err
}

// fail kills the peers and returns err with their stderr.
func (s *session) fail(err error) error {
	if s.c != nil {
		defer s.c.close()
	}
	var msgs []string
	for i, p := range s.peers {
		p.child.Kill()
		if msg := p.errOut.String(); msg != "" {
			msgs = append(msgs, s.peerName("peer", i)+": "+msg)
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%w (%s)", err, strings.Join(msgs, "; "))
	}
	return err
}

// peerName is what, numbered i if the session has several peers.
func (s *session) peerName(what string, i int) string {
	if len(s.peers) > 1 {
		return fmt.Sprintf("%s %d", what, i)
	}
	return what
}

// finish waits for the peers to exit and returns the first one's result.
func (s *session) finish() (peerResult, error) {
	defer s.c.close()
	var res peerResult
	if s.local != nil {
		select {
		case res = <-s.local:
			return res, <-s.lerr
		case <-time.After(10 * time.Second):
			return res, errors.New("in-process peer did not finish")
		}
	}
	if err := s.exited("peer"); err != nil {
		return res, err
	}
	err := json.Unmarshal(s.peers[0].out.Bytes(), &res)
	return res, err
}

// exited waits up to 10 s for the peer processes to exit, kills those that
// do not, and returns nil if they all exited cleanly, or an error naming
// the first that did not (what, numbered if there are several) with how
// it ended and its stderr.
func (s *session) exited(what string) error {
	var first error
	until := time.Now().Add(10 * time.Second)
	for i, p := range s.peers {
		var err error
		select {
		case <-p.child.Done():
			if st := p.exitStatus(); st != nil {
				err = fmt.Errorf("%s: %v: %s", s.peerName(what, i), st, p.errOut.String())
			}
		case <-time.After(time.Until(until)):
			p.child.Kill()
			err = fmt.Errorf("%s did not exit", s.peerName(what, i))
		}
		if first == nil {
			first = err
		}
	}
	return first
}
