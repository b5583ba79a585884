package ring

// FuzzRecordsOps: a fuzz-chosen program of record-ring operations on one
// goroutine (two producer handles, one consumer), every answer checked
// against recModel (records_model_test.go), and its seed corpus.
//
//	go test -run '^$' -fuzz '^FuzzRecordsOps$' -fuzztime 60s ./ring

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shmring/shmring/internal/seed"
)

// recFuzzSteps bounds a FuzzRecordsOps program.
const recFuzzSteps = 1000

// FuzzRecordsOps runs the model of TestRecordsModel with every choice
// (operation, handle, length, buffer size, ...) read from the program
// (recBytes). capLog and maxRec give the geometry (recFuzzConfig); mode's
// low bit puts the ring in an arena, mirrored on Linux (records cross the
// wrap), instead of heap memory (padding records at the wrap).
func FuzzRecordsOps(f *testing.F) {
	f.Fuzz(func(t *testing.T, capLog byte, maxRec uint16, mode byte, prog []byte) {
		runRecordsModel(t, recFuzzTarget(t, capLog, maxRec, mode), &recBytes{s: script{b: prog}}, recFuzzSteps)
	})
}

// recFuzzConfig maps FuzzRecordsOps's geometry to a config: 4, 8 or 16
// KiB; the largest record 1 + maxRec modulo the most the capacity allows.
func recFuzzConfig(capLog byte, maxRec uint16) Config {
	capacity := MinRecordCapacity << (capLog % 3)
	return Config{Capacity: capacity, SlotSize: 1 + int(maxRec)%(capacity/2-recordHeaderSize)}
}

func recFuzzTarget(t testing.TB, capLog byte, maxRec uint16, mode byte) recTarget {
	cfg := recFuzzConfig(capLog, maxRec)
	if mode&1 != 0 {
		return arenaRecTarget(t, cfg)
	}
	return heapRecTarget(t, cfg)
}

// recRecorder is a recChooser that makes another's choices and writes
// them down as the FuzzRecordsOps program that replays them.
type recRecorder struct {
	c    recChooser
	prog []byte
}

func (r *recRecorder) more() bool { return r.c.more() }
func (r *recRecorder) op() int {
	v := r.c.op()
	r.prog = append(r.prog, byte(v))
	return v
}
func (r *recRecorder) intn(n int) int {
	v := r.c.intn(n)
	if n <= 256 {
		r.prog = append(r.prog, byte(v))
	} else {
		r.prog = append(r.prog, byte(v), byte(v>>8))
	}
	return v
}

// recScripted is a recChooser for seed scenarios: its operations come
// from a list, its other choices from a seeded PRNG.
type recScripted struct {
	ops []int
	r   *rand.Rand
}

func (c *recScripted) more() bool     { return len(c.ops) > 0 }
func (c *recScripted) intn(n int) int { return c.r.IntN(n) }
func (c *recScripted) op() int {
	op := c.ops[0]
	c.ops = c.ops[1:]
	return op
}

type recSeed struct {
	capLog byte
	maxRec uint16
	mode   byte
	prog   []byte
}

// recFuzzSeeds are FuzzRecordsOps's seeds: scenarios (fill and drain,
// wrap-around with padding, reservations committed out of order, pipelined
// peeks, a second producer closed with reservations outstanding, Discard,
// the end of the stream), each in heap memory and mirrored, and recorded
// random runs; each the program that replays the model's choices.
func recFuzzSeeds(t testing.TB) map[string]recSeed {
	scenarios := map[string]struct {
		capLog byte
		maxRec uint16
		ops    []int
	}{
		"fill-drain":      {0, 300, cat(times(30, rmPush), times(30, rmPop))},
		"wrap":            {0, 1000, times(60, rmPush, rmPush, rmPop, rmPopBatch, rmPush, rmPop)},
		"reserve-order":   {1, 500, cat(times(5, rmReserve), times(2, rmPush), times(3, rmPop), times(5, rmCommit), times(8, rmPop), times(6, rmReserve, rmCommit, rmPop))},
		"peek-pipeline":   {0, 200, cat(times(8, rmPush), times(3, rmPeek), times(2, rmRelease, rmPeek), times(4, rmPop, rmPeek, rmDiscard, rmRelease), times(6, rmPush, rmPeek, rmPeek, rmRelease))},
		"two-producers":   {1, 800, cat([]int{rmAttach}, times(6, rmPush, rmReserve, rmPushBatch), []int{rmClose, rmAttach}, times(4, rmReserve, rmPop, rmCommit), []int{rmClose}, times(10, rmPop))},
		"discard":         {2, 2000, cat(times(12, rmPush), times(6, rmDiscard), times(5, rmPushBatch), times(6, rmDiscard, rmPush))},
		"end-of-stream":   {0, 100, cat(times(4, rmPush), []int{rmReserve, rmAttach, rmReserve, rmCloseWrite, rmPush, rmPushBatch, rmReserve}, times(3, rmPop), times(2, rmCommit), times(4, rmPop, rmPeek, rmRelease), []int{rmDiscard, rmClose})},
		"large-records":   {2, 8000, times(25, rmPush, rmReserve, rmCommit, rmPopBatch, rmPeek, rmRelease)},
		"every-operation": {1, 150, times(4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11)},
	}
	seeds := map[string]recSeed{}
	for name, sc := range scenarios {
		for mode, prefix := range []string{"", "mirrored-"} {
			rec := &recRecorder{c: &recScripted{ops: sc.ops, r: rand.New(rand.NewPCG(uint64(len(name)), 5))}}
			runRecordsModel(t, recFuzzTarget(t, sc.capLog, sc.maxRec, byte(mode)), rec, recFuzzSteps)
			seeds[prefix+name] = recSeed{sc.capLog, sc.maxRec, byte(mode), rec.prog}
		}
	}
	for i := 0; i < 6; i++ {
		s := recSeed{capLog: byte(i), maxRec: uint16(37 + 997*i), mode: byte(i / 4)}
		rec := &recRecorder{c: &recRNG{r: rand.New(rand.NewPCG(uint64(i), 13)), left: 600}}
		runRecordsModel(t, recFuzzTarget(t, s.capLog, s.maxRec, s.mode), rec, recFuzzSteps)
		s.prog = rec.prog
		seeds[fmt.Sprintf("random-%d", i)] = s
	}
	seeds["empty-program"] = recSeed{}
	return seeds
}

// TestRecordsFuzzSeeds checks that FuzzRecordsOps's committed corpus is
// there (SHMRING_WRITE_CORPUS=1 rewrites it from recFuzzSeeds), and that a
// recorded program replays the run it was recorded from.
func TestRecordsFuzzSeeds(t *testing.T) {
	for name, s := range recFuzzSeeds(t) {
		seed.Corpus(t, "FuzzRecordsOps", name, fmt.Sprintf("byte(%q)\nuint16(%d)\nbyte(%q)\n[]byte(%q)\n",
			s.capLog, s.maxRec, s.mode, s.prog))
	}
	r := rand.New(rand.NewPCG(testSeed(t), 3))
	rec := &recRecorder{c: &recRNG{r: r, left: 800}}
	a := runRecordsModel(t, recFuzzTarget(t, 1, 700, 0), rec, 800)
	b := runRecordsModel(t, recFuzzTarget(t, 1, 700, 0), &recBytes{s: script{b: rec.prog}}, 800)
	if a.m.w != b.m.w || a.m.h != b.m.h || a.m.skipped != b.m.skipped || a.msgSeq != b.msgSeq {
		t.Fatalf("replay differs: w %d/%d h %d/%d skipped %d/%d messages %d/%d", a.m.w, b.m.w, a.m.h, b.m.h, a.m.skipped, b.m.skipped, a.msgSeq, b.msgSeq)
	}
}
