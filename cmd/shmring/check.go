package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// `shmring check ARENA`: every validation the library makes at Open
// (arena.Check: the file, header and directory, every fault with its
// offset) and at ring.OpenView, View.Check's cross-checks of each ring's
// positions, slots and peer entries, and what a ring's Recover would
// repair, reported as problems that need it. Like fsck and bbolt check it
// only reads (a read-only mapping and pread), prints one line per problem
// and exits 1 when it found any.

const checkDescription = `Check reads an arena and each of its rings and reports every problem it
finds, one line per problem: the offset in the file (hex and decimal),
where (a header or directory field, or [ring] and a ring field) and what is
wrong. Arena level: every validation Open makes (file, header, directory:
magic, version, checksums, field ranges, regions inside the data area, no
overlaps or duplicates), plus reserved bytes that are not zero. Ring level,
when the arena opens: the ring header's validation, the positions against
each other and the ring's size, the slot headers between them, every
occupied peer entry; and what Recover would repair: futex sleeper
registrations of dead peers or of nobody, MPMC claims held by dead peers.
It never writes to the arena.

Exit status: 0 healthy, 1 problems found (or the file cannot be read),
2 bad command line.`

func runCheck(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("check", "ARENA [--json]", checkDescription, stderr)
	asJSON := flags.Bool("json", false, "print the report as one JSON object")
	pos, err := parseArgs(flags, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usageError(flags, "missing ARENA")
	case len(pos) > 1:
		return usageError(flags, "unexpected argument %q", pos[1])
	}
	rep, err := gatherCheck(pos[0], readyTimeout)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		writeCheckText(stdout, &rep)
	}
	if !rep.OK {
		return errReported
	}
	return nil
}

// checkReport is what check found. The JSON names are part of the output
// contract: add fields, never rename them.
type checkReport struct {
	Arena string `json:"arena"` // the file's path
	// Regions is the number of directory entries and Rings the rings among
	// them that were checked (0 when the arena does not open).
	Regions  int            `json:"regions"`
	Rings    int            `json:"rings"`
	Problems []checkProblem `json:"problems"`
	// Notes say what could not be checked, and why.
	Notes []string `json:"notes"`
	OK    bool     `json:"ok"`
}

// checkProblem is one problem: Offset is absolute in the file; Region is
// the ring's name, "" for the arena's header and directory; Field names
// the word at fault (docs/layout.md and docs/ring.md names).
type checkProblem struct {
	Offset  int64  `json:"offset"`
	Region  string `json:"region"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// gatherCheck checks the arena name, waiting at most timeout for anything
// not ready (a creator still initialising the arena or a ring); it fails
// only when the file cannot be read at all.
func gatherCheck(name string, timeout time.Duration) (checkReport, error) {
	rep := checkReport{Arena: name, Problems: []checkProblem{}, Notes: []string{}}
	if p, err := arena.Resolve(name); err == nil {
		rep.Arena = p
	}
	probs, err := arena.Check(name, arena.WithReadyTimeout(timeout))
	if err != nil {
		return rep, err
	}
	for _, p := range probs {
		rep.Problems = append(rep.Problems, checkProblem{Offset: p.Offset, Field: p.Field, Message: p.Err.Error()})
	}
	// Check waited out anything not ready already: an arena it found
	// faults in is not waited for again.
	openWait := timeout
	if len(probs) > 0 {
		openWait = 0
	}
	a, err := arena.Open(name, arena.ReadOnly(), arena.WithReadyTimeout(openWait))
	if err != nil {
		if len(probs) == 0 {
			// Check and Open disagree: say so rather than report health.
			rep.Problems = append(rep.Problems, checkProblem{Field: "arena", Message: fmt.Sprintf("open refuses the arena: %v", err)})
		}
		rep.Notes = append(rep.Notes, "rings not checked: the arena does not open")
		rep.OK = false
		return rep, nil
	}
	defer a.Close()
	regs, err := a.Regions()
	if err != nil {
		rep.Problems = append(rep.Problems, checkProblem{Offset: arena.HeaderSize, Field: "directory", Message: err.Error()})
	}
	rep.Regions = len(regs)
	for _, reg := range regs {
		if isRingKind(reg.Kind()) {
			rep.Rings++
			rep.Problems = append(rep.Problems, checkRing(a, reg)...)
		}
	}
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Offset < rep.Problems[j].Offset })
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// Peer table entry words check reads that ring.Peer does not carry: their
// offsets in an entry, from docs/ring.md's peerEntry table (which
// ring/layout_test.go pins to the struct, and TestPeerWordOffsets pins
// these to).
const (
	peerProdClaim     = 16 // MPMC: 1 + the position its producer is claiming
	peerSleepingFull  = 56 // its goroutines registered in NotFullWaiters
	peerConsClaim     = 64 // MPMC: 1 + the position its consumer is claiming
	peerSleepingEmpty = 120
	peerGeneration    = 60 // incremented by every claim of the entry

	// mpmcSlotOwner is the Owner tag's offset in an MPMC slot (docs/ring.md,
	// mpmcSlot).
	mpmcSlotOwner = 12
)

// checkRing checks one ring region: OpenView's validation, View.Check,
// and what Recover would repair.
func checkRing(a *arena.Arena, reg *arena.Region) []checkProblem {
	name := reg.Name()
	v, err := ring.OpenView(a, name)
	if err != nil {
		off, field := checkViewErrField(err)
		return []checkProblem{{Offset: reg.Offset() + off, Region: name, Field: field, Message: err.Error()}}
	}
	defer v.Close()
	base := v.Offset()
	var out []checkProblem
	add := func(off int64, field, format string, args ...any) {
		out = append(out, checkProblem{Offset: base + off, Region: name, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	for _, p := range v.Check() {
		add(p.Offset, p.Field, "%s", p.Msg)
	}

	// What Recover would repair. The words are read from the region with
	// atomic loads (live handles store them); every offset is inside the
	// peer table that OpenView validated against the region.
	mem := reg.Bytes()
	load32 := func(off int64) uint32 {
		if off < 0 || off+4 > int64(len(mem)) {
			return 0
		}
		return atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[off]))) // 4-aligned: entries are 8-aligned
	}
	load64 := func(off int64) uint64 {
		if off < 0 || off+8 > int64(len(mem)) {
			return 0
		}
		return atomic.LoadUint64((*uint64)(unsafe.Pointer(&mem[off]))) // 8-aligned
	}
	peers := v.Peers()
	for _, p := range peers {
		if p.Alive {
			continue
		}
		e := v.PeerOffset(p.Index)
		field := func(f string) string { return fmt.Sprintf("peer[%d].%s", p.Index, f) }
		if n := load32(e + peerSleepingFull); n != 0 {
			add(e+peerSleepingFull, field("SleepingFull"), "dead peer (pid %d) left %s in NotFullWaiters: needs Recover, which takes them out", p.PID, checkPlural(int(n), "sleeper registration"))
		}
		if n := load32(e + peerSleepingEmpty); n != 0 {
			add(e+peerSleepingEmpty, field("SleepingEmpty"), "dead peer (pid %d) left %s in NotEmptyWaiters: needs Recover, which takes them out", p.PID, checkPlural(int(n), "sleeper registration"))
		}
		if v.Kind() == ring.KindMPMC {
			if c := load64(e + peerProdClaim); c != 0 {
				add(e+peerProdClaim, field("ProdClaim"), "dead peer (pid %d) holds a producer claim from position %d: needs Recover, which turns what it did not commit into skip records", p.PID, c-1)
			}
			if c := load64(e + peerConsClaim); c != 0 {
				add(e+peerConsClaim, field("ConsClaim"), "dead peer (pid %d) holds a consumer claim from position %d: needs Recover, which redelivers what it did not release", p.PID, c-1)
			}
		}
	}
	if v.Kind() == ring.KindMPMC {
		for _, c := range checkTaggedClaims(v, peers) {
			add(c.off, c.field, "%s", c.msg)
		}
	}
	// Waiter registrations that no entry accounts for, seen at two looks
	// apart (a live registration is in flight between its two adds only
	// for an instant): what Recover's sweep takes out.
	s1 := checkWaiterSurplus(v, load32)
	if s1 != [2]uint32{} {
		time.Sleep(2 * time.Millisecond)
		s2 := checkWaiterSurplus(v, load32)
		s1 = [2]uint32{min(s1[0], s2[0]), min(s1[1], s2[1])}
	}
	offs := map[string]int64{}
	for _, f := range v.Header() {
		offs[f.Name] = f.Offset
	}
	for i, w := range [2]string{"prod.NotEmptyWaiters", "cons.NotFullWaiters"} {
		if s1[i] != 0 {
			add(offs[w], w, "%d sleeper registrations that no peer entry accounts for (a sleeper killed while registering): needs Recover, which takes them out", s1[i])
		}
	}
	return out
}

// MPMC Owner tags (docs/ring.md, MPMC slot Owner): bits 0..9 the peer
// entry index, bit 10 a consumer's claim, bits 11..14 the claimed
// position's lap (position / Slots mod 16), bits 15..31 the entry's
// Generation mod 2^17.
const (
	tagIdxMask  = 1<<10 - 1
	tagConsumer = 1 << 10
	tagLapShift = 11
	tagLapMask  = 0xf
	tagGenShift = 15
	tagGenMask  = 1<<17 - 1
)

// taggedClaim is a claim a slot's Owner tag gives to a dead peer.
type taggedClaim struct {
	off        int64
	field, msg string
}

// checkTaggedClaims finds the MPMC claims of dead peers that only slot
// Owner tags show (a reservation's claim, whose claim word is cleared once
// it is tagged): a slot between the positions still claimed by a producer
// (Seq == its position) whose tag names a dead entry at its current
// generation, for the position's lap (Recover makes it a skip record); and
// a slot below the consumer position still holding its message (Seq ==
// position+1) whose consumer tag names a dead entry (Recover redelivers
// it, once producers come round to the slot).
func checkTaggedClaims(v *ring.View, peers []ring.Peer) []taggedClaim {
	dead := map[int]ring.Peer{}
	for _, p := range peers {
		if !p.Alive {
			dead[p.Index] = p
		}
	}
	if len(dead) == 0 {
		return nil
	}
	slots := uint64(v.Config().Slots)
	pos := v.Positions()
	var out []taggedClaim
	look := func(from, to uint64, consumer bool) {
		for q := from; q < to; q++ {
			hs := v.Slots(q, 1)
			if len(hs) == 0 {
				return
			}
			h := hs[0]
			want := q // claimed by a producer, not committed
			if consumer {
				want = q + 1 // committed, claimed by a consumer, not released
			}
			tag := h.Owner
			p, ok := dead[int(tag&tagIdxMask)]
			lap := uint32(q/slots) & tagLapMask
			if h.Seq != want || !ok || (tag&tagConsumer != 0) != consumer || tag>>tagLapShift&tagLapMask != lap || tag>>tagGenShift != p.Generation&tagGenMask {
				continue
			}
			role, fix := "producer", "turns it into a skip record"
			if consumer {
				role, fix = "consumer", "redelivers it"
			}
			out = append(out, taggedClaim{off: h.Offset + mpmcSlotOwner, field: fmt.Sprintf("slot[%d].Owner", h.Index),
				msg: fmt.Sprintf("position %d is claimed by dead peer %d (pid %d) as a %s: needs Recover, which %s", q, p.Index, p.PID, role, fix)})
		}
	}
	prod, cons := pos.Producer, pos.Consumer
	if cons <= prod && prod-cons <= slots {
		look(cons, prod, false)
		look(cons-min(cons, slots-(prod-cons)), cons, true)
	}
	return out
}

// checkWaiterSurplus is each shared waiter count (NotEmptyWaiters,
// NotFullWaiters) minus the sum of every peer entry's sleeping counts,
// or 0.
func checkWaiterSurplus(v *ring.View, load32 func(int64) uint32) [2]uint32 {
	cfg := v.Config()
	var sum [2]uint64
	for i := 0; i < cfg.Peers+cfg.Subscribers; i++ {
		e := v.PeerOffset(i)
		if e < 0 {
			break
		}
		sum[0] += uint64(load32(e + peerSleepingEmpty))
		sum[1] += uint64(load32(e + peerSleepingFull))
	}
	p := v.Positions()
	var out [2]uint32
	for i, w := range [2]uint32{p.NotEmptyWaiters, p.NotFullWaiters} {
		if uint64(w) > sum[i] {
			out[i] = uint32(uint64(w) - sum[i])
		}
	}
	return out
}

// checkViewErrField places an OpenView failure at the ring header field it is
// about (docs/ring.md offsets), from its sentinel or, where the ring
// package has none (checksum, state), its text.
func checkViewErrField(err error) (int64, string) {
	msg := err.Error()
	switch {
	case errors.Is(err, ring.ErrNotReady), strings.Contains(msg, "state word"):
		return 124, "State"
	case strings.Contains(msg, "checksum"):
		return 120, "Checksum"
	case strings.Contains(msg, "feature flags"):
		return 84, "Flags"
	case errors.Is(err, ring.ErrVersion):
		return 8, "VersionMajor"
	case strings.Contains(msg, "magic"):
		return 0, "Magic"
	case strings.Contains(msg, "ring kind"):
		return 12, "Kind"
	}
	return 0, "header"
}

// where renders a problem's place: the arena field, or [ring] field.
func (p *checkProblem) where() string {
	if p.Region == "" {
		return p.Field
	}
	return fmt.Sprintf("[%s] %s", p.Region, p.Field)
}

func writeCheckText(w io.Writer, rep *checkReport) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for i := range rep.Problems {
		p := &rep.Problems[i]
		fmt.Fprintf(tw, "%#x\t%d\t%s\t%s\n", p.Offset, p.Offset, p.where(), p.Message)
	}
	tw.Flush()
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if rep.OK {
		fmt.Fprintf(w, "ok: %s: %s, %s, no problems\n", rep.Arena, count(rep.Regions, "region"), count(rep.Rings, "ring"))
		return
	}
	var where []string
	seen := map[string]bool{}
	for _, p := range rep.Problems {
		if !seen[p.Region] {
			seen[p.Region] = true
			if p.Region == "" {
				where = append(where, "header and directory")
			} else {
				where = append(where, fmt.Sprintf("ring %q", p.Region))
			}
		}
	}
	fmt.Fprintf(w, "%s in %s of %s: %s\n", checkPlural(len(rep.Problems), "problem"), checkPlural(len(where), "region"), rep.Arena, strings.Join(where, ", "))
}

// checkPlural is "1 problem", "2 problems".
func checkPlural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// count is n and noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
