package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// peerEnv carries the peer's JSON spec when the harness re-executes its own
// binary as the other side of a measurement.
const peerEnv = "SHMRING_BENCH_PEER"

// peerSpec tells a peer process what to be.
type peerSpec struct {
	Transport string `json:"transport"` // ring, pipe, unix, seqpacket, tcp, floor
	Mode      string `json:"mode"`      // echo, sink, floor
	Size      int    `json:"size"`
	CPU       int    `json:"cpu"`
	Arena     string `json:"arena,omitempty"`
	Tx        string `json:"tx,omitempty"` // ring names from the peer's side
	Rx        string `json:"rx,omitempty"`
	MPMC      bool   `json:"mpmc,omitempty"`
	Wait      string `json:"wait,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Deadline  int64  `json:"deadline"` // unix ns: give up after this
}

// peerResult is what a peer prints on stdout when it is done.
type peerResult struct {
	Count    int64 `json:"count"`
	IdleCPU  int64 `json:"idle_cpu_ns"`
	IdleWall int64 `json:"idle_wall_ns"`
}

// IsPeer reports whether this process was started as a measurement peer.
// A program that runs the harness calls it first thing in main (and in
// TestMain) and, if true, exits with PeerMain's status.
func IsPeer() bool { return os.Getenv(peerEnv) != "" }

// PeerMain runs the peer side of one measurement and returns the exit
// status.
func PeerMain() int {
	var spec peerSpec
	if err := json.Unmarshal([]byte(os.Getenv(peerEnv)), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "bench peer: bad spec: %v\n", err)
		return 2
	}
	res, err := runPeer(spec)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench peer (%s %s): %v\n", spec.Transport, spec.Mode, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func runPeer(spec peerSpec) (peerResult, error) {
	if err := pinThread(spec.CPU); err != nil {
		return peerResult{}, fmt.Errorf("pin to CPU %d: %w", spec.CPU, err)
	}
	deadline := time.Unix(0, spec.Deadline)
	if spec.Transport == "floor" {
		return peerFloor(spec, deadline)
	}
	c, err := peerConn(spec, deadline)
	if err != nil {
		return peerResult{}, err
	}
	defer c.close()
	return serve(c, spec.Mode, spec.Size)
}

// serve is the peer's loop, shared by processes and the in-process channel.
func serve(c conn, mode string, size int) (peerResult, error) {
	var res peerResult
	buf := make([]byte, size)
	buf[0] = opHello
	if err := c.send(buf); err != nil {
		return res, fmt.Errorf("hello: %w", err)
	}
	d, canDiscard := c.(discarder)
	switch mode {
	case "echo":
		idleFrom, idleWall := int64(-1), time.Time{}
		for {
			if err := c.recv(buf); err != nil {
				return res, err
			}
			switch buf[0] {
			case opStop:
				if idleFrom >= 0 {
					res.IdleCPU, res.IdleWall = cpuTime()-idleFrom, time.Since(idleWall).Nanoseconds()
				}
				return res, nil
			case opIdle:
				if err := c.send(buf); err != nil {
					return res, err
				}
				idleFrom, idleWall = cpuTime(), time.Now()
				continue
			}
			res.Count++
			if err := c.send(buf); err != nil {
				return res, err
			}
		}
	case "sink":
		for {
			op := byte(0)
			if canDiscard {
				var err error
				if op, _, err = d.discard(size); err != nil {
					return res, err
				}
			} else {
				if err := c.recv(buf); err != nil {
					return res, err
				}
				op = buf[0]
			}
			if op == opStop {
				buf[0] = opAck
				putCount(buf, uint64(res.Count))
				return res, c.send(buf)
			}
			res.Count++
		}
	}
	return res, fmt.Errorf("unknown mode %q", mode)
}

func peerConn(spec peerSpec, deadline time.Time) (conn, error) {
	switch spec.Transport {
	case "ring":
		a, err := arena.Open(spec.Arena)
		if err != nil {
			return nil, err
		}
		var tx, rx ring.Ring
		if spec.MPMC {
			tx, err = ring.OpenMPMC(a, spec.Tx)
			if err == nil {
				rx, err = ring.OpenMPMC(a, spec.Rx)
			}
		} else {
			tx, err = ring.OpenSPSC(a, spec.Tx)
			if err == nil {
				rx, err = ring.OpenSPSC(a, spec.Rx)
			}
		}
		if err != nil {
			return nil, err
		}
		w, err := ring.ParseWaitStrategy(spec.Wait)
		if err != nil {
			return nil, err
		}
		tx.SetWaitStrategy(w)
		rx.SetWaitStrategy(w)
		// The arena stays mapped until the process exits.
		return newRingConn(tx, rx, deadline), nil
	case "pipe":
		r, w := os.NewFile(3, "rx"), os.NewFile(4, "tx")
		r.SetDeadline(deadline)
		w.SetDeadline(deadline)
		return &streamConn{r: r, w: w, c: []io.Closer{r, w}}, nil
	case "unix", "seqpacket":
		nc, err := net.FileConn(os.NewFile(3, "sock"))
		if err != nil {
			return nil, err
		}
		nc.SetDeadline(deadline)
		if spec.Transport == "seqpacket" {
			return &packetConn{c: nc}, nil
		}
		return &streamConn{r: nc, w: nc, c: []io.Closer{nc}}, nil
	case "tcp":
		nc, err := net.DialTimeout("tcp", spec.Addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		nc.SetDeadline(deadline)
		return &streamConn{r: nc, w: nc, c: []io.Closer{nc}}, nil
	}
	return nil, fmt.Errorf("unknown transport %q", spec.Transport)
}

// floorWords are the two words of the floor's shared cache line: the
// parent writes ping, the peer answers in pong.
type floorWords struct {
	ping uint64
	pong uint64
}

const (
	floorHello = 1 << 62
	floorStop  = ^uint64(0)
)

func floorAt(mem []byte) *floorWords {
	return (*floorWords)(unsafe.Pointer(&mem[0])) // region is pad-aligned, 16 bytes used
}

// peerFloor answers every ping with a pong of the same value, spinning
// with plain atomics: the hardware's round-trip floor.
func peerFloor(spec peerSpec, deadline time.Time) (peerResult, error) {
	a, err := arena.Open(spec.Arena)
	if err != nil {
		return peerResult{}, err
	}
	reg, err := a.Lookup("floor")
	if err != nil {
		return peerResult{}, err
	}
	w := floorAt(reg.Bytes())
	atomic.StoreUint64(&w.pong, floorHello)
	var res peerResult
	last := uint64(0)
	for spins := 0; ; spins++ {
		v := atomic.LoadUint64(&w.ping)
		if v == floorStop {
			return res, nil
		}
		if v != last {
			atomic.StoreUint64(&w.pong, v)
			last = v
			res.Count++
			continue
		}
		if spins&4095 == 0 && time.Now().After(deadline) {
			return res, fmt.Errorf("floor: no ping before the deadline")
		}
	}
}
