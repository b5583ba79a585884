// Command soak runs producer and consumer processes over shmring rings in a
// shared-memory arena for a while and proves that every message was
// delivered exactly once, in per-producer order, intact, and that the
// rings' counters agree.
//
//	go run ./fuzz/cmd/soak                          # 30 s, 2 producers, 2 consumers, SPSC, MPMC and records
//	go run ./fuzz/cmd/soak -duration 10m -kind mpmc -producers 4 -consumers 3
//
// It creates an arena in /dev/shm (or -dir) and re-executes itself as
// -producers producer processes and -consumers consumer processes. With
// -kind mpmc or both, all of them share one MPMC ring, producer p writing
// stream p. With -kind spsc or both there are also max(producers,
// consumers) SPSC rings, ring i fed by producer i%producers and drained by
// consumer i%consumers, so each SPSC ring has exactly one producer and one
// consumer process and they run in parallel. With -kind records or all (the
// default) there is also one record ring of -rec-capacity bytes (256 KiB
// or 192 KiB, drawn from the seed) holding records up to -rec-slotsize,
// which every producer writes (its own stream) and one consumer drains:
// messages of fuzz.RecordSize lengths (some above 2048 bytes), several
// reservations held at once and committed in any order, pipelined peeks.
// The other rings have -slots slots of -slotsize bytes.
//
// Producers push numbered messages of random sizes (MinMessage to
// -slotsize) until the duration is up, mixing Push, TryPush,
// Reserve/Commit and PushBatch, pausing now and then for up to 200µs, each
// ring handle with a random wait strategy. Then the parent closes the
// rings and consumers (Pop, PopBatch, Peek/Release, TryPop, also with
// random strategies and pauses) drain them to io.EOF.
//
// Checks. Each message carries (stream, seq, length, CRC-32C), see
// fuzz.EncodeMessage: a consumer checks the length and checksum (corrupt)
// and that a stream's numbers strictly increase (out of order). It reports
// what it received to the parent as run-length ranges per stream, and the
// parent merges them in a fuzz.Ledger, which proves, in memory bounded by
// how far consumers drift apart rather than by the message count, that the
// union of the consumers' numbers is exactly [0, sent) without overlap
// (lost, duplicated). Last, each ring's Stats must show MsgsIn == MsgsOut
// == what its producers sent and BytesIn == BytesOut == their bytes, an
// empty ring, the closed flag, and Skipped == Redelivered == 0.
//
// Every wait is bounded: children's operations by a deadline of the
// duration plus 60 s, after which the parent kills them. The last line is
// the verdict:
//
//	soak: PASS 123456789 messages (2 producers, 2 consumers, spsc+mpmc) in 30.0s: 0 lost, 0 duplicated, 0 out of order, 0 corrupt
//
// and the exit status is non-zero unless it says PASS. -seed replays the
// random choices (not the interleavings).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// grace is how long past the duration every wait may last.
const grace = 60 * time.Second

func main() { fuzz.Main("soak", roles, run) }

type options struct {
	fuzz.RunFlags
	producers, consumers int
	duration             time.Duration
	// The record ring: capacity in bytes (0: drawn from the seed) and
	// largest record.
	recCapacity, recSlots int
}

// Record ring geometry: the capacity is drawn from recCapacities (a power
// of two, and one that is not).
var recCapacities = []int{256 << 10, 3 * 64 << 10}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{RunFlags: fuzz.RunFlags{Slots: 256, SlotSize: 512}}
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.producers, "producers", 2, "producer processes")
	fs.IntVar(&o.consumers, "consumers", 2, "consumer processes")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long producers produce")
	fs.IntVar(&o.recCapacity, "rec-capacity", 0, "record ring capacity in bytes, a multiple of 4096 (0: 256 KiB or 192 KiB, drawn from the seed)")
	fs.IntVar(&o.recSlots, "rec-slotsize", 16<<10, "largest record of the record ring, in bytes")
	o.Register(fs, "print each process's account")
	if err := o.Parse(fs, args); err != nil {
		return o, err
	}
	if o.recCapacity == 0 {
		o.recCapacity = recCapacities[o.Seed>>33%uint64(len(recCapacities))]
	}
	switch {
	case o.recCapacity < ring.MinRecordCapacity || o.recCapacity%4096 != 0 || o.recCapacity > 1<<30:
		return o, fmt.Errorf("-rec-capacity must be a multiple of 4096 in [4096,%d]", 1<<30)
	case o.recSlots < fuzz.MinMessage || o.recSlots > o.recCapacity/2-16:
		return o, fmt.Errorf("-rec-slotsize must be in [%d,%d] (half the capacity, less 16)", fuzz.MinMessage, o.recCapacity/2-16)
	case o.producers < 1 || o.producers > 64, o.consumers < 1 || o.consumers > 64:
		return o, fmt.Errorf("-producers and -consumers must be in [1,64]")
	case o.duration <= 0:
		return o, fmt.Errorf("-duration must be positive")
	}
	return o, nil
}

// soakRing is a ring of the soak as the parent sees it.
type soakRing struct {
	spec   ringSpec
	handle ring.Ring // the creator's handle, for Close
	// Filled in from the children's reports.
	sent, sentBytes, recvBytes uint64
}

// child is a started child process and what it told the parent.
type child struct {
	spec   childSpec
	proc   *xproc.Child
	report *childReport
	err    error
	done   chan struct{}
}

// soak is one run's state.
type soak struct {
	o        options
	out      io.Writer
	a        *arena.Arena
	rings    []*soakRing
	ledger   *fuzz.Ledger
	mu       sync.Mutex
	problems []string
}

func (s *soak) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// run is the whole command: it parses args, runs the soak and prints the
// verdict on stdout. It returns fuzz.ErrFailed if the verdict is FAIL.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	s := &soak{o: o, out: stdout, ledger: fuzz.NewLedger()}
	return s.run(ctx)
}

func (s *soak) run(ctx context.Context) error {
	o := s.o
	path := filepath.Join(o.Dir, fmt.Sprintf("shmring-soak-%d", os.Getpid()))
	if err := s.setup(path); err != nil {
		return err
	}
	defer arena.Remove(path)
	defer s.a.Close()
	fmt.Fprintf(s.out, "soak: seed %d, arena %s, %s, %d slots of %d bytes, producing for %v\n",
		o.Seed, path, s.ringSummary(), o.Slots, o.SlotSize, o.duration)
	for _, r := range s.rings {
		if rc, ok := r.handle.(*ring.Records); ok {
			fmt.Fprintf(s.out, "soak: record ring %s: %d producers, consumer %d, %d KiB, records up to %d KiB, mirrored %v\n",
				r.spec.Name, len(r.spec.Streams), r.spec.Consumer, rc.Capacity()>>10, rc.SlotSize()>>10, rc.Mirrored())
		}
	}

	start := time.Now()
	stopAt := start.Add(o.duration)
	deadline := stopAt.Add(grace)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(5*time.Second))
	defer cancel()

	var producers, consumers []*child
	for c := range o.consumers {
		consumers = append(consumers, s.start(ctx, s.childSpec("consumer", c, path, stopAt, deadline)))
	}
	for p := range o.producers {
		producers = append(producers, s.start(ctx, s.childSpec("producer", p, path, stopAt, deadline)))
	}
	for _, c := range producers {
		<-c.done
	}
	// Every producer is gone, so no push is in flight: close the rings,
	// and the consumers drain them to io.EOF.
	for _, r := range s.rings {
		if err := r.handle.CloseWrite(); err != nil {
			s.problem("close %s: %v", r.spec.Name, err)
		}
		r.handle.Detach()
	}
	for _, c := range consumers {
		<-c.done
	}
	elapsed := time.Since(start)
	for _, c := range append(producers, consumers...) {
		if c.err != nil {
			s.problem("%s %d: %v", c.spec.Role, c.spec.Index, c.err)
		}
	}
	return s.verdict(producers, consumers, elapsed)
}

// setup creates the arena, the rings and the progress region.
func (s *soak) setup(path string) error {
	o := s.o
	cfg := ring.Config{Slots: o.Slots, SlotSize: o.SlotSize}
	var specs []ringSpec
	nspsc := 0
	if o.Has("spsc") {
		nspsc = max(o.producers, o.consumers)
		for i := range nspsc {
			specs = append(specs, ringSpec{Name: fmt.Sprintf("spsc%d", i), Kind: "spsc", Slots: o.Slots,
				Streams: []uint32{uint32(o.producers + i)}})
		}
	}
	if o.Has("mpmc") {
		rs := ringSpec{Name: "mpmc", Kind: "mpmc", Slots: o.Slots}
		for p := range o.producers {
			rs.Streams = append(rs.Streams, uint32(p))
		}
		specs = append(specs, rs)
	}
	// Streams: the MPMC ring's 0..P-1, the SPSC rings' P.., the record
	// ring's after them.
	streams := o.producers + nspsc
	rcfg := ring.Config{Capacity: o.recCapacity, SlotSize: o.recSlots}
	var extra int64 // the record ring, of another geometry
	if o.Has("records") {
		// Every producer, one consumer (the one after the SPSC rings').
		rs := ringSpec{Name: "records", Kind: "records", Slots: o.recCapacity / 48, SlotSize: o.recSlots, Consumer: nspsc % o.consumers}
		for p := range o.producers {
			rs.Streams = append(rs.Streams, uint32(streams+p))
		}
		streams += o.producers
		specs = append(specs, rs)
		n, err := fuzz.ArenaSize(rcfg, 0, ring.KindRecords)
		if err != nil {
			return err
		}
		extra += n
	}
	var kinds []arena.Kind
	for _, rs := range specs {
		switch rs.Kind {
		case "spsc":
			kinds = append(kinds, ring.KindSPSC)
		case "mpmc":
			kinds = append(kinds, ring.KindMPMC)
		}
	}
	size, err := fuzz.ArenaSize(cfg, int64(streams*progressStride)+extra, kinds...)
	if err != nil {
		return err
	}
	a, err := arena.Create(path, size, arena.WithDirCapacity(len(specs)+8))
	if err != nil {
		return err
	}
	s.a = a
	if _, err := a.Alloc(progressRegion, int64(streams*progressStride), 0); err != nil {
		a.Close()
		arena.Remove(path)
		return err
	}
	for _, rs := range specs {
		var h ring.Ring
		var consumers []int
		switch rs.Kind {
		case "spsc":
			h, err = ring.CreateSPSC(a, rs.Name, cfg)
			consumers = []int{int(rs.Streams[0]-uint32(o.producers)) % o.consumers}
		case "records":
			h, err = ring.CreateRecords(a, rs.Name, rcfg)
			consumers = []int{rs.Consumer}
		default:
			h, err = ring.CreateMPMC(a, rs.Name, cfg)
			for c := range o.consumers {
				consumers = append(consumers, c)
			}
		}
		if err == nil {
			for _, st := range rs.Streams {
				if err = s.ledger.AddStream(st, consumers); err != nil {
					break
				}
			}
		}
		if err != nil {
			a.Close()
			arena.Remove(path)
			return err
		}
		s.rings = append(s.rings, &soakRing{spec: rs, handle: h})
	}
	return nil
}

func (s *soak) ringSummary() string {
	var spsc, mpmc, recs int
	for _, r := range s.rings {
		switch r.spec.Kind {
		case "spsc":
			spsc++
		case "mpmc":
			mpmc++
		default:
			recs++
		}
	}
	var parts []string
	if spsc > 0 {
		parts = append(parts, fmt.Sprintf("%d SPSC ring(s)", spsc))
	}
	if mpmc > 0 {
		parts = append(parts, "1 MPMC ring")
	}
	if recs > 0 {
		parts = append(parts, "1 record ring")
	}
	return strings.Join(parts, " + ")
}

// childSpec assigns a child its rings: an SPSC ring i belongs to producer
// i%producers and consumer i%consumers; the MPMC ring to everyone; the
// record ring to every producer and its one consumer.
func (s *soak) childSpec(role string, idx int, path string, stopAt, deadline time.Time) childSpec {
	o := s.o
	spec := childSpec{Role: role, Index: idx, Arena: path, StopAt: stopAt.UnixNano(), Deadline: deadline.UnixNano(),
		SlotSize: o.SlotSize, Inject: o.Inject}
	spec.Seed = o.Seed ^ uint64(idx+1)*0x9e3779b97f4a7c15
	if role == "consumer" {
		spec.Seed = ^spec.Seed
	}
	for i, r := range s.rings {
		rs := r.spec
		switch {
		case rs.Kind == "mpmc" && role == "producer":
			rs.Stream, rs.Streams = uint32(idx), nil
		case rs.Kind == "mpmc":
		case rs.Kind == "records" && role == "producer":
			rs.Stream, rs.Streams = rs.Streams[idx], nil
		case rs.Kind == "records" && idx == rs.Consumer:
		case rs.Kind == "records":
			continue
		case role == "producer" && i%o.producers == idx:
			rs.Stream, rs.Streams = rs.Streams[0], nil
		case role == "consumer" && i%o.consumers == idx:
		default:
			continue
		}
		spec.Rings = append(spec.Rings, rs)
	}
	return spec
}

// start starts a child and a goroutine that reads its frames; c.done is
// closed once the child has exited and its output is consumed.
func (s *soak) start(ctx context.Context, spec childSpec) *child {
	c := &child{spec: spec, done: make(chan struct{})}
	fail := func(err error) *child {
		c.err = err
		if spec.Role == "consumer" {
			s.ledger.Done(spec.Index)
		}
		close(c.done)
		return c
	}
	args, err := xproc.SpecArgs(spec)
	if err != nil {
		return fail(err)
	}
	// The child writes its frames into a pipe of ours; once it has
	// exited, and our copy of the writing end is closed, the reader sees
	// EOF.
	stdout, w, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	c.proc, err = xproc.Start(ctx, xproc.Options{
		Role: childRole, Args: args,
		Stdout: w, Stderr: os.Stderr,
		Deadline: time.Unix(0, spec.Deadline).Add(5 * time.Second),
	})
	w.Close()
	if err != nil {
		stdout.Close()
		return fail(err)
	}
	go func() {
		defer close(c.done)
		defer stdout.Close()
		rerr := readFrames(stdout, func(f frame) error { return s.handle(c, f) })
		if rerr != nil {
			io.Copy(io.Discard, stdout)
		}
		if spec.Role == "consumer" {
			s.ledger.Done(spec.Index)
		}
		werr := c.proc.Wait()
		c.err = errors.Join(rerr, werr)
		if c.err == nil && c.report == nil {
			c.err = errors.New("exited without a report")
		}
	}()
	return c
}

// handle takes one frame from child c.
func (s *soak) handle(c *child, f frame) error {
	switch f.tag {
	case tagRange:
		if err := s.ledger.Deliver(c.spec.Index, f.stream, f.a, f.a+f.b); err != nil {
			s.problem("%v", err)
		}
	case tagFloor:
		if err := s.ledger.Floor(c.spec.Index, f.stream, f.a); err != nil {
			s.problem("%v", err)
		}
	case tagProblem:
		s.problem("%s %d: %s", c.spec.Role, c.spec.Index, f.data)
	case tagReport:
		var rep childReport
		if err := json.Unmarshal(f.data, &rep); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		c.report = &rep
	}
	return nil
}

// verdict checks the accounts and prints the verdict.
func (s *soak) verdict(producers, consumers []*child, elapsed time.Duration) error {
	o := s.o
	byName := map[string]*soakRing{}
	for _, r := range s.rings {
		byName[r.spec.Name] = r
	}
	sent := map[uint32]uint64{}
	var outOfOrder, corrupt uint64
	for _, c := range append(producers, consumers...) {
		if c.report == nil {
			continue
		}
		for _, rr := range c.report.Rings {
			r := byName[rr.Ring]
			if r == nil {
				s.problem("%s %d reported on unknown ring %q", c.spec.Role, c.spec.Index, rr.Ring)
				continue
			}
			if c.spec.Role == "producer" {
				sent[rr.Stream] += rr.Msgs
				r.sent += rr.Msgs
				r.sentBytes += rr.Bytes
			} else {
				r.recvBytes += rr.Bytes
				outOfOrder += rr.OutOfOrder
				corrupt += rr.Corrupt
			}
			if o.Verbose {
				fmt.Fprintf(s.out, "soak: %s %d on %s (%s): %d messages, %d bytes\n", c.spec.Role, c.spec.Index, rr.Ring, rr.Strategy, rr.Msgs, rr.Bytes)
			}
		}
	}
	var total fuzz.Counts
	var details []string
	for _, r := range s.rings {
		var rc fuzz.Counts
		for _, st := range r.spec.Streams {
			c, err := s.ledger.Finish(st, sent[st])
			if err != nil {
				s.problem("%v", err)
			}
			rc = rc.Add(c)
		}
		total = total.Add(rc)
		stats, err := ring.Inspect(s.a, r.spec.Name)
		if err != nil {
			s.problem("%s: stats: %v", r.spec.Name, err)
			continue
		}
		if stats.Skipped != 0 || stats.Redelivered != 0 { // nobody died
			s.problem("%s: counters: Skipped %d, Redelivered %d", r.spec.Name, stats.Skipped, stats.Redelivered)
		}
		if stats.MsgsIn != r.sent || stats.MsgsOut != stats.MsgsIn || stats.Len != 0 || !stats.Closed {
			s.problem("%s: counters: MsgsIn %d, MsgsOut %d, Len %d, closed %v; producers sent %d",
				r.spec.Name, stats.MsgsIn, stats.MsgsOut, stats.Len, stats.Closed, r.sent)
		}
		if stats.BytesIn != r.sentBytes || stats.BytesOut != r.recvBytes || stats.BytesIn != stats.BytesOut {
			s.problem("%s: counters: BytesIn %d, BytesOut %d; producers sent %d bytes, consumers popped %d",
				r.spec.Name, stats.BytesIn, stats.BytesOut, r.sentBytes, r.recvBytes)
		}
		details = append(details, fmt.Sprintf("%s %d msgs %.1f MB (full %d, empty %d, sleeps %d)",
			r.spec.Name, rc.Delivered, float64(stats.BytesOut)/1e6, stats.FullEvents, stats.EmptyEvents, stats.Sleeps))
	}
	secs := elapsed.Seconds()
	var bytesOut uint64
	for _, r := range s.rings {
		bytesOut += r.recvBytes
	}
	fmt.Fprintf(s.out, "soak: %s; %.2fM msgs/s, %.0f MB/s; ledger peak %d pending ranges\n",
		strings.Join(details, ", "), float64(total.Delivered)/secs/1e6, float64(bytesOut)/secs/1e6, s.ledger.Peak())
	if total.Unsent > 0 {
		s.problem("%d valid messages delivered that were never sent", total.Unsent)
		corrupt += total.Unsent
	}
	sort.Strings(s.problems)
	fuzz.PrintProblems(s.out, "soak", s.problems, 20)
	pass := len(s.problems) == 0 && total.Lost == 0 && total.Duplicated == 0 && outOfOrder == 0 && corrupt == 0
	fmt.Fprintf(s.out, "soak: %s %d messages (%d producers, %d consumers, %s) in %.1fs: %d lost, %d duplicated, %d out of order, %d corrupt\n",
		fuzz.Verdict(pass), total.Delivered, o.producers, o.consumers, o.Kinds(), secs, total.Lost, total.Duplicated, outOfOrder, corrupt)
	if !pass {
		return fuzz.ErrFailed
	}
	return nil
}
