// Command crash is the kill -9 campaign (issue 9): producer and consumer
// processes on SPSC, MPMC, broadcast and record rings in one shared-memory arena,
// killed with SIGKILL at chosen moments and restarted, while a ledger in
// shared memory proves that only what the killed processes held was lost
// or delivered twice, that nothing was corrupted, that the survivors
// carried on within a second, and that no futex registration leaked.
//
//	go run ./fuzz/cmd/crash                          # 30 s, SPSC, MPMC, broadcast and records, about 5 kills/s
//	go run ./fuzz/cmd/crash -duration 10s -kind spsc
//	go run ./fuzz/cmd/crash -duration 10s -kind broadcast -tethered 3 -lossy 2
//	go run ./fuzz/cmd/crash -duration 40m -kills-per-sec 8 -min-kills 10000
//
// Rings. It creates an arena in /dev/shm (or -dir) and re-executes itself
// as the children. -kind names the rings (all by default; both is
// spsc+mpmc): with spsc, -producers SPSC rings, each with one producer
// process and one consumer process; with mpmc, one MPMC ring shared by
// -producers producer and -consumers consumer processes; with broadcast,
// one broadcast ring with one producer process and -tethered tethered and
// -lossy lossy subscriber processes; with records, one record ring of
// -rec-capacity bytes (256 KiB or 192 KiB, drawn from the seed) holding
// records up to -rec-slotsize, with -rec-producers producer processes and
// one consumer process. The other rings have -slots slots of -slotsize
// bytes. Producer slot p writes stream p: messages carrying (p,
// seq, length, CRC-32C), fuzz.EncodeMessage. Producers mix Push, TryPush,
// Reserve/Commit and PushBatch; consumers (subscribers) Pop, TryPop,
// PopBatch and Peek/Release; on the record ring a producer holds several
// reservations at once (committed in any order) and the consumer several
// peeks (pipelined); every incarnation picks a wait strategy
// (mostly ones that sleep in the futex). Each child pauses now and then,
// and dawdles while it holds a reservation or a peeked message, so that
// kills find it there. A restarted broadcast producer takes the side over
// (OpenBroadcast); a restarted subscriber subscribes anew, at Newest if
// tethered, at Oldest or Newest (drawn) if lossy.
//
// Ledger. The ledger is a region of the same arena (ledger.go gives its
// layout) that the children write with atomics, so a killed child's last
// records survive it. A producer records, before each call, the end of
// the numbers the call may push (Attempt) and, after it returned, the
// numbers committed (Committed); a restarted producer continues at
// Attempt. A consumer journals every message it receives (stream, seq) as
// soon as it has it, and records how many messages its call in flight may
// take (Claim) and which peeked message it holds journaled but unreleased
// (Held). A broadcast subscriber journals its laps too, and records
// where it joined; a broadcast producer, the position its messages start
// at. Every child publishes its state (idle, in a push or pop, holding
// a reservation or a peeked message, in a batch, held, ...). The
// supervisor drains the journals every millisecond into a fuzz.Tally,
// which counts how often each number was delivered, and after each death
// reads the dead child's record before it starts the next incarnation.
//
// Kills. About -kills-per-sec times a second (or every -interval) the
// supervisor picks a child and a target: idle, in a call, holding (a
// reservation or a peeked message), in a batch, or asleep in the futex (a
// consumer blocked in Pop on an empty ring, a producer in Push on a full
// one: the supervisor asks the other side to pause, through the ledger,
// until the ring is empty or full and the target has sat registered in
// the futex for 2 ms); for a broadcast subscriber also right after
// Subscribe returned (it kills the running one, then its successor as it
// joins), and for a broadcast producer between a slot's write and its
// publish (it stops the producer in a batch with SIGSTOP, again and
// again, until its own lossy subscriber, the probe, reads a completed,
// unpublished message past the published position, and kills it
// stopped). It waits up to 300 ms for the child to be in that state and
// kills it then, or kills it where it is when the wait runs out. The
// child's record after its death says where the kill landed. A quarter of
// the kills of tethered subscribers start the successor only after 1.25 s.
//
// Checks. contract.go states the crash contract the verifier enforces and
// is the one place that encodes it: a killed producer's call in flight may
// lose its own messages; a killed consumer's journaled, unreleased peek
// may be delivered again, and the messages its call in flight took may
// die with it (up to its Claim, and on SPSC only the next ones after its
// last journaled message); everything else is delivered exactly once,
// intact, in per-producer order, and the ring's MsgsOut, Skipped and
// Redelivered counters agree with the ledger; on a record ring every
// journaled, unreleased peek of a killed consumer may come again, and
// Skipped, MsgsIn and MsgsOut lie within what the ledger bounds (rule
// (f)). contract_broadcast.go does
// the same for broadcast rings: each tethered subscriber process sees the
// stream from where it joined in order, without a gap or a duplicate,
// each lossy one accounts for every message as delivered or missed,
// exactly, and a killed producer's completed messages appear once, to
// everyone, or to nobody. After each kill, the time until the ring's
// consumers have journaled more than a ringful of messages again (on a
// broadcast ring: until its producer has committed more than a ringful)
// is its stall; every stall must be under 1 s. At the end producers stop,
// the rings are closed and drained to io.EOF, Recover runs on each ring,
// and NotEmptyWaiters and NotFullWaiters must be 0.
//
// The last line is the verdict, and the exit status is non-zero unless it
// says PASS:
//
//	crash: PASS 150 kills, 3456789 messages (spsc+mpmc+broadcast) in 30.0s: 0 lost, 0 duplicated, 0 corrupt, 0 out of order, 0 leaked; stall p50 20ms p99 90ms max 120ms
//
// It fails on any loss, duplicate, corruption, out-of-order delivery or
// leak beyond the contract, a stall of 1 s or more, a ring that did not
// drain (frozen), a child that failed by itself, or fewer than -min-kills
// kills. Every child call has a deadline (3 s), every child the
// campaign's; the supervisor's own run is bounded by the duration plus a
// minute. -seed replays the random choices (not the interleavings);
// -inject drop|dup|reorder|corrupt|torn plants a fault to show that the
// checks fail (a consumer that loses a message, journals one twice or two
// out of order; a producer that corrupts a message or tears it).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/ring"
)

func main() { fuzz.Main("crash", roles, run) }

type options struct {
	fuzz.RunFlags
	duration             time.Duration
	killsPerSec          float64
	interval             time.Duration
	producers, consumers int
	tethered, lossy      int // broadcast subscribers
	minKills             int
	// The record ring: producer processes (its one consumer process is
	// fixed), capacity in bytes (0: drawn from the seed) and largest
	// record.
	recProducers          int
	recCapacity, recSlots int
}

// Record ring geometry: the capacity is drawn from recCapacities (a power
// of two, and one that is not), and records are up to recSlotSize bytes.
var recCapacities = []int{256 << 10, 3 * 64 << 10}

const recSlotSize = 32 << 10

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{RunFlags: fuzz.RunFlags{Slots: 64, SlotSize: 256, Broadcast: true, MoreFaults: []string{"reorder", "torn"}}}
	fs := flag.NewFlagSet("crash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to kill and restart")
	fs.Float64Var(&o.killsPerSec, "kills-per-sec", 5, "kills per second, on average")
	fs.DurationVar(&o.interval, "interval", 0, "mean time between kills (overrides -kills-per-sec)")
	fs.IntVar(&o.producers, "producers", 2, "SPSC rings, and producer processes on the MPMC ring")
	fs.IntVar(&o.consumers, "consumers", 2, "consumer processes on the MPMC ring")
	fs.IntVar(&o.tethered, "tethered", 2, "tethered subscriber processes on the broadcast ring")
	fs.IntVar(&o.lossy, "lossy", 1, "lossy subscriber processes on the broadcast ring")
	fs.IntVar(&o.minKills, "min-kills", 0, "fail unless at least this many kills were made")
	fs.IntVar(&o.recProducers, "rec-producers", 3, "producer processes on the record ring")
	fs.IntVar(&o.recCapacity, "rec-capacity", 0, "record ring capacity in bytes, a multiple of 4096 (0: 256 KiB or 192 KiB, drawn from the seed)")
	fs.IntVar(&o.recSlots, "rec-slotsize", recSlotSize, "largest record of the record ring, in bytes")
	o.Register(fs, "print every kill")
	if err := o.Parse(fs, args); err != nil {
		return o, err
	}
	if o.recCapacity == 0 {
		o.recCapacity = recCapacities[o.Seed>>33%uint64(len(recCapacities))]
	}
	if o.interval == 0 && o.killsPerSec > 0 {
		o.interval = time.Duration(float64(time.Second) / o.killsPerSec)
	}
	switch {
	case o.producers < 1 || o.producers > 32, o.consumers < 1 || o.consumers > 32:
		return o, fmt.Errorf("-producers and -consumers must be in [1,32]")
	case o.tethered < 0 || o.lossy < 0 || o.tethered+o.lossy < 1 || o.tethered+o.lossy > 16:
		return o, fmt.Errorf("-tethered and -lossy must be at least 0, together in [1,16]")
	case o.recProducers < 1 || o.recProducers > 32:
		return o, fmt.Errorf("-rec-producers must be in [1,32]")
	case o.recCapacity < ring.MinRecordCapacity || o.recCapacity%4096 != 0 || o.recCapacity > 1<<30:
		return o, fmt.Errorf("-rec-capacity must be a multiple of 4096 in [4096,%d]", 1<<30)
	case o.recSlots < fuzz.MinMessage || o.recSlots > o.recCapacity/2-16:
		return o, fmt.Errorf("-rec-slotsize must be in [%d,%d] (half the capacity, less 16)", fuzz.MinMessage, o.recCapacity/2-16)
	case o.duration <= 0:
		return o, fmt.Errorf("-duration must be positive")
	case o.interval < time.Millisecond:
		return o, fmt.Errorf("-interval (or 1/-kills-per-sec) must be at least 1ms")
	}
	return o, nil
}

// run is the whole command: it parses args, runs the campaign and prints
// the verdict on stdout. It returns fuzz.ErrFailed if the verdict is FAIL.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	c := newCampaign(o, stdout)
	path := filepath.Join(o.Dir, fmt.Sprintf("shmring-crash-%d", os.Getpid()))
	if err := c.setup(path); err != nil {
		return err
	}
	defer arena.Remove(path, arena.WithForce()) // every child is dead by then
	defer c.a.Close()
	return c.run(ctx)
}

// setup creates the arena, the rings and the ledger, and the slots of the
// children that will work on them.
func (c *campaign) setup(path string) error {
	o := c.o
	// Peer entries for every live handle (children and the supervisor's)
	// and as many dead ones, so that no handle falls back to the shared
	// overflow entry, whose sleepers Recover cannot repair.
	cfg := ring.Config{Slots: o.Slots, SlotSize: o.SlotSize, Peers: max(ring.DefaultPeers, 2*(o.producers+o.consumers+1)+1)}
	// Subscriber entries likewise: the live ones and as many dead.
	subs := o.tethered + o.lossy
	bcfg := cfg
	bcfg.Subscribers = 2*subs + 1
	type spec struct {
		name, kind           string
		producers, consumers int
	}
	var specs []spec
	if o.Has("spsc") {
		for i := range o.producers {
			specs = append(specs, spec{fmt.Sprintf("spsc%d", i), "spsc", 1, 1})
		}
	}
	if o.Has("mpmc") {
		specs = append(specs, spec{"mpmc", "mpmc", o.producers, o.consumers})
	}
	if o.Has("broadcast") {
		specs = append(specs, spec{"bcast", "broadcast", 1, subs})
	}
	rcfg := ring.Config{Capacity: o.recCapacity, SlotSize: o.recSlots, Peers: max(ring.DefaultPeers, 2*(o.recProducers+2)+1)}
	if o.Has("records") {
		specs = append(specs, spec{"records", "records", o.recProducers, 1})
	}
	var g ledgerGeometry
	g.Rings = len(specs)
	var kinds []arena.Kind
	var bsize int64 // the broadcast and record rings, of other geometries
	for _, s := range specs {
		g.Producers += s.producers
		g.Consumers += s.consumers
		switch s.kind {
		case "spsc":
			kinds = append(kinds, ring.KindSPSC)
		case "mpmc":
			kinds = append(kinds, ring.KindMPMC)
		case "records":
			n, err := fuzz.ArenaSize(rcfg, 0, ring.KindRecords)
			if err != nil {
				return err
			}
			bsize += n
		default:
			n, err := fuzz.ArenaSize(bcfg, 0, ring.KindBroadcast)
			if err != nil {
				return err
			}
			bsize += n
		}
	}
	size, err := fuzz.ArenaSize(cfg, g.size()+bsize, kinds...)
	if err != nil {
		return err
	}
	a, err := arena.Create(path, size, arena.WithDirCapacity(len(specs)+8))
	if err != nil {
		return err
	}
	c.a, c.path = a, path
	fail := func(err error) error {
		a.Close()
		arena.Remove(path, arena.WithForce())
		return err
	}
	reg, err := a.Alloc(ledgerRegion, g.size(), 0)
	if err != nil {
		return fail(err)
	}
	if c.l, err = newLedger(reg.Bytes(), g); err != nil {
		return fail(err)
	}
	for i, s := range specs {
		var h ringHandle
		switch s.kind {
		case "spsc":
			h, err = ring.CreateSPSC(a, s.name, cfg)
		case "mpmc":
			h, err = ring.CreateMPMC(a, s.name, cfg)
		case "records":
			h, err = ring.CreateRecords(a, s.name, rcfg)
		default:
			h, err = ring.CreateBroadcast(a, s.name, bcfg)
		}
		if err != nil {
			return fail(err)
		}
		r := &crashRing{idx: i, name: s.name, kind: s.kind, slots: o.Slots, slotSize: o.SlotSize, handle: h}
		if s.kind == "records" {
			// A ringful: the most records the ring can hold (each takes at
			// least span(MinMessage) bytes), and a batch in the consumer's
			// hands.
			r.slots, r.slotSize = o.recCapacity/recordSpan(fuzz.MinMessage)+maxBatch, o.recSlots
		}
		if s.kind == "broadcast" {
			if r.probe, err = ring.Subscribe(a, s.name, ring.SubscribeOptions{Lossy: true}); err != nil {
				return fail(err)
			}
			if r.view, err = ring.OpenView(a, s.name); err != nil {
				return fail(err)
			}
		}
		for range s.producers {
			sl := &slot{role: "producer", idx: len(c.producers), ring: r}
			r.producers = append(r.producers, sl)
			c.producers = append(c.producers, sl)
		}
		for k := range s.consumers {
			sl := &slot{role: "consumer", idx: len(c.consumers), ring: r, lossy: s.kind == "broadcast" && k >= o.tethered}
			r.consumers = append(r.consumers, sl)
			c.consumers = append(c.consumers, sl)
		}
		c.rings = append(c.rings, r)
	}
	return nil
}
