package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shmring/shmring/ring"
)

// The C peer's rows (issue 15): the C library (c/) in the peer's role of
// SPSC busy-spin, so that its speed is read beside Go's.
//
// The harness compiles c/bench/cpeer.c and c/src/*.c with gcc into a
// temporary directory once per run (buildCPeer), before the first
// measurement, and starts that program (xproc Options.Path) where the
// other rows re-execute this binary; the parent's side is the same Go
// SPSC busy-spin ring conn as shmring-spsc/spin's, over the same two
// rings. Without gcc or without the c/ sources (a binary run outside the
// repository) the rows are skipped with a warning; they never fail the
// run.
//
// Every C row is measured beside its Go twin, the same measurement with
// the Go peer: the round trip right after the twin's (as the floors are),
// each stream alternated with the twin's (alternate.go, altRuns runs each,
// medians). VsGo is the C row over its twin (batch means for the round
// trip, msgs/s for the streams), so a move of the vCPUs between rows does
// not show up as a difference of the languages. The streams run at
// cStreamSize only, whatever --sizes says.

// Names of the C peer's rows, and the alias --only selects them all by.
const (
	nameCPingPong = "c-peer/spin go<->c"
	nameCSink     = "c-peer/spin go->c"
	nameCSource   = "c-peer/spin c->go"
	cAlias        = "c"
	// cStreamSize is the message size of the C peer's streams.
	cStreamSize = 64
)

// cMechanisms are the C peer's rows, in report order (mechanisms places
// them after shmring-spsc/spin): the ping-pong, the Go producer streaming
// to the C consumer, and the C producer streaming to the Go consumer.
func cMechanisms() []mechanism {
	return []mechanism{
		{name: nameCPingPong, alias: cAlias, transport: cpeerTransport{}, latency: true, goTwin: true},
		{name: nameCSink, alias: cAlias, transport: cpeerTransport{}, stream: true, goTwin: true, streamSize: cStreamSize},
		{name: nameCSource, alias: cAlias, transport: cpeerTransport{}, stream: true, goTwin: true, streamSize: cStreamSize, source: true},
	}
}

// twin is m's Go twin: the same measurement over the same rings with the
// Go peer (SPSC busy-spin). Its name says whose twin it is; it is not a
// row of the report, its figures are recorded on m's (pairGo, pairGoRate).
func (m mechanism) twin() mechanism {
	return mechanism{name: m.name + " (Go twin)", transport: ringTransport{wait: ring.WaitSpin},
		latency: m.latency, stream: m.stream, streamSize: m.streamSize, source: m.source}
}

// needsC reports whether m's peer is the C program.
func (m mechanism) needsC() bool {
	_, ok := m.transport.(cpeerTransport)
	return ok
}

// cpeerTransport is shmring SPSC busy-spin with the C program as the peer:
// the parent's open is ringTransport's (the same rings, the same Go conn),
// and the endpoint names the program to start.
type cpeerTransport struct{}

func (cpeerTransport) name() string { return "cpeer" }

func (cpeerTransport) open(e *engine, spec *peerSpec) (*endpoint, error) {
	if e.cpeer == "" {
		return nil, errNoCPeer
	}
	ep, err := ringTransport{wait: ring.WaitSpin}.open(e, spec)
	if err != nil {
		return nil, err
	}
	ep.program = &program{path: e.cpeer, args: cpeerArgs}
	return ep, nil
}

// attach is never called: the peer is the C program, not this binary.
func (cpeerTransport) attach(peerSpec, []*os.File) (conn, error) {
	return nil, fmt.Errorf("%w: attach", errNoCPeer)
}

// cpeerArgs is the C peer's command line for spec (c/bench/cpeer.c):
// MODE ARENA TX RX SIZE CPU DEADLINE_UNIX_NS DURATION_NS.
func cpeerArgs(spec peerSpec) []string {
	return []string{spec.Mode, spec.Arena, spec.Tx, spec.Rx, strconv.Itoa(spec.Size), strconv.Itoa(spec.CPU),
		strconv.FormatInt(spec.Deadline, 10), strconv.FormatInt(spec.Duration, 10)}
}

// cSelected reports whether cfg selects a C peer row.
func (c *Config) cSelected() bool {
	for _, m := range cMechanisms() {
		if c.selected(m) {
			return true
		}
	}
	return false
}

// buildTimeout bounds the C peer's compilation.
const buildTimeout = 2 * time.Minute

// cpeerSources finds the repository's c/ directory: beside this package's
// source file (the harness built from a checkout), else in the working
// directory or one of its parents. It is "" with no c/ there.
func cpeerSources() string {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(filepath.Dir(file))) // bench/.. is the repository
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			starts = append(starts, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, root := range starts {
		c := filepath.Join(root, "c")
		if fileExists(filepath.Join(c, "include", "shmring.h")) && fileExists(filepath.Join(c, "bench", "cpeer.c")) {
			return c
		}
	}
	return ""
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// buildCPeer compiles the C peer into a new temporary directory and
// returns the program's path and a function that removes the directory.
// It fails with errNoCPeer (wrapped, saying why) without gcc or the
// sources, and with the compiler's output if compiling fails.
func buildCPeer(ctx context.Context) (path string, remove func(), err error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", nil, fmt.Errorf("%w: gcc is not installed", errNoCPeer)
	}
	src := cpeerSources()
	if src == "" {
		return "", nil, fmt.Errorf("%w: the C sources (c/ of the repository) are not beside the bench module or the working directory", errNoCPeer)
	}
	libs, err := filepath.Glob(filepath.Join(src, "src", "*.c"))
	if err != nil || len(libs) == 0 {
		return "", nil, fmt.Errorf("%w: no C sources in %s", errNoCPeer, filepath.Join(src, "src"))
	}
	dir, err := os.MkdirTemp("", "shmring-cpeer-")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "cpeer")
	// c/Makefile's flags: C11, every warning an error, -O2.
	args := []string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-I", filepath.Join(src, "include"),
		"-o", path, filepath.Join(src, "bench", "cpeer.c")}
	args = append(args, libs...)
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, gcc, args...).CombinedOutput(); err != nil {
		remove()
		return "", nil, fmt.Errorf("%w: gcc %s: %v: %s", errCPeerBuild, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return path, remove, nil
}

// prepareCPeer builds the C peer if cfg selects a C row, and sets e.cpeer.
// A peer that cannot be built is a warning, and its rows are skipped; the
// returned function removes what was built.
func (e *engine) prepareCPeer(ctx context.Context, r *Report) (cleanup func()) {
	if !e.cfg.cSelected() {
		return func() {}
	}
	path, remove, err := buildCPeer(ctx)
	if err != nil {
		note := "C peer rows (--only c) skipped: " + err.Error()
		if !errors.Is(err, errNoCPeer) {
			note = "C peer rows (--only c) skipped: it did not compile: " + err.Error()
		}
		r.Warnings = append(r.Warnings, note)
		return func() {}
	}
	e.cpeer = path
	return remove
}

// skipped reports whether m cannot be measured in this run: a C row
// without a C peer.
func (e *engine) skipped(m mechanism) bool { return m.needsC() && e.cpeer == "" }

// pairGo records on the C ping-pong row its Go twin's median batch mean
// and its own over it. A failed twin leaves the row alone.
func pairGo(row *LatencyRow, tw LatencyRow) {
	if tw.Error != "" || tw.BatchMeanP50 <= 0 {
		return
	}
	row.GoBatchMean = tw.BatchMeanP50
	if row.Error == "" && row.BatchMeanP50 > 0 {
		row.VsGo = row.BatchMeanP50 / tw.BatchMeanP50
	}
}

// pairGoRate records on a C stream row its Go twin's msgs/s and its own
// over it.
func pairGoRate(row *ThroughputRow, tw ThroughputRow) {
	if tw.Error != "" || tw.MsgsPerSec <= 0 {
		return
	}
	row.GoMsgsPerSec = tw.MsgsPerSec
	if row.Error == "" && row.MsgsPerSec > 0 {
		row.VsGo = row.MsgsPerSec / tw.MsgsPerSec
	}
}
