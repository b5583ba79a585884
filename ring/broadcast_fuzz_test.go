package ring

// FuzzBroadcastOps: a fuzz-chosen program of broadcast operations on one
// goroutine, every answer checked against bcastModel
// (broadcast_model_test.go), and its seed corpus.
//
//	go test -run '^$' -fuzz '^FuzzBroadcastOps$' -fuzztime 30s ./ring

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shmring/shmring/internal/seed"
)

// bcastFuzzSteps bounds a FuzzBroadcastOps program.
const bcastFuzzSteps = 600

// FuzzBroadcastOps runs the model of TestBroadcastModel with every choice
// (operation, handle, length, ...) read from the program: a choice among
// n reads one byte (two, little-endian, for n > 256), modulo n.
func FuzzBroadcastOps(f *testing.F) {
	f.Fuzz(func(t *testing.T, slotsLog, slotSize, subs, peers byte, prog []byte) {
		runBcastModel(t, bcastFuzzConfig(slotsLog, slotSize, subs, peers),
			&byteChooser{s: script{b: prog}}, bcastFuzzSteps, allBcastBugs, nil)
	})
}

// bcastFuzzConfig maps FuzzBroadcastOps's geometry bytes to a config:
// 2..16 slots, 1..48 bytes, 1..4 subscribers, 16 (0) or 1..3 peer
// entries.
func bcastFuzzConfig(slotsLog, slotSize, subs, peers byte) Config {
	return Config{
		Slots:       1 << (1 + slotsLog%4),
		SlotSize:    1 + int(slotSize)%48,
		Subscribers: 1 + int(subs)%4,
		Peers:       int(peers) % 4,
	}
}

// recorder is a chooser that makes another's choices and writes them down
// as the FuzzBroadcastOps program that replays them.
type recorder struct {
	c    chooser
	prog []byte
}

func (r *recorder) more() bool { return r.c.more() }
func (r *recorder) intn(n int) int {
	v := r.c.intn(n)
	r.put(v, n)
	return v
}
func (r *recorder) op() int {
	v := r.c.op()
	r.put(v, bmNumOps)
	return v
}
func (r *recorder) pick(n int) int {
	v := r.c.pick(n)
	r.put(v, n)
	return v
}

func (r *recorder) put(v, n int) {
	if n <= 256 {
		r.prog = append(r.prog, byte(v))
	} else {
		r.prog = append(r.prog, byte(v), byte(v>>8))
	}
}

// scripted is a chooser for seed scenarios: its operations come from a
// list, its other choices from a seeded PRNG, and it picks the newest
// handle.
type scripted struct {
	ops []int
	r   *rand.Rand
}

func (c *scripted) more() bool     { return len(c.ops) > 0 }
func (c *scripted) intn(n int) int { return c.r.IntN(n) }
func (c *scripted) pick(n int) int { return n - 1 }
func (c *scripted) op() int {
	op := c.ops[0]
	c.ops = c.ops[1:]
	return op
}

// times repeats ops n times.
func times(n int, ops ...int) []int {
	var out []int
	for i := 0; i < n; i++ {
		out = append(out, ops...)
	}
	return out
}

func cat(parts ...[]int) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

type bcastSeed struct {
	slotsLog, slotSize, subs, peers byte
	prog                            []byte
}

// bcastSeeds are FuzzBroadcastOps's seeds: scenarios (a tethered
// subscriber holding the ring full, laps, joins in the window, takeovers,
// zero-copy on both sides, the subscriber table full, the end of the
// stream) and recorded random runs, each the program that replays the
// model's choices.
func bcastSeeds(t testing.TB) map[string]bcastSeed {
	scenarios := map[string]struct {
		slotsLog, slotSize, subs, peers byte
		ops                             []int
	}{
		"tethered-full": {1, 16, 1, 0, cat(times(1, bmJoin), times(6, bmPush), times(3, bmPop), times(4, bmPush), times(8, bmPopBatch))},
		"lossy-lap":     {1, 16, 2, 0, cat(times(2, bmJoin), times(13, bmPush), times(4, bmPop), times(9, bmPushBatch), times(4, bmPopBatch), []int{bmInspect})},
		"join-window":   {2, 8, 3, 0, cat(times(9, bmPush), []int{bmReserve, bmJoin, bmCommit, bmJoin}, times(6, bmPush), times(6, bmPop), []int{bmInspect})},
		"takeover":      {1, 24, 2, 2, cat([]int{bmJoin, bmPush, bmReserve, bmAttach, bmPush, bmCommit}, times(3, bmPush), []int{bmAttach, bmPushBatch, bmPop, bmPopBatch, bmInspect})},
		"peek-release":  {2, 32, 2, 0, cat(times(2, bmJoin), times(3, bmPush), times(2, bmPeek, bmPush, bmRelease), times(10, bmPush), times(3, bmPeek, bmRelease, bmPop))},
		"subscribers":   {0, 4, 1, 1, cat(times(3, bmJoin), []int{bmSubClose, bmJoin, bmPush, bmPop, bmSubClose, bmPop, bmInspect})},
		"end-of-stream": {1, 12, 2, 0, cat(times(2, bmJoin), times(5, bmPush), []int{bmReserve, bmProdClose, bmPush, bmCommit}, times(7, bmPop), []int{bmCloseWrite, bmJoin, bmPop, bmInspect})},
		"every-op":      {3, 40, 4, 3, cat(times(2, bmJoin, bmPush), times(3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13))},
	}
	seeds := map[string]bcastSeed{}
	for name, sc := range scenarios {
		rec := &recorder{c: &scripted{ops: sc.ops, r: rand.New(rand.NewPCG(uint64(len(name)), 7))}}
		runBcastModel(t, bcastFuzzConfig(sc.slotsLog, sc.slotSize, sc.subs, sc.peers), rec, bcastFuzzSteps, allBcastBugs, nil)
		seeds[name] = bcastSeed{sc.slotsLog, sc.slotSize, sc.subs, sc.peers, rec.prog}
	}
	for i := 0; i < 6; i++ {
		r := rand.New(rand.NewPCG(uint64(i), 11))
		s := bcastSeed{slotsLog: byte(i), slotSize: byte(3 + 9*i), subs: byte(i), peers: byte(i / 2)}
		rec := &recorder{c: &rngChooser{r: r, left: 400}}
		runBcastModel(t, bcastFuzzConfig(s.slotsLog, s.slotSize, s.subs, s.peers), rec, bcastFuzzSteps, allBcastBugs, nil)
		s.prog = rec.prog
		seeds[fmt.Sprintf("random-%d", i)] = s
	}
	seeds["empty-program"] = bcastSeed{}
	return seeds
}

// TestBroadcastFuzzSeeds checks that FuzzBroadcastOps's committed corpus
// is there (SHMRING_WRITE_CORPUS=1 rewrites it from bcastSeeds), and that
// a recorded program replays the run it was recorded from.
func TestBroadcastFuzzSeeds(t *testing.T) {
	for name, s := range bcastSeeds(t) {
		seed.Corpus(t, "FuzzBroadcastOps", name, fmt.Sprintf("byte(%q)\nbyte(%q)\nbyte(%q)\nbyte(%q)\n[]byte(%q)\n",
			s.slotsLog, s.slotSize, s.subs, s.peers, s.prog))
	}
	r := rand.New(rand.NewPCG(testSeed(t), 3))
	cfg := Config{Slots: 4, SlotSize: 9, Subscribers: 3}
	rec := &recorder{c: &rngChooser{r: r, left: 500}}
	a := runBcastModel(t, cfg, rec, 500, allBcastBugs, nil)
	b := runBcastModel(t, cfg, &byteChooser{s: script{b: rec.prog}}, 500, allBcastBugs, nil)
	if a.tail != b.tail || a.laps != b.laps || a.fullEvents != b.fullEvents || a.serial != b.serial {
		t.Fatalf("replay differs: tail %d/%d laps %d/%d full %d/%d", a.tail, b.tail, a.laps, b.laps, a.fullEvents, b.fullEvents)
	}
}
