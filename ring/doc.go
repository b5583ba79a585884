// Package ring implements lock-free SPSC, MPMC and broadcast message rings
// in shared memory: an arena region (or any []byte) that several processes
// map.
//
// # Rings
//
// An SPSC ring has one producer and one consumer. Head and tail live on
// separate padded units; each side keeps its own position privately and a
// cached copy of the other's, so in steady state a push touches the shared
// tail's line once and the head's line only when the cache says full.
//
// An MPMC ring is Vyukov's bounded queue: every slot carries a sequence
// number that says whose turn it is; producers and consumers claim
// positions with a CAS on a shared counter and publish with a store to the
// slot's sequence, so every message is delivered exactly once and
// per-producer order is kept.
//
// A broadcast ring (CreateBroadcast, Subscribe) has one producer and any
// number of subscribers, each of which sees every message, with one copy
// per message whatever their number. Each subscriber keeps its cursor in
// its own peer entry. Tethered subscribers hold the producer back (it
// keeps a cached minimum of their cursors and rereads them only when the
// cache says full; a dead one is released); lossy ones never do, and read
// each slot seqlock-style: copy, then check the slot's sequence did not
// change, so a torn message is never returned (unless a paused, fenced
// producer scribbles into a slot a full ring later: docs/ring.md, crash
// contract) and a lapped subscriber gets
// ErrLapped with the exact number of messages it missed (broadcast.go,
// subscriber.go).
//
// A record ring (CreateRecords) has a capacity in bytes rather than slots:
// records of any length up to a maximum (frames of megabytes, log lines
// of a few bytes, in one ring), each a 16-byte header and its payload
// rounded up to 16, from any number of producers to one consumer.
// Producers claim space under a claim lock of a few instructions (the
// header is written before the claim position moves), write the payload
// outside it, and commit by a CAS of the header's state; several
// reservations and several peeks may be outstanding at once. In an arena
// the data area is mapped twice, back to back (arena.Mirror), so a record
// that crosses the end is still one slice; over caller memory a padding
// record fills the space before the wrap. A dead producer's uncommitted
// record becomes a skip record the consumer passes (records.go).
//
// Positions are counters that only grow (63-bit for MPMC; 56-bit for SPSC,
// whose words carry the side's epoch in bits 56..62; bit 63 of the
// producer word means closed), indexed modulo Slots, so wrap-around is a
// non-event.
// Every 8-byte atomic is 8-byte aligned. Hot fields sit on their own units
// of the padding size recorded in the arena header; docs/ring.md has the
// byte-exact layout.
//
// # Operations
//
// Try* operations never block and are the core: TryPush, TryPop, batches
// (TryPushBatch, TryPopBatch: one update of the shared counters for many
// messages), and zero-copy TryReserve/Commit and TryPeek/Release. Push,
// Pop and the other blocking forms wait according to the handle's
// WaitStrategy (spin with the CPU's pause instruction, yield, sleep in a
// futex, or the adaptive default that does each in turn) and take a
// context for cancellation and deadlines. A blocking call whose context
// ends tries once more and returns the context's error only if the ring
// is still busy then: what the other side did before the cancellation is
// never lost to it.
//
// # Handles and streams
//
// A handle and the stream it reads or writes are separate things, as a
// net.TCPConn and its two directions are, and as an io.Pipe's two ends:
//
//   - Close releases the handle: it publishes the handle's counters and
//     frees its peer entry. If the handle is an SPSC ring's producer (it
//     ran a producer operation and no other handle took over since), Close
//     first ends the stream, as closing a pipe's write end does. A
//     consumer's Close, and an MPMC handle's, never end the stream, so a
//     consumer's defer r.Close() is always safe.
//   - CloseWrite ends the stream for every process, from any handle,
//     without releasing it (net.TCPConn's CloseWrite): pushes fail with
//     ErrClosed (which also matches os.ErrClosed), consumers drain what
//     was committed and then get io.EOF, and every waiter wakes.
//   - Detach releases the handle without ending the stream even for a
//     producer: for handing a side over to another handle.
//
// After Close or Detach every operation on the handle returns an error
// matching ErrClosed (Len, Stats, Peers and Recover return zero values,
// IsClosed false: ask another handle); calls blocked in other goroutines
// wake and return it, and Close and Detach wait for them. The same holds
// after the Close of the arena handle the ring was created or opened
// through (the errors also match arena.ErrClosed), even while other
// goroutines are in the middle of operations: the handle pins the
// arena's mapping (arena.Pin), so a call already past its check finishes
// on harmless private memory instead of faulting (for the other
// processes, the arena's Close is the handle's death at that moment: the
// crash contract of docs/ring.md; it does not end the stream). A handle
// over caller memory (New, Attach) pins nothing: the caller must not
// unmap that memory under it. An arena file found
// truncated under the mapping (Recover, arena.CheckSize) makes them
// return an error matching ErrCorrupt and arena.ErrTruncated. The check
// is one load of a word private to the handle. closed.go has the
// protocol.
//
// # Errors
//
// Every error is a sentinel of errors.go, bare on the hot path and
// wrapped with detail elsewhere; test with errors.Is. A negative length is
// ErrInvalid, a length above SlotSize ErrTooLarge; a second SPSC
// reservation or peek while one is held is ErrOutstanding; a Commit or
// Release of a token this handle does not hold is ErrNotReserved. A
// blocked Push or Pop whose other side is only dead handles (every
// entry that records the other side's role is dead) returns ErrPeerDead
// within about 200 ms.
//
// # Crashes and takeovers
//
// A process may die at any instruction; the others keep going, without a
// call. An MPMC claim a dead handle held is repaired in place by whoever
// finds it blocking them (mpmc_repair.go): a producer's uncommitted claim
// becomes a skip record that consumers pass over, a consumer's unreleased
// message is delivered again to another consumer; both are counted
// (Stats.Skipped, Stats.Redelivered). Whose claim a slot is comes from the
// claimant's peer entry (a claim word set around the claiming CAS) or the
// slot's Owner tag (index, role, lap, generation). WithClaimTimeout also
// moves claims that live handles hold too long. An SPSC side is taken over
// by the next handle that works it, which bumps the side's epoch in its
// position word; the handle it replaced gets ErrFenced (spsc_takeover.go).
// A dead sleeper's futex registration is taken out of the waiter counts.
// Recover does all of it on demand and says what it did. docs/ring.md
// states the crash contract, per kind.
//
// # Files
//
// api.go holds the types every kind shares (Ring, Reservation, Message,
// Stats, WaitStrategy), errors.go the sentinels, config.go the geometry
// limits, layout.go every shared-memory record and the ring kinds,
// lifecycle.go create/open/attach and options, peers.go the peer table
// (liveness by kernel-kept locks, Peers, WaitPeers, Recover), core.go the
// state and operations every kind shares, closed.go what a closed
// handle does (and how closing waits for its blocked calls), shell.go
// the one slow path of
// every blocking operation (wait.go its strategies, eventcount.go the
// futex protocol). spsc.go, spsc_consumer.go and mpmc.go are the
// algorithms, hot path first; spsc_takeover.go the SPSC rare paths and
// fencing, mpmc_repair.go the MPMC claim repair, records.go the record
// ring (broadcast.go and subscriber.go the broadcast ring). A new
// ring kind embeds core, implements kindOps (shell.go) and gets the
// blocking API, closing, counting and the peer table from them.
//
// # Concurrency
//
// SPSC: at most one goroutine (in any process) produces at a time, and at
// most one consumes; one handle may serve both. MPMC: any number of
// goroutines and processes, on one handle or many. Stats, Len, IsClosed and
// SetWaitStrategy are safe from anywhere.
//
// # Memory ordering
//
// A producer writes a slot with plain stores and publishes it with a
// sequentially consistent atomic (the tail CAS for SPSC, a CAS of the
// slot's Seq for MPMC); a consumer acquire-loads that word before reading
// the slot, and hands the slot back with another sequentially consistent
// CAS that the producer acquire-loads before reusing it. (CASes rather
// than stores, so that a repairer's CAS and the holder's own cannot both
// land.) The sequentially
// consistent publish also serves the eventcount that lets sleepers block
// in a futex: it orders the publish before the load of the other side's
// waiter count, so no wake-up is lost and no system call is made while
// nobody sleeps. docs/ring.md gives the argument for each atomic.
//
// # Trust
//
// Every value a peer can write (positions, sequence numbers, lengths, the
// ring header) is read once into a local, checked against the ring's
// private geometry, and an impossible value returns ErrCorrupt. Slot
// addresses are computed from private copies of the geometry only, so no
// shared value can steer an access outside the ring.
package ring
