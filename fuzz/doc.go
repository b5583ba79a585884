// Package fuzz holds the harnesses that test shmring's rings from the
// outside, through ring's public API only: a linearizability checker built
// on porcupine, the pieces of the multi-process soak (fuzz/cmd/soak) and
// of the kill -9 campaign (fuzz/cmd/crash), and
// in its tests the black-box fuzz target FuzzOps (fuzz_ops_test.go) and the
// SPSC and MPMC stress harnesses (stress_test.go). The
// white-box fuzz targets, which need ring's internals, live next to the
// code they test (arena.FuzzOpen, ring.FuzzRingOps,
// ring.FuzzHostileMemory, ring.FuzzRecordsOps, ring.FuzzHostileRecords);
// docs/testing.md describes all of them and how to run each for longer.
//
// # Concurrency
//
// Recorder.Client and Recorder.Ops may be called from any goroutine; each
// Client records one goroutine's operations and must be used by one
// goroutine at a time. A Ledger's methods are safe for concurrent use; a
// Tally is used by one goroutine at a time. Everything else is plain
// values and pure functions. Nothing here touches
// shared memory except through the ring and arena APIs, so there is no
// memory-ordering contract of its own: Recorder.Ops and Ledger.Finish are
// to be called after the goroutines or processes that fed them are done.
//
// # Linearizability (QueueModel, Recorder, Check)
//
// A history is a set of operations by several clients (goroutines, or
// processes), each with the time it was called and the time it returned;
// porcupine decides whether some order of the operations, consistent with
// those times, is a legal sequence of a model. The model is a bounded FIFO
// queue whose capacity is the ring's Slots:
//
//	push(v) -> ok      if not closed and fewer than capacity items (v is appended)
//	push(v) -> full    if not closed and capacity items
//	push(v) -> closed  if closed
//	pop()   -> v       if v is the oldest item (it is removed)
//	pop()   -> empty   if no item and not closed
//	pop()   -> eof     if no item and closed
//	close() -> ok      (idempotent)
//
// so TryPush answers ErrFull only when the queue holds capacity items and
// TryPop answers ErrEmpty only when it holds none. Pushed values are
// (client, sequence) pairs, unique in a history, so a value popped twice,
// popped without having been pushed, or popped out of order makes the
// history illegal; after the clients finish, one more client drains the
// ring, and its final empty (or eof), which overlaps nothing, shows that
// nothing pushed was lost. Exactly-once delivery is therefore checked as
// well as order. Messages carry the value and its complement, so a torn or
// stray slot cannot pass for a value. A push goes through TryPush or
// through TryReserve and Commit, a pop through TryPop or through TryPeek
// and Release, with a pause (Client.Dawdle) between the two halves that
// keeps a slot claimed but not yet published or handed back for a while.
//
// SPSC rings are checked against this strict queue: a push takes effect at
// the store of the slot's Seq (a consumer may read the message through it
// before the producer's Tail moves), a pop at its store of Head, and a
// TryPush's "full" compares its Tail with the Head of completed pops, so
// each answer is exact at one instant inside the call.
//
// MPMC rings are Vyukov's queue, which is not linearizable to the strict
// queue, and the test histories show it (the tests log how many histories
// needed each relaxation). Positions are claimed by a CAS and published
// or handed back by a later store to the slot's Seq, so there are states
// in which a slot is claimed and not yet published or released. Taking
// every push and pop to take effect at its claiming CAS (the order of
// positions, which is also the queue's order), three answers depart from
// the strict queue, each only while another operation is still in
// progress; the Vyukov model (the three Relax flags) admits exactly those,
// keyed on the operation that is in progress rather than on counts:
//
//   - RelaxPendingPush. A pop finds the slot of the oldest position free
//     (Seq == pos): its producer claimed it but has not published it. The
//     pop answers empty though later positions may hold published
//     messages, even ones whose push has returned. The model allows empty
//     when the queue's oldest item was pushed by a push that overlaps the
//     pop (at the instant the pop read Seq that push was between its CAS
//     and its publish, so its interval contains an instant of the pop's).
//   - RelaxPendingPop. A push finds that the slot its position maps to
//     still holds the message from one lap earlier (Seq == pos-Slots+1)
//     although a consumer has claimed it: the consumer is still copying
//     it out (or holds it through TryPeek). The push answers full though
//     the queue, counting that pop as done, holds fewer than capacity
//     items, even none. The model keeps the values popped out of the slots
//     that the next pushes will reuse, and allows full when the value last
//     in the slot this push needs was popped by a pop that overlaps the
//     push. (When the slot holds a message nobody has claimed, or a
//     position one lap back that is claimed but not published, the queue
//     really holds capacity items and full is strict.)
//   - RelaxPendingClose. Close sets the closed bit in the producer
//     position and then a read-mostly Closed mirror, which consumers poll
//     before they look at the producer position. A pop between the two
//     stores answers empty on an empty, closed ring, even after another
//     client's push has answered closed. The model allows empty instead
//     of eof while a Close overlaps the pop. (This window is a few
//     instructions wide; the relaxation is from reading the code, and the
//     tests report whether it was ever needed.)
//
// Everything else stays strict: an item is never lost, duplicated or
// reordered, full and empty are allowed only while the specific operation
// that causes them is in progress, closed and eof are exact. The model
// table test (model_test.go) pins each relaxation on a hand-written
// history and the histories just next to it that it must still reject.
//
// Timestamps come from one Clock: ProcessClock (Go's monotonic clock from
// one base) within a process, MonotonicClock (CLOCK_MONOTONIC, shared by
// every process on a machine) across processes, whose operation logs
// (LogWriter, ReadLog) the parent merges before checking.
//
// # Soak (EncodeMessage, Ledger)
//
// Soak messages carry (stream, seq, length, CRC-32C), see message.go.
// Consumers check each message and report the numbers they received per
// stream as run-length ranges, with floors; a Ledger merges the reports
// and proves that the consumers together received every number in
// [0, sent) exactly once, in memory bounded by how far consumers drift
// apart rather than by the number of messages (ledger.go gives the
// argument). fuzz/cmd/soak runs the processes.
//
// # Crash campaign (Tally)
//
// The kill -9 campaign cannot use a Ledger: a message a killed consumer
// held may come again, out of order, to another consumer, and every
// restarted consumer is a new reporter. A Tally (tally.go) counts instead
// how often each number of each stream was delivered, in any order, in
// memory proportional to the places where the count changes (gaps and
// duplicates), and fuzz/cmd/crash judges each count against its crash
// contract (fuzz/cmd/crash/contract.go).
//
// # Commands (Main, RunFlags)
//
// Both commands are built on command.go: Main, which is also their
// children's entry point (they re-execute themselves, internal/xproc),
// the flags they share (RunFlags), ErrFailed for a FAIL verdict,
// PrintProblems and ArenaSize. MessageSize draws their messages' lengths.
package fuzz
