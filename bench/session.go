package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

// session is one running measurement: the parent's conn and the peer,
// either a re-executed process (internal/xproc, role PeerRole) or, for an
// in-process transport, a goroutine.
type session struct {
	c conn
	// peer is the peer process, nil for an in-process peer. out and errOut
	// are its stdout (its result) and stderr, complete once it has exited.
	peer        *xproc.Child
	out, errOut bytes.Buffer
	local       chan peerResult // in-process peer
	lerr        chan error
}

// start sets up mechanism m for messages of size bytes in mode (echo or
// sink), starts the peer, and waits for its hello. budget is how long the
// measurement may take; every operation of both sides gives up 15 s after.
func (e *engine) start(ctx context.Context, m mechanism, mode string, size int, budget time.Duration) (*session, error) {
	deadline := time.Now().Add(budget + 15*time.Second)
	spec := peerSpec{Transport: m.transport.name(), Mode: mode, Size: size, CPU: e.cfg.CPUs[1], Deadline: deadline.UnixNano()}
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
		spec.Files = len(ep.files)
		err := e.spawn(ctx, s, spec, ep.files, deadline)
		for _, f := range ep.files {
			f.Close() // the peer has its copies
		}
		if err != nil {
			if s.c != nil {
				s.c.close()
			}
			return nil, err
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
	// A shared-memory conn does not see its peer die (a stream sees EOF):
	// it gives up when the peer exits.
	if w, ok := s.c.(interface{ watch(<-chan struct{}) }); ok && s.peer != nil {
		w.watch(s.peer.Done())
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

// accept waits for the parent's conn of a transport whose peer connects
// back once started.
func (s *session) accept(accepted <-chan conn) error {
	select {
	case c, ok := <-accepted:
		if !ok {
			return s.fail(errors.New("accept failed"))
		}
		s.c = c
		return nil
	case <-s.peer.Done():
		return fmt.Errorf("peer exited before connecting: %v: %s", s.exitStatus(), s.errOut.String())
	case <-time.After(10 * time.Second):
		return s.fail(errors.New("peer did not connect"))
	}
}

// spawn starts this binary again as the peer described by spec, passing it
// extra as fd 3 onward; the peer is killed when ctx ends or at deadline.
func (e *engine) spawn(ctx context.Context, s *session, spec peerSpec, extra []*os.File, deadline time.Time) error {
	js, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	s.peer, err = xproc.Start(ctx, xproc.Options{
		Role: PeerRole, Args: []string{string(js)},
		ExtraFiles: extra,
		Stdout:     &s.out, Stderr: &s.errOut,
		Deadline: deadline,
	})
	return err
}

// exitStatus waits for the peer process to exit and returns nil, or how it
// ended ("exit status 1", "signal: killed") for a message that quotes its
// stderr beside it. (xproc's error names the child by its whole spec, too
// long for a table row.)
func (s *session) exitStatus() error {
	err := s.peer.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee
	}
	return err
}

// fail kills the peer and returns err with its stderr.
func (s *session) fail(err error) error {
	if s.c != nil {
		defer s.c.close()
	}
	if s.peer != nil {
		s.peer.Kill()
		if msg := s.errOut.String(); msg != "" {
			return fmt.Errorf("%w (peer: %s)", err, msg)
		}
	}
	return err
}

// finish waits for the peer to exit and returns its result.
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
	err := json.Unmarshal(s.out.Bytes(), &res)
	return res, err
}

// exited waits up to 10 s for the peer process to exit, kills it if it
// does not, and returns nil if it exited cleanly, or an error naming it
// (what) with how it ended and its stderr.
func (s *session) exited(what string) error {
	select {
	case <-s.peer.Done():
		if err := s.exitStatus(); err != nil {
			return fmt.Errorf("%s: %v: %s", what, err, s.errOut.String())
		}
		return nil
	case <-time.After(10 * time.Second):
		s.peer.Kill()
		return fmt.Errorf("%s did not exit", what)
	}
}
