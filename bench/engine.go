package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/cpu"
	"github.com/shmring/shmring/ring"
)

// mechanism is one IPC mechanism the harness measures.
type mechanism struct {
	name      string
	transport string // ring, chan, pipe, unix, seqpacket, tcp
	mpmc      bool
	wait      ring.WaitStrategy
	latency   bool // measured in the ping-pong
	stream    bool // measured in the throughput runs
	floorPair bool // a floor measurement runs right before its latency row
	idleProbe bool // measure the waiting peer's CPU while idle
}

// Names used for ratios and targets.
const (
	nameSPSCSpin     = "shmring-spsc/spin"
	nameSPSCAdaptive = "shmring-spsc/adaptive"
	nameSPSCBlock    = "shmring-spsc/block"
	nameMPMCSpin     = "shmring-mpmc/spin"
	nameUnix         = "unix-stream"
	nameFloor        = "floor (cache line)"
)

func mechanisms() []mechanism {
	return []mechanism{
		{name: nameSPSCSpin, transport: "ring", wait: ring.WaitSpin, latency: true, stream: true, floorPair: true},
		{name: nameSPSCAdaptive, transport: "ring", wait: ring.WaitAdaptive, latency: true, stream: true, floorPair: true, idleProbe: true},
		{name: nameSPSCBlock, transport: "ring", wait: ring.WaitBlock, latency: true, stream: true, floorPair: true, idleProbe: true},
		{name: nameMPMCSpin, transport: "ring", mpmc: true, wait: ring.WaitSpin, latency: true, stream: true, floorPair: true},
		{name: "shmring-mpmc/adaptive", transport: "ring", mpmc: true, wait: ring.WaitAdaptive, latency: true, floorPair: true, idleProbe: true},
		{name: "shmring-mpmc/block", transport: "ring", mpmc: true, wait: ring.WaitBlock, latency: true, stream: true, floorPair: true, idleProbe: true},
		{name: "go-chan (1 process)", transport: "chan", latency: true, stream: true},
		{name: "pipe", transport: "pipe", latency: true, stream: true},
		{name: nameUnix, transport: "unix", latency: true, stream: true},
		{name: "unix-seqpacket", transport: "seqpacket", latency: true, stream: true},
		{name: "tcp-loopback", transport: "tcp", latency: true, stream: true},
	}
}

// Steps returns how many measurements Run will make with cfg, for a
// progress display.
func Steps(cfg Config) int {
	n := 1 // the leading floor row
	for _, m := range mechanisms() {
		if !cfg.selected(m.name) {
			continue
		}
		if m.latency {
			n++
			if m.floorPair {
				n++
			}
		}
		if m.stream {
			n += len(cfg.Sizes)
		}
	}
	return n
}

// Run measures every selected mechanism and returns the report. ctx
// cancels the run between (and, through deadlines, within) measurements;
// arena files are unlinked as soon as the peer has opened them, so an
// interrupted run leaves nothing in /dev/shm.
func Run(ctx context.Context, cfg Config, prog Progress) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if prog == nil {
		prog = NopProgress()
	}
	defer prog.Done()
	e := &engine{cfg: cfg, prog: prog}
	r := &Report{Started: time.Now()}
	info := cpu.Detect()
	r.Machine = Machine{CPU: info.Brand, LogicalCPU: runtime.NumCPU(), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Kernel: kernelRelease(), CPUs: cfg.CPUs}
	r.Settings = Settings{LatencyDuration: cfg.LatencyDuration.Seconds(), ThroughputDuration: cfg.ThroughputDuration.Seconds(),
		LatencySize: cfg.LatencySize, Sizes: cfg.Sizes, Only: cfg.Only}
	if runtime.NumCPU() < 2 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("only %d CPU: both sides share it, so spinning mechanisms measure the scheduler, not the hand-off", runtime.NumCPU()))
		e.cfg.CPUs = [2]int{-1, -1}
		r.Machine.CPUs = e.cfg.CPUs
	}
	if runtime.GOOS != "linux" {
		r.Warnings = append(r.Warnings, "CPU pinning and futexes are Linux-only; numbers here are not comparable")
	}

	// Latency.
	floorRow := e.floor(ctx, "")
	r.Latency = append(r.Latency, floorRow)
	for _, m := range mechanisms() {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if !m.latency || !cfg.selected(m.name) {
			continue
		}
		var fl LatencyRow
		if m.floorPair {
			fl = e.floor(ctx, m.name)
		}
		row := e.latency(ctx, m)
		if m.floorPair && fl.Error == "" && fl.P50 > 0 {
			row.FloorP50 = fl.P50
			row.VsFloor = row.P50 / fl.P50
		}
		r.Latency = append(r.Latency, row)
	}
	// Throughput.
	for _, size := range cfg.Sizes {
		for _, m := range mechanisms() {
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			if !m.stream || !cfg.selected(m.name) {
				continue
			}
			r.Throughput = append(r.Throughput, e.throughput(ctx, m, size))
		}
	}
	ratios(r)
	r.Targets = targets(r)
	r.Elapsed = time.Since(r.Started).Seconds()
	return r, ctx.Err()
}

type engine struct {
	cfg  Config
	prog Progress
	seq  atomic.Int64
}

// session is one running measurement: the parent's conn and the peer.
type session struct {
	c      conn
	cmd    *exec.Cmd
	out    bytes.Buffer
	errOut bytes.Buffer
	waitc  chan error
	local  chan peerResult // in-process peer (chan)
	lerr   chan error
}

// start sets up mechanism m for messages of size bytes in mode (echo or
// sink), starts the peer, and waits for its hello.
func (e *engine) start(ctx context.Context, m mechanism, mode string, size int, budget time.Duration) (*session, error) {
	deadline := time.Now().Add(budget + 15*time.Second)
	spec := peerSpec{Transport: m.transport, Mode: mode, Size: size, CPU: e.cfg.CPUs[1], MPMC: m.mpmc,
		Wait: m.wait.String(), Deadline: deadline.UnixNano()}
	s := &session{}
	var extra []*os.File
	var cleanup []func()
	defer func() {
		for _, f := range cleanup {
			f()
		}
	}()
	switch m.transport {
	case "chan":
		a, b := newChanPair(deadline)
		s.c = a
		s.local, s.lerr = make(chan peerResult, 1), make(chan error, 1)
		go func() {
			defer b.close()
			res, err := serve(b, mode, size)
			s.local <- res
			s.lerr <- err
		}()
	case "ring":
		path := filepath.Join(e.cfg.Dir, fmt.Sprintf("shmring-bench-%d-%d", os.Getpid(), e.seq.Add(1)))
		slots := ringSlots(mode, size)
		kind := ring.KindSPSC
		if m.mpmc {
			kind = ring.KindMPMC
		}
		rcfg := ring.Config{Slots: slots, SlotSize: size}
		one, err := ring.Size(kind, rcfg, 128)
		if err != nil {
			return nil, err
		}
		a, err := arena.Create(path, 2*one+1<<20, arena.WithPrefault())
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() { arena.Remove(path) })
		var tx, rx ring.Ring
		if m.mpmc {
			tx, err = ring.CreateMPMC(a, "a2b", rcfg)
			if err == nil {
				rx, err = ring.CreateMPMC(a, "b2a", rcfg)
			}
		} else {
			tx, err = ring.CreateSPSC(a, "a2b", rcfg)
			if err == nil {
				rx, err = ring.CreateSPSC(a, "b2a", rcfg)
			}
		}
		if err != nil {
			a.Close()
			return nil, err
		}
		tx.SetWaitStrategy(m.wait)
		rx.SetWaitStrategy(m.wait)
		rc := newRingConn(tx, rx, deadline)
		s.c = &arenaConn{ringConn: rc, a: a}
		spec.Arena, spec.Tx, spec.Rx = path, "b2a", "a2b"
	case "pipe":
		r1, w1, err := os.Pipe() // parent -> peer
		if err != nil {
			return nil, err
		}
		r2, w2, err := os.Pipe() // peer -> parent
		if err != nil {
			return nil, err
		}
		extra = []*os.File{r1, w2}
		w1.SetDeadline(deadline)
		r2.SetDeadline(deadline)
		s.c = &streamConn{r: r2, w: w1, c: []io.Closer{r2, w1}}
	case "unix", "seqpacket":
		typ := unix.SOCK_STREAM
		if m.transport == "seqpacket" {
			typ = unix.SOCK_SEQPACKET
		}
		fds, err := socketpair(typ)
		if err != nil {
			return nil, err
		}
		mine := os.NewFile(uintptr(fds[0]), "sock")
		nc, err := net.FileConn(mine)
		mine.Close()
		if err != nil {
			return nil, err
		}
		nc.SetDeadline(deadline)
		extra = []*os.File{os.NewFile(uintptr(fds[1]), "peer-sock")}
		if m.transport == "seqpacket" {
			s.c = &packetConn{c: nc}
		} else {
			s.c = &streamConn{r: nc, w: nc, c: []io.Closer{nc}}
		}
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		spec.Addr = ln.Addr().String()
		accepted := make(chan net.Conn, 1)
		go func() {
			nc, err := ln.Accept()
			if err == nil {
				accepted <- nc
			}
			close(accepted)
		}()
		if err := e.spawn(ctx, s, spec, nil, deadline); err != nil {
			return nil, err
		}
		select {
		case nc, ok := <-accepted:
			if !ok {
				return nil, s.fail(errors.New("accept failed"))
			}
			nc.SetDeadline(deadline)
			s.c = &streamConn{r: nc, w: nc, c: []io.Closer{nc}}
		case err := <-s.waitc:
			return nil, fmt.Errorf("peer exited before connecting: %v: %s", err, s.errOut.String())
		case <-time.After(10 * time.Second):
			return nil, s.fail(errors.New("peer did not connect"))
		}
	}
	if s.cmd == nil && m.transport != "chan" {
		if err := e.spawn(ctx, s, spec, extra, deadline); err != nil {
			s.c.close()
			return nil, err
		}
	}
	for _, f := range extra {
		f.Close() // the peer has its copies
	}
	hello := make([]byte, size)
	if err := s.c.recv(hello); err != nil || hello[0] != opHello {
		return nil, s.fail(fmt.Errorf("no hello from the peer: %v", err))
	}
	return s, nil
}

// arenaConn is a ringConn that also owns its arena.
type arenaConn struct {
	*ringConn
	a *arena.Arena
}

func (c *arenaConn) close() error {
	c.ringConn.close()
	return c.a.Close()
}

func ringSlots(mode string, size int) int {
	if mode == "echo" {
		return 16
	}
	slots := 1024
	for slots > 8 && slots*size > 8<<20 {
		slots /= 2
	}
	return slots
}

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

// percentiles plotted for every latency row.
var distribution = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, int64(10*time.Second), 3) }

func rowFrom(name string, h *hdrhistogram.Histogram) LatencyRow {
	row := LatencyRow{Mechanism: name, Samples: h.TotalCount(), Mean: h.Mean(), IdleCPU: -1,
		P50: float64(h.ValueAtQuantile(50)), P90: float64(h.ValueAtQuantile(90)), P99: float64(h.ValueAtQuantile(99)),
		P999: float64(h.ValueAtQuantile(99.9)), P9999: float64(h.ValueAtQuantile(99.99)), Max: float64(h.Max())}
	for _, p := range distribution {
		v := float64(h.ValueAtQuantile(p))
		if p == 100 {
			v = float64(h.Max())
		}
		row.Distribution = append(row.Distribution, Point{Percentile: p, Nanos: v})
	}
	return row
}

// latency runs the ping-pong of m.
func (e *engine) latency(ctx context.Context, m mechanism) LatencyRow {
	e.prog.Step("latency " + m.name)
	row := LatencyRow{Mechanism: m.name, IdleCPU: -1}
	budget := e.cfg.Warmup + e.cfg.LatencyDuration
	if m.idleProbe {
		budget += e.cfg.IdleProbe
	}
	if err := pinThread(e.cfg.CPUs[0]); err != nil {
		row.Error = err.Error()
		return row
	}
	defer unpinThread()
	s, err := e.start(ctx, m, "echo", e.cfg.LatencySize, budget)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	h := newHist()
	msg, buf := make([]byte, e.cfg.LatencySize), make([]byte, e.cfg.LatencySize)
	msg[0] = opData
	err = func() error {
		warm := time.Now().Add(e.cfg.Warmup)
		for time.Now().Before(warm) {
			if err := s.c.send(msg); err != nil {
				return err
			}
			if err := s.c.recv(buf); err != nil {
				return err
			}
		}
		end := time.Now().Add(e.cfg.LatencyDuration)
		for i := 0; ; i++ {
			t0 := time.Now()
			if err := s.c.send(msg); err != nil {
				return err
			}
			if err := s.c.recv(buf); err != nil {
				return err
			}
			t1 := time.Now()
			h.RecordValue(t1.Sub(t0).Nanoseconds())
			if i&63 == 0 && (t1.After(end) || ctx.Err() != nil) {
				break
			}
		}
		if m.idleProbe {
			msg[0] = opIdle
			if err := s.c.send(msg); err != nil {
				return err
			}
			if err := s.c.recv(buf); err != nil {
				return err
			}
			select {
			case <-time.After(e.cfg.IdleProbe):
			case <-ctx.Done():
			}
		}
		msg[0] = opStop
		return s.c.send(msg)
	}()
	if err != nil {
		row.Error = s.fail(err).Error()
		return row
	}
	res, err := s.finish()
	row = rowFrom(m.name, h)
	if err != nil {
		row.Error = err.Error()
	}
	if m.idleProbe && res.IdleWall > 0 {
		row.IdleCPU = float64(res.IdleCPU) / float64(res.IdleWall)
	}
	return row
}

// throughput streams size-byte messages one way for the configured time.
func (e *engine) throughput(ctx context.Context, m mechanism, size int) ThroughputRow {
	e.prog.Step(fmt.Sprintf("throughput %s %d B", m.name, size))
	row := ThroughputRow{Mechanism: m.name, Size: size}
	if err := pinThread(e.cfg.CPUs[0]); err != nil {
		row.Error = err.Error()
		return row
	}
	defer unpinThread()
	s, err := e.start(ctx, m, "sink", size, e.cfg.ThroughputDuration)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	msg, buf := make([]byte, size), make([]byte, size)
	msg[0] = opData
	var sent int64
	start := time.Now()
	err = func() error {
		end := start.Add(e.cfg.ThroughputDuration)
		check := max(1, 65536/size)
		for {
			for i := 0; i < check; i++ {
				if err := s.c.send(msg); err != nil {
					return err
				}
			}
			sent += int64(check)
			if time.Now().After(end) || ctx.Err() != nil {
				break
			}
		}
		msg[0] = opStop
		if err := s.c.send(msg); err != nil {
			return err
		}
		if d, ok := s.c.(discarder); ok {
			op, n, err := d.discard(size)
			if err == nil && (op != opAck || int64(n) != sent) {
				err = fmt.Errorf("peer acknowledged %d messages (op %d), sent %d", n, op, sent)
			}
			return err
		}
		if err := s.c.recv(buf); err != nil {
			return err
		}
		if buf[0] != opAck || int64(getCount(buf)) != sent {
			return fmt.Errorf("peer acknowledged %d messages, sent %d", getCount(buf), sent)
		}
		return nil
	}()
	elapsed := time.Since(start).Seconds()
	if err != nil {
		row.Error = s.fail(err).Error()
		return row
	}
	if _, err := s.finish(); err != nil {
		row.Error = err.Error()
		return row
	}
	row.Messages, row.Seconds = sent, elapsed
	row.MsgsPerSec = float64(sent) / elapsed
	row.MBPerSec = row.MsgsPerSec * float64(size) / 1e6
	return row
}

// floor bounces one cache line between two pinned processes with plain
// atomics, timing each round trip with the same clock reads as the
// mechanisms. before names the row it precedes ("" for the leading row).
func (e *engine) floor(ctx context.Context, before string) LatencyRow {
	name := nameFloor
	dur := e.cfg.LatencyDuration
	if before != "" {
		name = nameFloor + " before " + before
		dur /= 2
	}
	e.prog.Step("latency " + name)
	row := LatencyRow{Mechanism: name, IdleCPU: -1}
	if err := pinThread(e.cfg.CPUs[0]); err != nil {
		row.Error = err.Error()
		return row
	}
	defer unpinThread()
	deadline := time.Now().Add(e.cfg.Warmup + dur + 15*time.Second)
	path := filepath.Join(e.cfg.Dir, fmt.Sprintf("shmring-bench-%d-%d", os.Getpid(), e.seq.Add(1)))
	a, err := arena.Create(path, 1<<20, arena.WithPrefault())
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer arena.Remove(path)
	defer a.Close()
	reg, err := a.Alloc("floor", 128, 128)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	w := floorAt(reg.Bytes())
	s := &session{}
	spec := peerSpec{Transport: "floor", Mode: "floor", CPU: e.cfg.CPUs[1], Arena: path, Deadline: deadline.UnixNano()}
	if err := e.spawn(ctx, s, spec, nil, deadline); err != nil {
		row.Error = err.Error()
		return row
	}
	stop := func() { atomic.StoreUint64(&w.ping, floorStop) }
	waitPong := func(v uint64) error {
		for spins := 0; atomic.LoadUint64(&w.pong) != v; spins++ {
			if spins&4095 == 0 && time.Now().After(deadline) {
				return errors.New("floor: peer did not answer")
			}
		}
		return nil
	}
	if err := waitPong(floorHello); err != nil {
		stop()
		row.Error = s.fail(err).Error()
		return row
	}
	arena.Remove(path)
	h := newHist()
	seq := uint64(0)
	ping := func() error {
		seq++
		atomic.StoreUint64(&w.ping, seq)
		return waitPong(seq)
	}
	warm := time.Now().Add(e.cfg.Warmup)
	for time.Now().Before(warm) {
		if err := ping(); err != nil {
			stop()
			row.Error = s.fail(err).Error()
			return row
		}
	}
	end := time.Now().Add(dur)
	for i := 0; ; i++ {
		t0 := time.Now()
		if err := ping(); err != nil {
			stop()
			row.Error = s.fail(err).Error()
			return row
		}
		t1 := time.Now()
		h.RecordValue(t1.Sub(t0).Nanoseconds())
		if i&63 == 0 && (t1.After(end) || ctx.Err() != nil) {
			break
		}
	}
	stop()
	select {
	case err := <-s.waitc:
		if err != nil {
			row.Error = fmt.Sprintf("floor peer: %v: %s", err, s.errOut.String())
			return row
		}
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		row.Error = "floor peer did not exit"
		return row
	}
	return rowFrom(name, h)
}
