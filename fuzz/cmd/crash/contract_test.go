package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/ring"
)

// delivery is a run of numbers of a stream delivered once.
type delivery struct {
	stream     uint32
	start, end uint64
}

// TestVerifier plants each fault the contract forbids, next to the case
// just inside what it allows, and checks the verifier's counts: a verifier
// that cannot fail proves nothing.
func TestVerifier(t *testing.T) {
	all := func(stream uint32) delivery { return delivery{stream, 0, 100} }
	held := func(stream uint32, seq uint64) uint64 { return journalEntry(stream, seq) + 1 }
	tests := []struct {
		name      string
		mpmc      bool
		uncertain []span // of stream 0
		deaths    []consumerDeath
		deliver   []delivery
		corrupt   uint64
		ooo       uint64
		stats     ring.Stats
		undrained bool
		want      ringVerdict // counts only
		problem   string      // a problem that must be reported
	}{
		{name: "clean", deliver: []delivery{all(0)}, want: ringVerdict{Delivered: 100}},
		{name: "planted loss", deliver: []delivery{{0, 0, 50}, {0, 51, 100}},
			want: ringVerdict{Delivered: 99, Lost: 1}, problem: "[50,51) lost"},
		{name: "loss in a killed producer's call", uncertain: []span{{50, 53}}, deliver: []delivery{{0, 0, 50}, {0, 52, 100}},
			want: ringVerdict{Delivered: 98, InFlightDelivered: 1, Uncommitted: 2}},
		{name: "loss next to a killed producer's call", uncertain: []span{{50, 53}}, deliver: []delivery{{0, 0, 49}, {0, 53, 100}},
			want: ringVerdict{Delivered: 96, Uncommitted: 3, Lost: 1}, problem: "[49,50) lost"},
		{name: "planted duplicate", deliver: []delivery{all(0), {0, 10, 11}},
			want: ringVerdict{Delivered: 100, Duplicated: 1}, problem: "[10,11) delivered 2 times"},
		{name: "redelivery of a held message", deaths: []consumerDeath{{Claim: 1, Held: held(0, 10)}}, deliver: []delivery{all(0), {0, 10, 11}},
			want: ringVerdict{Delivered: 100, Redelivered: 1}},
		{name: "held message delivered three times", deaths: []consumerDeath{{Claim: 1, Held: held(0, 10)}},
			deliver: []delivery{all(0), {0, 10, 11}, {0, 10, 11}}, want: ringVerdict{Delivered: 100, Redelivered: 1, Duplicated: 1}},
		{name: "duplicate of a message another death held", deaths: []consumerDeath{{Claim: 1, Held: held(0, 10)}},
			deliver: []delivery{all(0), {0, 11, 12}}, want: ringVerdict{Delivered: 100, Duplicated: 1}},
		{name: "planted corruption", deliver: []delivery{all(0)}, corrupt: 1, want: ringVerdict{Delivered: 100, Corrupt: 1}},
		{name: "unsent", deliver: []delivery{{0, 0, 101}}, want: ringVerdict{Delivered: 100, Unsent: 1}},
		{name: "spsc consumer died with its claim", deaths: []consumerDeath{{Claim: 3, Last: held(0, 49)}},
			deliver: []delivery{{0, 0, 50}, {0, 53, 100}}, stats: ring.Stats{MsgsOut: 100}, want: ringVerdict{Delivered: 97, ConsumerLost: 3}},
		{name: "consumer loss of messages that never left the ring", deaths: []consumerDeath{{Claim: 3, Last: held(0, 49)}},
			deliver: []delivery{{0, 0, 50}, {0, 53, 100}}, stats: ring.Stats{MsgsOut: 98},
			want: ringVerdict{Delivered: 97, ConsumerLost: 1, Lost: 2}, problem: "never left the ring"},
		{name: "spsc loss beyond the claim", deaths: []consumerDeath{{Claim: 3, Last: held(0, 49)}},
			deliver: []delivery{{0, 0, 50}, {0, 54, 100}}, stats: ring.Stats{MsgsOut: 100},
			want: ringVerdict{Delivered: 96, ConsumerLost: 3, Lost: 1}, problem: "[53,54) lost"},
		{name: "spsc loss away from the dead consumer's place", deaths: []consumerDeath{{Claim: 3, Last: held(0, 49)}},
			deliver: []delivery{{0, 0, 80}, {0, 81, 100}}, want: ringVerdict{Delivered: 99, Lost: 1}},
		{name: "spsc claim before anything was journaled", deaths: []consumerDeath{{Claim: 2}},
			deliver: []delivery{{0, 2, 100}}, stats: ring.Stats{MsgsOut: 100}, want: ringVerdict{Delivered: 98, ConsumerLost: 2}},
		{name: "spsc claim window passes over a killed producer's call", uncertain: []span{{50, 52}},
			deaths: []consumerDeath{{Claim: 2, Last: held(0, 49)}}, deliver: []delivery{{0, 0, 50}, {0, 54, 100}},
			stats: ring.Stats{MsgsOut: 99}, want: ringVerdict{Delivered: 96, Uncommitted: 2, ConsumerLost: 2}},
		{name: "spsc out of order", deliver: []delivery{all(0)}, ooo: 1, want: ringVerdict{Delivered: 100, OutOfOrder: 1}},
		{name: "mpmc consumer claims bound the count", mpmc: true, deaths: []consumerDeath{{Claim: 1}, {Claim: 1}},
			deliver: []delivery{{0, 0, 80}, {0, 81, 100}, {1, 0, 5}, {1, 6, 100}}, stats: ring.Stats{MsgsOut: 200},
			want: ringVerdict{Delivered: 198, ConsumerLost: 2}},
		{name: "mpmc claims do not cover messages stuck in the ring", mpmc: true, deaths: []consumerDeath{{Claim: 32}},
			deliver: []delivery{{0, 0, 80}, {1, 0, 100}}, stats: ring.Stats{MsgsOut: 180, Skipped: 0},
			want: ringVerdict{Delivered: 180, Lost: 20}, problem: "never left the ring"},
		{name: "mpmc loss beyond the claims", mpmc: true, deaths: []consumerDeath{{Claim: 1}},
			deliver: []delivery{{0, 0, 80}, {0, 81, 100}, {1, 0, 5}, {1, 6, 100}}, stats: ring.Stats{MsgsOut: 200},
			want: ringVerdict{Delivered: 198, ConsumerLost: 1, Lost: 1}},
		{name: "mpmc out of order within Redelivered", mpmc: true, deliver: []delivery{all(0), all(1)}, ooo: 2,
			stats: ring.Stats{Redelivered: 2}, want: ringVerdict{Delivered: 200}},
		{name: "mpmc out of order beyond Redelivered", mpmc: true, deliver: []delivery{all(0), all(1)}, ooo: 2,
			stats: ring.Stats{Redelivered: 1}, want: ringVerdict{Delivered: 200, OutOfOrder: 1}},
		{name: "mpmc redelivered held message", mpmc: true, deaths: []consumerDeath{{Held: held(1, 7)}},
			deliver: []delivery{all(0), all(1), {1, 7, 8}}, stats: ring.Stats{Redelivered: 1}, want: ringVerdict{Delivered: 200, Redelivered: 1}},
		{name: "mpmc held redelivery the ring did not count", mpmc: true, deaths: []consumerDeath{{Held: held(1, 7)}},
			deliver: []delivery{all(0), all(1), {1, 7, 8}}, want: ringVerdict{Delivered: 200, Redelivered: 1}, problem: "Stats.Redelivered is 0"},
		{name: "mpmc skip records beyond killed producers' calls", mpmc: true, uncertain: []span{{50, 51}},
			deliver: []delivery{{0, 0, 50}, {0, 51, 100}, all(1)}, stats: ring.Stats{Skipped: 2},
			want: ringVerdict{Delivered: 199, Uncommitted: 1}, problem: "Stats.Skipped 2"},
		{name: "leaked registration", deliver: []delivery{all(0)}, stats: ring.Stats{NotEmptyWaiters: 1},
			want: ringVerdict{Delivered: 100, Leaked: 1}},
		{name: "frozen", deliver: []delivery{all(0)}, undrained: true, want: ringVerdict{Delivered: 100}, problem: "frozen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.stats.MsgsIn = tt.stats.MsgsOut // a drained ring
			acc := ringAccount{Name: "r", SPSC: !tt.mpmc, Deaths: tt.deaths, Corrupt: tt.corrupt, OutOfOrder: tt.ooo,
				Stats: tt.stats, Drained: !tt.undrained}
			acc.Streams = []streamAccount{{Stream: 0, End: 100, Uncertain: tt.uncertain}}
			if tt.mpmc {
				acc.Streams = append(acc.Streams, streamAccount{Stream: 1, End: 100})
			}
			tl := fuzz.NewTally(0)
			for _, d := range tt.deliver {
				tl.Add(d.stream, d.start, d.end)
			}
			got := verifyRing(&acc, tl)
			problems := got.Problems
			got.Problems, tt.want.Problems = nil, nil
			if !equalCounts(got, tt.want) {
				t.Errorf("verdict %+v, want %+v", got, tt.want)
			}
			wantFail := tt.want.Lost+tt.want.Duplicated+tt.want.Unsent+tt.want.Corrupt+tt.want.OutOfOrder > 0 ||
				tt.want.Leaked > 0 || tt.problem != ""
			got.Problems = problems
			if got.failed() != wantFail {
				t.Errorf("failed() = %v, want %v (problems %q)", got.failed(), wantFail, problems)
			}
			if tt.problem != "" && !strings.Contains(strings.Join(problems, "\n"), tt.problem) {
				t.Errorf("problems %q do not mention %q", problems, tt.problem)
			}
		})
	}
}

func equalCounts(a, b ringVerdict) bool {
	return a.Delivered == b.Delivered && a.InFlightDelivered == b.InFlightDelivered && a.Uncommitted == b.Uncommitted &&
		a.Redelivered == b.Redelivered && a.ConsumerLost == b.ConsumerLost && a.Lost == b.Lost &&
		a.Duplicated == b.Duplicated && a.Unsent == b.Unsent && a.Corrupt == b.Corrupt && a.OutOfOrder == b.OutOfOrder &&
		a.Leaked == b.Leaked
}

func TestSpans(t *testing.T) {
	unc := mergeSpans([]span{{10, 12}, {5, 7}, {11, 15}, {15, 16}, {20, 20}})
	if want := []span{{5, 7}, {10, 16}}; len(unc) != 2 || unc[0] != want[0] || unc[1] != want[1] {
		t.Fatalf("merged %v, want %v", unc, want)
	}
	n, certain := splitUncertain(span{0, 20}, unc)
	if n != 8 || len(certain) != 3 || certain[0] != (span{0, 5}) || certain[1] != (span{7, 10}) || certain[2] != (span{16, 20}) {
		t.Errorf("split: %d uncertain, certain %v", n, certain)
	}
	for _, tt := range []struct{ lo, k, want uint64 }{
		{0, 1, 1}, {0, 5, 5}, {0, 6, 8}, {4, 2, 8}, {5, 1, 8}, {7, 3, 10}, {7, 4, 17}, {16, 2, 18},
	} {
		if got := kthCertain(tt.lo, tt.k, unc); got != tt.want {
			t.Errorf("kthCertain(%d, %d) = %d, want %d", tt.lo, tt.k, got, tt.want)
		}
	}
}

// TestVerifyRecords: rule (f), a record ring's, case by case: pipelined
// peeks of a dead consumer may come again, each once; Skipped is bounded
// by the killed producers' calls from above and by their reserved,
// undelivered numbers from below; MsgsIn and MsgsOut by what was
// committed. Two streams of 100 numbers each.
func TestVerifyRecords(t *testing.T) {
	e := func(stream uint32, seq uint64) uint64 { return journalEntry(stream, seq) }
	all := []delivery{{0, 0, 100}, {1, 0, 100}}
	plus := func(more ...delivery) []delivery { return append(slices.Clone(all), more...) }
	counted := func(in, out, skipped uint64) ring.Stats {
		return ring.Stats{MsgsIn: in, MsgsOut: out, Skipped: skipped}
	}
	tests := []struct {
		name               string
		uncertain, claimed []span // of stream 0
		deaths             []consumerDeath
		deliver            []delivery
		ooo                uint64
		stats              ring.Stats
		want               ringVerdict // counts only
		problem            string      // a problem that must be reported
	}{
		{name: "clean", deliver: all, stats: counted(200, 200, 0), want: ringVerdict{Delivered: 200}},
		{name: "pipelined peeks of a dead consumer come again", deaths: []consumerDeath{{Peeked: []uint64{e(0, 10), e(0, 11)}, Held: e(0, 11) + 1}},
			deliver: plus(delivery{0, 10, 12}), stats: counted(200, 200, 0), want: ringVerdict{Delivered: 200, Redelivered: 2}},
		{name: "a peek the dead consumer did not hold comes again", deaths: []consumerDeath{{Peeked: []uint64{e(0, 10), e(0, 11)}}},
			deliver: plus(delivery{0, 10, 13}), stats: counted(200, 200, 0), want: ringVerdict{Delivered: 200, Redelivered: 2, Duplicated: 1},
			problem: "[10,13) delivered 2 times"},
		{name: "a held peek counts once per death", deaths: []consumerDeath{{Peeked: []uint64{e(1, 5)}, Held: e(1, 5) + 1}},
			deliver: plus(delivery{1, 5, 6}, delivery{1, 5, 6}), stats: counted(200, 200, 0), want: ringVerdict{Delivered: 200, Redelivered: 1, Duplicated: 1}},
		{name: "reserved records of a killed producer become skip records", uncertain: []span{{50, 52}}, claimed: []span{{50, 52}},
			deliver: []delivery{{0, 0, 50}, {0, 52, 100}, {1, 0, 100}}, stats: counted(198, 198, 2),
			want: ringVerdict{Delivered: 198, Uncommitted: 2, MustSkip: 2}},
		{name: "reserved records lost without a skip record", uncertain: []span{{50, 52}}, claimed: []span{{50, 52}},
			deliver: []delivery{{0, 0, 50}, {0, 52, 100}, {1, 0, 100}}, stats: counted(198, 198, 1),
			want: ringVerdict{Delivered: 198, Uncommitted: 2, MustSkip: 2}, problem: "2 reserved numbers"},
		{name: "a reserved record that died in a killed consumer", uncertain: []span{{50, 51}}, claimed: []span{{50, 51}},
			deaths: []consumerDeath{{Claim: 1}}, deliver: []delivery{{0, 0, 50}, {0, 51, 100}, {1, 0, 100}}, stats: counted(200, 200, 0),
			want: ringVerdict{Delivered: 199, Uncommitted: 1, MustSkip: 1}},
		{name: "unreserved numbers of a killed call need no skip record", uncertain: []span{{50, 53}}, claimed: []span{{50, 51}},
			deliver: []delivery{{0, 0, 50}, {0, 53, 100}, {1, 0, 100}}, stats: counted(197, 197, 1),
			want: ringVerdict{Delivered: 197, Uncommitted: 3, MustSkip: 1}},
		{name: "more skip records than killed calls lost", uncertain: []span{{50, 52}},
			deliver: []delivery{{0, 0, 50}, {0, 52, 100}, {1, 0, 100}}, stats: counted(198, 198, 3),
			want: ringVerdict{Delivered: 198, Uncommitted: 2}, problem: "Stats.Skipped 3, but only 2"},
		{name: "MsgsIn counts a skip record", uncertain: []span{{50, 52}}, claimed: []span{{50, 52}},
			deliver: []delivery{{0, 0, 50}, {0, 52, 100}, {1, 0, 100}}, stats: counted(199, 198, 2),
			want: ringVerdict{Delivered: 198, Uncommitted: 2, MustSkip: 2}, problem: "Stats.MsgsIn 199"},
		{name: "MsgsIn short of a call that returned", deliver: all, stats: counted(199, 200, 0),
			want: ringVerdict{Delivered: 200}, problem: "Stats.MsgsIn 199"},
		{name: "MsgsIn short within a killed producer's call", uncertain: []span{{50, 52}}, deliver: all, stats: counted(198, 200, 0),
			want: ringVerdict{Delivered: 200, InFlightDelivered: 2}},
		{name: "MsgsOut short with no consumer killed", deliver: all, stats: counted(200, 199, 0),
			want: ringVerdict{Delivered: 200}, problem: "Stats.MsgsOut 199"},
		{name: "MsgsOut short within a killed consumer's claim", deaths: []consumerDeath{{Claim: 3}}, deliver: all,
			stats: ring.Stats{MsgsIn: 200, MsgsOut: 197, Len: 3}, want: ringVerdict{Delivered: 200}},
		{name: "out of order has no allowance", deliver: all, ooo: 1, stats: ring.Stats{MsgsIn: 200, MsgsOut: 200, Redelivered: 5},
			want: ringVerdict{Delivered: 200, OutOfOrder: 1}},
		{name: "consumer loss within the claims", deaths: []consumerDeath{{Claim: 2, LastOf: map[uint32]uint64{0: 100, 1: 40}}},
			deliver: []delivery{{0, 0, 100}, {1, 0, 40}, {1, 42, 100}}, stats: counted(200, 200, 0), want: ringVerdict{Delivered: 198, ConsumerLost: 2}},
		{name: "consumer loss across streams, the claim shared", deaths: []consumerDeath{{Claim: 2, LastOf: map[uint32]uint64{0: 50, 1: 40}}},
			deliver: []delivery{{0, 0, 50}, {0, 51, 100}, {1, 0, 40}, {1, 41, 100}}, stats: counted(200, 200, 0), want: ringVerdict{Delivered: 198, ConsumerLost: 2}},
		{name: "consumer loss beyond the claims", deaths: []consumerDeath{{Claim: 1, LastOf: map[uint32]uint64{1: 40}}},
			deliver: []delivery{{0, 0, 100}, {1, 0, 40}, {1, 42, 100}}, stats: counted(200, 200, 0),
			want: ringVerdict{Delivered: 198, ConsumerLost: 1, Lost: 1}, problem: "[41,42) lost"},
		{name: "a successor killed before it journaled a stream", deaths: []consumerDeath{
			{Claim: 2, LastOf: map[uint32]uint64{0: 100, 1: 40}}, {Claim: 2, LastOf: map[uint32]uint64{0: 100, 1: 40}}},
			deliver: []delivery{{0, 0, 100}, {1, 0, 40}, {1, 44, 100}}, stats: counted(200, 200, 0), want: ringVerdict{Delivered: 196, ConsumerLost: 4}},
		{name: "consumer loss away from the dead consumer's place", deaths: []consumerDeath{{Claim: 2, LastOf: map[uint32]uint64{0: 100, 1: 10}}},
			deliver: []delivery{{0, 0, 100}, {1, 0, 40}, {1, 42, 100}}, stats: counted(200, 200, 0),
			want: ringVerdict{Delivered: 198, Lost: 2}, problem: "[40,42) lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc := ringAccount{Name: "records", Records: true, Deaths: tt.deaths, OutOfOrder: tt.ooo, Stats: tt.stats, Drained: true,
				Streams: []streamAccount{{Stream: 0, End: 100, Uncertain: tt.uncertain, Claimed: tt.claimed}, {Stream: 1, End: 100}}}
			tl := fuzz.NewTally(0)
			for _, d := range tt.deliver {
				tl.Add(d.stream, d.start, d.end)
			}
			got := verifyRing(&acc, tl)
			problems := got.Problems
			if !equalCounts(got, tt.want) || got.MustSkip != tt.want.MustSkip {
				got.Problems = nil
				t.Errorf("verdict %+v, want %+v", got, tt.want)
			}
			wantFail := tt.want.Lost+tt.want.Duplicated+tt.want.Unsent+tt.want.Corrupt+tt.want.OutOfOrder > 0 ||
				tt.want.Leaked > 0 || tt.problem != ""
			if got.failed() != wantFail {
				t.Errorf("failed() = %v, want %v (problems %q)", got.failed(), wantFail, problems)
			}
			if tt.problem != "" && !strings.Contains(strings.Join(problems, "\n"), tt.problem) {
				t.Errorf("problems %q do not mention %q", problems, tt.problem)
			}
		})
	}
}
