package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/cpu"
)

// Steps returns how many measurements Run will make with cfg, for a
// progress display.
func Steps(cfg Config) int {
	n := 1 // the leading floor row
	for _, m := range mechanisms() {
		if !cfg.selected(m) {
			continue
		}
		if m.latency {
			n++
			if m.floorPair || m.goTwin {
				n++
			}
		}
		switch {
		case !m.stream:
		case m.goTwin:
			n += 2 * altRuns * len(m.sizes(cfg)) // its runs and its twin's
		case m.alternate:
			n += 2 * altRuns * len(cfg.Sizes) // its runs and the stream floor's
		case m.name == nameStreamFloor && cfg.alternating():
			// Counted with the row it alternates with.
		default:
			n += len(cfg.Sizes)
		}
	}
	return n + frameSteps(cfg)
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
	for _, m := range mechanisms() {
		if cfg.selected(m) && m.peerCount()+1 > runtime.NumCPU() {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s runs %d processes on %d CPUs: its %d peer processes share the peer's CPU",
				m.name, m.peerCount()+1, runtime.NumCPU(), m.peerCount()))
		}
	}
	if runtime.GOOS != "linux" {
		r.Warnings = append(r.Warnings, "CPU pinning and futexes are Linux-only; numbers here are not comparable")
	}

	// The C peer, compiled once for its rows (or a warning that skips them).
	defer e.prepareCPeer(ctx, r)()

	// Latency.
	floorRow := e.floor(ctx, "")
	r.Latency = append(r.Latency, floorRow)
	var futexRow *LatencyRow // the last futex floor measured
	for _, m := range mechanisms() {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if !m.latency || !cfg.selected(m) || e.skipped(m) {
			continue
		}
		var fl, tw LatencyRow
		if m.floorPair {
			fl = e.floor(ctx, m.name)
		}
		if m.goTwin {
			tw = e.latency(ctx, m.twin())
		}
		row := e.latency(ctx, m)
		if m.floorPair {
			pairFloor(&row, fl)
		}
		if m.goTwin {
			pairGo(&row, tw)
		}
		if m.vsFutex && futexRow != nil {
			pairFutex(&row, *futexRow)
		}
		if m.name == nameFutex && row.Error == "" {
			futexRow = &row
		}
		r.Latency = append(r.Latency, row)
	}
	// Throughput.
	for _, size := range streamSizes(cfg) {
		for _, m := range mechanisms() {
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			if !m.stream || !cfg.selected(m) || e.skipped(m) || !slices.Contains(m.sizes(cfg), size) {
				continue
			}
			switch {
			case m.goTwin:
				tw, row := e.alternated(ctx, m.twin(), m, size)
				pairGoRate(&row, tw)
				r.Throughput = append(r.Throughput, row)
			case m.alternate:
				fl, row := e.alternated(ctx, streamFloorMechanism(), m, size)
				r.Throughput = append(r.Throughput, fl, row)
			case m.name == nameStreamFloor && cfg.alternating():
				// Measured in turn with the row it alternates with.
			default:
				r.Throughput = append(r.Throughput, e.throughput(ctx, m, size, cfg.ThroughputDuration))
			}
		}
	}
	// Frames through the record ring, the fixed-slot ring and a socket.
	e.frames(ctx, r)
	ratios(r)
	r.Targets = targets(r)
	r.Elapsed = time.Since(r.Started).Seconds()
	return r, ctx.Err()
}

// sizes are the message sizes m streams at with cfg.
func (m mechanism) sizes(cfg Config) []int {
	if m.streamSize != 0 {
		return []int{m.streamSize}
	}
	return cfg.Sizes
}

// streamSizes are the sizes of the throughput runs, ascending: cfg.Sizes
// and those of the selected rows that stream at a size of their own.
func streamSizes(cfg Config) []int {
	sizes := slices.Clone(cfg.Sizes)
	for _, m := range mechanisms() {
		if m.stream && m.streamSize != 0 && cfg.selected(m) {
			sizes = append(sizes, m.streamSize)
		}
	}
	slices.Sort(sizes)
	return slices.Compact(sizes)
}

// engine is one run's state: the configuration, the progress display,
// the counter that names arena files and the C peer's program.
type engine struct {
	cfg  Config
	prog Progress
	seq  atomic.Int64
	// cpeer is the C peer program's path (cpeer.go), "" if no C row is
	// selected or it could not be built.
	cpeer string
}

// arenaPath names a fresh arena file for one measurement.
func (e *engine) arenaPath() string {
	return filepath.Join(e.cfg.Dir, fmt.Sprintf("shmring-bench-%d-%d", os.Getpid(), e.seq.Add(1)))
}

// newArena creates a fresh prefaulted arena file of size bytes for one
// session. remove unlinks it WithForce, since it is called once the peer
// has attached, while both sides still use it (a killed run then leaves
// no file).
func (e *engine) newArena(size int64) (a *arena.Arena, path string, remove func(), err error) {
	path = e.arenaPath()
	a, err = arena.Create(path, size, arena.WithPrefault())
	if err != nil {
		return nil, "", nil, err
	}
	return a, path, func() { arena.Remove(path, arena.WithForce()) }, nil
}
