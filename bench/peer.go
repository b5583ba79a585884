package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// PeerRole is the internal/xproc role of a measurement's peer: the harness
// re-executes the running binary in it. A program that runs the harness
// dispatches it to Peer first thing in main (xproc.Dispatch) and in
// TestMain (xproc.Main).
const PeerRole = "bench-peer"

// Peer modes.
const (
	modeEcho = "echo" // answer every message (latency)
	modeSink = "sink" // count messages, acknowledge the count (throughput)
	// modeSource streams the other way (throughput): the peer sends
	// messages for the spec's Duration, then an ack with their count.
	modeSource = "source"
	modeFloor  = "floor" // bounce the floor's cache line (floor.go)
	// The frame modes (frames.go): verify and count frames; in echo,
	// also acknowledge each on peek and on release.
	modeFrameSink = "frame-sink"
	modeFrameEcho = "frame-echo"
)

// peerSpec tells a peer process what to be. The parent fills in the common
// fields; a transport's open adds the ones its attach reads.
type peerSpec struct {
	Transport string `json:"transport"` // a transport's name, or floor
	Mode      string `json:"mode"`      // echo, sink, floor
	Size      int    `json:"size"`
	CPU       int    `json:"cpu"`
	Peers     int    `json:"peers,omitempty"` // peer processes in the measurement: a broadcast ring's subscribers, else 1
	Index     int    `json:"index,omitempty"` // which of them this one is, from 0
	Files     int    `json:"files,omitempty"` // inherited files, fd 3 onward
	Arena     string `json:"arena,omitempty"`
	Tx        string `json:"tx,omitempty"` // ring names from the peer's side
	Rx        string `json:"rx,omitempty"`
	Wait      string `json:"wait,omitempty"`
	Addr      string `json:"addr,omitempty"`
	// The frame modes' frames: sizes uniform in [FrameMin, FrameMax],
	// InFlight of them sized for, the record ring at half that (Half).
	FrameMin int   `json:"frame_min,omitempty"`
	FrameMax int   `json:"frame_max,omitempty"`
	InFlight int   `json:"in_flight,omitempty"`
	Half     bool  `json:"half,omitempty"`
	Deadline int64 `json:"deadline"` // unix ns: give up after this
	// Duration is how long a source streams, in ns (modeSource only).
	Duration int64 `json:"duration_ns,omitempty"`
}

// deadline bounds every operation of both sides.
func (s peerSpec) deadline() time.Time { return time.Unix(0, s.Deadline) }

// peerResult is what a peer prints on stdout when it is done.
type peerResult struct {
	Count    int64 `json:"count"`
	IdleCPU  int64 `json:"idle_cpu_ns"`
	IdleWall int64 `json:"idle_wall_ns"`
}

// Peer runs the peer side of one measurement, whose spec is its one
// argument, and prints its result on stdout.
func Peer(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want one argument, the spec; got %d", len(args))
	}
	var spec peerSpec
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		return fmt.Errorf("bad spec: %w", err)
	}
	res, err := runPeer(spec)
	if err != nil {
		return fmt.Errorf("%s %s: %w", spec.Transport, spec.Mode, err)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func runPeer(spec peerSpec) (peerResult, error) {
	if err := pinThread(spec.CPU); err != nil {
		return peerResult{}, fmt.Errorf("pin to CPU %d: %w", spec.CPU, err)
	}
	if spec.Mode == modeFloor {
		return peerFloor(spec)
	}
	t, err := transportNamed(spec.Transport)
	if err != nil {
		return peerResult{}, err
	}
	files := make([]*os.File, spec.Files)
	for i := range files {
		// Inherited descriptors arrive blocking (os/exec makes them so):
		// nonblocking, os.NewFile registers them with the poller, so that
		// deadlines work on them as on the parent's side.
		if err := unix.SetNonblock(3+i, true); err != nil {
			return peerResult{}, fmt.Errorf("fd%d: %w", 3+i, err)
		}
		files[i] = os.NewFile(uintptr(3+i), fmt.Sprintf("fd%d", 3+i))
	}
	c, err := t.attach(spec, files)
	if err != nil {
		return peerResult{}, err
	}
	defer c.close()
	if spec.Mode == modeFrameSink || spec.Mode == modeFrameEcho {
		fc, ok := c.(frameConn)
		if !ok {
			return peerResult{}, fmt.Errorf("transport %s carries no frames", spec.Transport)
		}
		return serveFrames(fc, spec)
	}
	if spec.Mode == modeSource {
		return serveSource(c, spec.Size, time.Duration(spec.Duration))
	}
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
	case modeEcho:
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
	case modeSink:
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

// serveSource is the peer's loop in modeSource: the hello, size-byte data
// messages for dur (the clock read every 65536/size messages, as the
// parent's throughput loop does), then an ack with their count.
func serveSource(c conn, size int, dur time.Duration) (peerResult, error) {
	var res peerResult
	buf := make([]byte, size)
	buf[0] = opHello
	if err := c.send(buf); err != nil {
		return res, fmt.Errorf("hello: %w", err)
	}
	buf[0] = opData
	end, check := time.Now().Add(dur), max(1, 65536/size)
	for {
		for i := 0; i < check; i++ {
			if err := c.send(buf); err != nil {
				return res, err
			}
		}
		res.Count += int64(check)
		if !time.Now().Before(end) {
			break
		}
	}
	buf[0] = opAck
	putCount(buf, uint64(res.Count))
	return res, c.send(buf)
}
