package bench

import (
	"io"
	"os"
	"time"
)

// pipeTransport is two pipes, one each way; the peer inherits its ends.
type pipeTransport struct{}

func (pipeTransport) name() string { return "pipe" }

func (pipeTransport) open(_ *engine, spec *peerSpec) (*endpoint, error) {
	r1, w1, err := os.Pipe() // parent -> peer
	if err != nil {
		return nil, err
	}
	r2, w2, err := os.Pipe() // peer -> parent
	if err != nil {
		r1.Close()
		w1.Close()
		return nil, err
	}
	return &endpoint{conn: pipeConn(r2, w1, spec.deadline()), files: []*os.File{r1, w2}}, nil
}

func (t pipeTransport) attach(spec peerSpec, files []*os.File) (conn, error) {
	if err := inherited(files, 2, t); err != nil {
		return nil, err
	}
	return pipeConn(files[0], files[1], spec.deadline()), nil
}

// pipeConn reads from r and writes to w until deadline.
func pipeConn(r, w *os.File, deadline time.Time) *streamConn {
	// Errors ignored: a file that is not pollable keeps no deadline, and
	// the peer's lifetime (internal/xproc) still bounds the run.
	_ = r.SetDeadline(deadline)
	_ = w.SetDeadline(deadline)
	return &streamConn{r: r, w: w, c: []io.Closer{r, w}}
}
