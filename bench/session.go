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
)

// session is one running measurement: the parent's conn and the peer,
// either a re-executed process or, for an in-process transport, a
// goroutine.
type session struct {
	c      conn
	cmd    *exec.Cmd
	out    bytes.Buffer
	errOut bytes.Buffer
	waitc  chan error
	local  chan peerResult // in-process peer
	lerr   chan error
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
			return nil, err
		}
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
	case err := <-s.waitc:
		return fmt.Errorf("peer exited before connecting: %v: %s", err, s.errOut.String())
	case <-time.After(10 * time.Second):
		return s.fail(errors.New("peer did not connect"))
	}
}

// spawn re-executes this binary as the peer described by spec, passing it
// extra as fd 3 onward; the peer is killed when ctx ends or at deadline.
func (e *engine) spawn(ctx context.Context, s *session, spec peerSpec, extra []*os.File, deadline time.Time) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	js, _ := json.Marshal(spec)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), peerEnv+"="+string(js), "GORACE=atexit_sleep_ms=0")
	cmd.ExtraFiles = extra
	cmd.Stdout, cmd.Stderr = &s.out, &s.errOut
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start peer: %w", err)
	}
	s.cmd = cmd
	s.waitc = make(chan error, 1)
	go func() { s.waitc <- cmd.Wait() }()
	go func() {
		select {
		case <-ctx.Done():
			cmd.Process.Kill()
		case <-time.After(time.Until(deadline)):
			cmd.Process.Kill()
		case err := <-s.waitc:
			s.waitc <- err
		}
	}()
	return nil
}

// fail kills the peer and returns err with its stderr.
func (s *session) fail(err error) error {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		<-s.waitc
		if msg := s.errOut.String(); msg != "" {
			return fmt.Errorf("%w (peer: %s)", err, msg)
		}
	}
	if s.c != nil {
		s.c.close()
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
	select {
	case err := <-s.waitc:
		if err != nil {
			return res, fmt.Errorf("peer: %v: %s", err, s.errOut.String())
		}
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		return res, errors.New("peer did not exit")
	}
	err := json.Unmarshal(s.out.Bytes(), &res)
	return res, err
}
