package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// The cache-line floor: two pinned processes bounce one cache line with
// plain atomics, the hardware's round-trip limit. It has no conn, so it is
// not a transport; both of its halves are here.

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

// floor bounces one cache line between two pinned processes with plain
// atomics, timing round trips as the mechanisms' are timed
// (timeRoundTrips: per-sample percentiles and batch means). before names the row it precedes ("" for the leading
// row).
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
	path := e.arenaPath()
	a, err := arena.Create(path, 1<<20, arena.WithPrefault())
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer arena.Remove(path, arena.WithForce())
	defer a.Close()
	reg, err := a.Alloc("floor", 128, 128)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	w := floorAt(reg.Bytes())
	s := &session{}
	spec := peerSpec{Transport: "floor", Mode: modeFloor, CPU: e.cfg.CPUs[1], Arena: path, Deadline: deadline.UnixNano()}
	if err := e.spawn(ctx, s, spec, nil, nil, deadline); err != nil {
		row.Error = err.Error()
		return row
	}
	stop := func() { atomic.StoreUint64(&w.ping, floorStop) }
	waitPong := func(v uint64) error {
		// spins from 1: the first check comes after 4096 polls, so a
		// round trip reads no clock (from 0, every one read it).
		for spins := 1; atomic.LoadUint64(&w.pong) != v; spins++ {
			if spins&4095 == 0 && (time.Now().After(deadline) || s.peers[0].child.Exited()) {
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
	arena.Remove(path, arena.WithForce()) // unlinked while the peer uses it: a killed run leaves no file
	h := newHist()
	seq := uint64(0)
	ping := func() error {
		seq++
		atomic.StoreUint64(&w.ping, seq)
		return waitPong(seq)
	}
	bm, err := timeRoundTrips(ctx, e.cfg.Warmup, dur, h, ping)
	if err != nil {
		stop()
		row.Error = s.fail(err).Error()
		return row
	}
	stop()
	if err := s.exited("floor peer"); err != nil {
		row.Error = err.Error()
		return row
	}
	row = rowFrom(name, h)
	bm.apply(&row)
	return row
}

// peerFloor answers every ping with a pong of the same value, spinning
// with plain atomics: the hardware's round-trip floor.
func peerFloor(spec peerSpec) (peerResult, error) {
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
	deadline := spec.deadline()
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
