package ring

// Seed programs. The encoders in fuzz_script_test.go write FuzzRingOps and
// FuzzHostileMemory programs; TestFuzzSeeds turns the ones below into the
// committed corpus in testdata/fuzz/<FuzzName> (SHMRING_WRITE_CORPUS=1
// rewrites the files).

import (
	"fmt"
	"testing"

	"github.com/shmring/shmring/internal/seed"
)

type ringSeed struct {
	kind, slotsLog byte
	slotSize       uint16
	ops            prog
}

// opsSeeds are FuzzRingOps seeds: each kind through fill, drain,
// wrap-around, batches, zero-copy, short buffers, handle takeover and
// Close.
func opsSeeds() map[string]ringSeed {
	fillDrain := prog(nil).
		repeat(5, func(p prog) prog { return p.op(0, opPush, 100) }). // 4 slots: the fifth is ErrFull
		op(0, opCheck).
		repeat(5, func(p prog) prog { return p.op(1, opPop, 200) }) // the fifth is ErrEmpty
	wrap := prog(nil).repeat(40, func(p prog) prog {
		return p.op(0, opPush, 254).op(1, opPush, 0).op(1, opPop, 255).op(0, opPop, 128)
	})
	batches := prog(nil).
		op(0, opPushBatch, 5, 10, 3).  // oversized 4th message ends the batch
		op(0, opPushBatch, 7, 200, 9). // fills the rest
		op(0, opPushBatch, 1, 1, 9).   // full
		op(1, opPopBatch, 3, 255).
		op(1, opPopBatch, 9, 10). // short buffers
		op(1, opPopBatch, 9, 255).
		op(0, opPushBatch, 2, 0, 0). // first oversized: ErrTooLarge
		op(1, opPopBatch, 1, 255)
	zeroCopy := prog(nil).
		op(0, opReserve, 50, 0).
		op(0, opReserve, 200, 1|8<<3). // shorter commit
		op(1, opReserve, 10, 2|30<<3). // longer commit
		op(0, opReserve, 255, 0).      // too large
		op(1, opReserve, 100, 3|4).    // bad lengths, other handle's Commit
		op(0, opPeek, 1).op(1, opPeek, 0).op(0, opPeekWait, 1).
		op(1, opPeek, 0).op(0, opPeek, 0) // the last one finds it empty
	shortBuf := prog(nil).
		op(0, opPush, 254).op(1, opPop, 10).op(1, opPop, 0).op(1, opPop, 127).op(1, opPopWait, 200).op(1, opPop, 200)
	closing := prog(nil).
		op(0, opPush, 3).op(0, opPushWait, 4).op(0, opPushBatchWait, 2, 5, 9).
		op(1, opClose).
		op(0, opPush, 1).op(0, opReserve, 1, 0).op(0, opPushBatch, 1, 1, 9).op(0, opPushWait, 1).
		op(1, opPopWait, 200).op(0, opPeekWait, 0).op(1, opPopBatch, 9, 255).
		op(1, opPop, 200).op(0, opPopWait, 200).op(0, opPeekWait, 0).op(0, opCheck)
	all := prog(nil)
	for c := 0; c < numOps; c++ {
		all = all.op(c&1, c, byte(c*37), byte(c*11), byte(c*3))
	}
	seeds := map[string]ringSeed{}
	for kind, name := range []string{"spsc", "mpmc"} {
		k := byte(kind)
		seeds[name+"-fill-drain"] = ringSeed{k, 1, 64, fillDrain}
		seeds[name+"-wrap"] = ringSeed{k, 0, 7, wrap}
		seeds[name+"-batches"] = ringSeed{k, 2, 100, batches}
		seeds[name+"-zero-copy"] = ringSeed{k, 1, 511, zeroCopy}
		seeds[name+"-short-buffer"] = ringSeed{k, 5, 300, shortBuf}
		seeds[name+"-close"] = ringSeed{k, 1, 16, closing}
		seeds[name+"-every-op"] = ringSeed{k, 3, 40, all}
	}
	seeds["spsc-empty-program"] = ringSeed{0, 0, 0, nil}
	return seeds
}

type hostileSeed struct {
	kind byte
	prog prog
}

// hostileSeeds are FuzzHostileMemory seeds: plain traffic, then each kind
// of damage a peer can do, with operations after it.
func hostileSeeds() map[string]hostileSeed {
	traffic := prog(nil).
		ho(0, hoPush, 20).ho(1, hoPop, 32).ho(0, hoPushBatch, 3, 5).ho(1, hoPopBatch, 4, 32).
		ho(0, hoReserve, 8).ho(0, hoCommit, 0, 8).ho(0, hoPeek).ho(1, hoPeek).ho(0, hoRelease, 0).ho(1, hoRelease, 1).
		ho(0, hoInspect)
	ops := prog(nil).
		ho(0, hoPush, 20).ho(1, hoPop, 32).ho(0, hoPushBatch, 9, 5).ho(1, hoPopBatch, 4, 32).
		ho(0, hoReserve, 8).ho(0, hoCommit, 0, 8).ho(1, hoPeek).ho(1, hoRelease, 1).ho(0, hoInspect)
	raw := func(v uint64) []byte {
		b := []byte{0x80}
		for i := 0; i < 8; i++ {
			b = append(b, byte(v>>(8*i)))
		}
		return b
	}
	seeds := map[string]hostileSeed{}
	for kind, name := range []string{"spsc", "mpmc"} {
		k := byte(kind)
		add := func(s string, p prog) { seeds[name+"-"+s] = hostileSeed{k, p} }
		add("traffic", traffic.repeat(3, func(p prog) prog { return append(p, traffic...) }))
		add("prod-ahead", traffic.poke(pokeProd, 5).append(ops))
		add("prod-behind", traffic.ho(0, hoPushBatch, 4, 1).poke(pokeProd, 0x7d).append(ops))
		add("prod-garbage", traffic.poke(pokeProd, raw(1<<62|12345)...).append(ops))
		add("prod-closed-bit", traffic.poke(pokeProd, raw(1<<63|3)...).append(ops))
		add("cons-ahead", traffic.poke(pokeCons, 20).append(ops))
		add("cons-behind", traffic.poke(pokeCons, 0x78).append(ops))
		add("seq-ahead", traffic.ho(0, hoPush, 4).pokeSlots(pokeSeq, 9).append(ops))
		add("seq-behind", traffic.ho(0, hoPush, 4).pokeSlots(pokeSeq, 0x7f).append(ops))
		add("seq-published", traffic.pokeSlots(pokeSeq, 1).append(ops))
		add("len-huge", traffic.ho(0, hoPushBatch, 8, 3).pokeSlots(pokeLen, 0xff, 0xff, 0xff, 0x7f).append(ops))
		add("len-just-over", traffic.ho(0, hoPushBatch, 8, 3).pokeSlots(pokeLen, 33, 0, 0, 0).append(ops))
		add("closed-mirror", traffic.poke(pokeHeader, 1, 1, 0, 0, 0).append(ops).ho(0, hoPopWait, 32))
		add("state-zero-attach", traffic.poke(pokeHeader, 0, 0, 0, 0, 0).ho(0, hoAttach).append(ops))
		add("waiters-garbage", traffic.poke(pokeWaiters, 1, 9, 0, 0, 0).poke(pokeWaiters, 3, 0xff, 0xff, 0xff, 0xff).
			ho(0, hoPushWait, 3).ho(1, hoPopWait, 32).ho(1, hoPopWait, 32).append(ops))
		add("header-scribble", traffic.poke(pokeAny64, 2, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0).ho(0, hoAttach).append(ops))
		w := firstLenWord(k)
		add("slot-scribble", traffic.poke(pokeAny32, byte(w), byte(w>>8), 0xff, 0xff, 0xff, 0xff).append(ops))
		add("reserve-then-scribble", prog(nil).ho(0, hoReserve, 16).poke(pokeSeq, 0, 1).ho(0, hoCommit, 0, 16).
			ho(1, hoPeek).poke(pokeCons, 1).ho(1, hoRelease, 1).append(ops))
		add("blocking-ops", prog(nil).ho(0, hoPopWait, 32).ho(0, hoPopBatchWait, 2, 32).
			repeat(9, func(p prog) prog { return p.ho(0, hoPush, 1) }).
			ho(0, hoPushWait, 1).ho(0, hoPushBatchWait, 2, 1).ho(0, hoWaitZeroCopy, 2).ho(1, hoWaitZeroCopy, 3))
		add("close-then-scribble", traffic.ho(1, hoClose).poke(pokeProd, 2).append(ops).ho(0, hoInspect))
	}
	return seeds
}

// firstLenWord is the pokeAny32 word index of the first slot's length in
// a FuzzHostileMemory ring of the given kind.
func firstLenWord(kind byte) int {
	k, off := kindSPSC, uint64(0)
	if kind == 1 {
		k, off = kindMPMC, 8 // MPMC: Len follows the 8-byte Seq
	}
	g := computeGeometry(k, 128, Config{Slots: 8, SlotSize: 32}.withDefaults())
	return int((g.slotsOff + off) / 4)
}

// TestFuzzSeeds checks the committed seed corpora are there, and with
// SHMRING_WRITE_CORPUS=1 rewrites them from opsSeeds and hostileSeeds.
func TestFuzzSeeds(t *testing.T) {
	for name, s := range opsSeeds() {
		seed.Corpus(t, "FuzzRingOps", name, fmt.Sprintf("byte(%q)\nbyte(%q)\nuint16(%d)\n[]byte(%q)\n", s.kind, s.slotsLog, s.slotSize, []byte(s.ops)))
	}
	for name, s := range hostileSeeds() {
		seed.Corpus(t, "FuzzHostileMemory", name, fmt.Sprintf("byte(%q)\n[]byte(%q)\n", s.kind, []byte(s.prog)))
	}
}
