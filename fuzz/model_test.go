package fuzz_test

import (
	"os"
	"strings"
	"testing"

	"github.com/shmring/shmring/fuzz"
)

// The model itself, on hand-written histories: each relaxation admits the
// state it was made for and nothing next to it, and the strict queue
// catches loss, duplication, reordering and wrong full/empty/EOF answers.
func TestQueueModel(t *testing.T) {
	a, b, c := fuzz.MakeValue(0, 0), fuzz.MakeValue(0, 1), fuzz.MakeValue(0, 2)
	push := func(cl int, v uint64, res fuzz.Result, call, ret int64) fuzz.Op {
		return fuzz.Op{Client: cl, Kind: fuzz.OpPush, Result: res, Value: v, Call: call, Return: ret}
	}
	pop := func(cl int, v uint64, res fuzz.Result, call, ret int64) fuzz.Op {
		return fuzz.Op{Client: cl, Kind: fuzz.OpPop, Result: res, Value: v, Call: call, Return: ret}
	}
	closeOp := func(cl int, call, ret int64) fuzz.Op {
		return fuzz.Op{Client: cl, Kind: fuzz.OpClose, Result: fuzz.ResOK, Call: call, Return: ret}
	}
	ok, full, empty, eof, closed := fuzz.ResOK, fuzz.ResFull, fuzz.ResEmpty, fuzz.ResEOF, fuzz.ResClosed
	tests := []struct {
		name     string
		capacity int
		ops      []fuzz.Op
		strict   bool // linearizable as a strict queue
		vyukov   bool // linearizable with every relaxation
	}{
		{"fifo", 2, []fuzz.Op{push(0, a, ok, 0, 1), push(0, b, ok, 2, 3), pop(1, a, ok, 4, 5), pop(1, b, ok, 6, 7), pop(1, 0, empty, 8, 9)}, true, true},
		{"reordered", 2, []fuzz.Op{push(0, a, ok, 0, 1), push(0, b, ok, 2, 3), pop(1, b, ok, 4, 5)}, false, false},
		{"concurrent pushes in either order", 2, []fuzz.Op{push(0, a, ok, 0, 5), push(1, b, ok, 1, 4), pop(2, b, ok, 6, 7), pop(2, a, ok, 8, 9)}, true, true},
		{"lost", 2, []fuzz.Op{push(0, a, ok, 0, 1), pop(1, 0, empty, 2, 3)}, false, false},
		{"duplicated", 2, []fuzz.Op{push(0, a, ok, 0, 1), pop(1, a, ok, 2, 3), pop(1, a, ok, 4, 5)}, false, false},
		{"phantom", 2, []fuzz.Op{pop(1, a, ok, 0, 1)}, false, false},
		{"full when full", 1, []fuzz.Op{push(0, a, ok, 0, 1), push(0, b, full, 2, 3)}, true, true},
		{"full when not full", 2, []fuzz.Op{push(0, a, ok, 0, 1), push(0, b, full, 2, 3)}, false, false},
		{"over capacity", 1, []fuzz.Op{push(0, a, ok, 0, 1), push(0, b, ok, 2, 3)}, false, false},
		{"eof when drained", 2, []fuzz.Op{push(0, a, ok, 0, 1), closeOp(0, 2, 3), pop(1, a, ok, 4, 5), pop(1, 0, eof, 6, 7)}, true, true},
		{"eof before drained", 2, []fuzz.Op{push(0, a, ok, 0, 1), closeOp(0, 2, 3), pop(1, 0, eof, 4, 5)}, false, false},
		{"push after close", 2, []fuzz.Op{closeOp(0, 0, 1), push(0, a, ok, 2, 3)}, false, false},
		{"closed before close", 2, []fuzz.Op{push(0, a, closed, 0, 1), closeOp(0, 2, 3)}, false, false},
		{"full on closed ring", 1, []fuzz.Op{push(0, a, ok, 0, 1), closeOp(0, 2, 3), push(0, b, full, 4, 5)}, false, false},

		// A claims position 0 and publishes it only at 10; B takes
		// position 1 and is done at 2; a pop at 3 finds position 0
		// unpublished: empty, though B's message is in the ring.
		{"pending push", 2, []fuzz.Op{push(0, a, ok, 0, 10), push(1, b, ok, 1, 2), pop(2, 0, empty, 3, 4),
			pop(2, a, ok, 11, 12), pop(2, b, ok, 13, 14), pop(2, 0, empty, 15, 16)}, false, true},
		// The same, but A's push returned before the pop began: nothing
		// was pending, so empty is wrong.
		{"pending push ended", 2, []fuzz.Op{push(0, a, ok, 0, 2), push(1, b, ok, 1, 2), pop(2, 0, empty, 3, 4)}, false, false},
		// The pending push must be the oldest item's: here A is done and
		// C (pending) is behind it.
		{"pending push not oldest", 3, []fuzz.Op{push(0, a, ok, 0, 1), push(1, c, ok, 2, 10), pop(2, 0, empty, 3, 4)}, false, false},
		// Capacity 2: A (position 0) is claimed by a slow pop (4..20), B
		// popped by another; a push at 7 needs position 0's slot, still
		// being read: full, though the queue is empty.
		{"pending pop", 2, []fuzz.Op{push(0, a, ok, 0, 1), push(0, b, ok, 2, 3), pop(1, a, ok, 4, 20), pop(2, b, ok, 5, 6),
			push(0, c, full, 7, 8)}, false, true},
		// The slow pop has returned before the push: full is wrong.
		{"pending pop ended", 2, []fuzz.Op{push(0, a, ok, 0, 1), push(0, b, ok, 2, 3), pop(1, a, ok, 4, 6), pop(2, b, ok, 5, 6),
			push(0, c, full, 7, 8)}, false, false},
		// The pending pop emptied another slot (B's), not the one the push
		// needs (A's, long free): full is wrong.
		{"pending pop other slot", 2, []fuzz.Op{push(0, a, ok, 0, 1), push(0, b, ok, 2, 3), pop(2, a, ok, 4, 5), pop(1, b, ok, 6, 20),
			push(0, c, full, 7, 8)}, false, false},
		// Close has set the closed bit (a push saw it) but not the Closed
		// mirror when the pop polls: empty instead of EOF.
		{"pending close", 2, []fuzz.Op{closeOp(0, 0, 10), push(1, a, closed, 1, 2), pop(2, 0, empty, 3, 4), pop(2, 0, eof, 11, 12)}, false, true},
		{"pending close ended", 2, []fuzz.Op{closeOp(0, 0, 2), push(1, a, closed, 1, 2), pop(2, 0, empty, 3, 4)}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fuzz.IsLinearizable(fuzz.QueueModel(tt.capacity, fuzz.Strict), tt.ops, checkTimeout); got != tt.strict {
				t.Errorf("strict: linearizable %v, want %v\n%s", got, tt.strict, fuzz.FormatHistory(tt.ops))
			}
			if got := fuzz.IsLinearizable(fuzz.QueueModel(tt.capacity, fuzz.Vyukov), tt.ops, checkTimeout); got != tt.vyukov {
				t.Errorf("vyukov: linearizable %v, want %v\n%s", got, tt.vyukov, fuzz.FormatHistory(tt.ops))
			}
		})
	}
}

// TestCheckReportsVisualization: a failed check names a visualization
// file.
func TestCheckReportsVisualization(t *testing.T) {
	ops := []fuzz.Op{
		{Client: 0, Kind: fuzz.OpPush, Result: fuzz.ResOK, Value: 1, Call: 0, Return: 1},
		{Client: 1, Kind: fuzz.OpPop, Result: fuzz.ResEmpty, Call: 2, Return: 3},
	}
	err := fuzz.Check(fuzz.QueueModel(2, fuzz.Vyukov), ops, checkTimeout)
	if err == nil {
		t.Fatal("lost message not reported")
	}
	t.Log(err)
	var path string
	for _, f := range strings.Fields(err.Error()) {
		if strings.HasSuffix(f, ".html") {
			path = f
		}
	}
	if path == "" {
		t.Fatalf("no visualization named in %q", err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("visualization %s: %v", path, err)
	}
	os.Remove(path)
}
