package ring

// The peer table: every attached handle owns one entry, which says who it
// is (pid, roles, start time), holds its counters, and proves it is alive.
//
// Liveness. In a ring created in an arena (header flag ringFlagPeerLocks)
// a handle holds, from its claim to its release, a liveness lock on the
// first byte of its entry in the arena file (arena.LockLive: an
// open-file-description write lock). The kernel drops the lock when the
// holder's process dies, however it dies, so an entry is alive exactly
// while its byte is locked: no heartbeat to miss, no background thread,
// and no pid that can be reused or that means another process in another
// pid namespace. A ring over caller memory (no file), or one created where
// such locks are not available, uses the pid instead: alive while kill(pid, 0)
// finds it and, on Linux, its /proc start time equals the entry's
// StartTicks (a reused pid is another process) and it is not a zombie.
//
// Claim order (docs/ring.md): with locks, the entry's liveness lock (held:
// the entry is alive, try the next), then PID = pid; without, the pid test
// and PID by CAS (0 or the dead pid -> pid). Then StartTicks, Roles = 0,
// the dead handle's sleeper counts taken out of the shared ones (Recover),
// Generation++, the dead handle's MPMC claims repaired and its claim words
// zeroed, AttachUnixNano, HeartbeatUnixNano. Release: counters, PID ->
// 0 by CAS only while Generation is still the claim's, then the lock.
//
// A ring created in an arena where liveness locks are not available (no
// OFD locks: not Linux 3.15+, or the file cannot be opened a second time)
// is created without the flag and uses the pid test.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/arena"
)

// Role says what a handle has done on a ring: produced, consumed or both.
// A handle has no role until its first producer or consumer operation.
type Role uint32

const (
	RoleProducer Role = 1 << 0
	RoleConsumer Role = 1 << 1
	// RoleSubscriber marks a broadcast subscriber's entry (with
	// RoleConsumer); RoleTethered one whose subscriber holds the producer
	// back (not lossy).
	RoleSubscriber Role = 1 << 2
	RoleTethered   Role = 1 << 3
)

var roleNames = [...]struct {
	r    Role
	name string
}{{RoleProducer, "producer"}, {RoleConsumer, "consumer"}, {RoleSubscriber, "subscriber"}, {RoleTethered, "tethered"}}

const knownRoles = RoleProducer | RoleConsumer | RoleSubscriber | RoleTethered

func (r Role) String() string {
	var parts []string
	for _, n := range roleNames {
		if r&n.r != 0 {
			parts = append(parts, n.name)
		}
	}
	if r&^knownRoles != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(r&^knownRoles)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

// Peer is one occupied entry of a ring's peer table, as Peers reads it.
type Peer struct {
	// Index is the entry's index in the table (1 .. Config.Peers-1, then
	// a broadcast ring's subscriber entries).
	Index int
	PID   int
	Roles Role
	// Alive is the liveness test's answer (see the package's peers.go):
	// the entry's liveness lock is held, or without locks its process
	// exists and is the one that claimed the entry.
	Alive bool
	// Locked says the answer came from the liveness lock (false: the pid
	// test).
	Locked bool
	// Attached is when the entry was claimed; LastActive the last time
	// the handle recorded activity: a single-threaded side (SPSC,
	// broadcast) every 64 operations, and when it goes to sleep or is
	// released after operations; an MPMC handle only when it goes to sleep
	// (a clock read per operation would cost more than the operation).
	Attached, LastActive time.Time
	Generation           uint32
	// The handle's counters (cumulative for the entry).
	MsgsIn, MsgsOut, BytesIn, BytesOut uint64
	FullEvents, EmptyEvents            uint64
	Sleeps, Wakes                      uint64
	// A broadcast subscriber's entry (Roles has RoleSubscriber) has no
	// producer counters but its cursor, its lapped events and the
	// messages it missed (SubscriberStats).
	Cursor, Lapped, Missed uint64
	// SleepingFull and SleepingEmpty are the entry's goroutines
	// registered as sleepers in the ring's NotFullWaiters and
	// NotEmptyWaiters (Stats): waiter counts above the sum over live
	// entries are registrations leaked by handles killed asleep.
	SleepingFull, SleepingEmpty uint32
}

// Peers lists the occupied entries of the ring's peer table (the shared
// overflow entry 0 aside), live and dead. A dead entry stays listed, with
// its counters, until a new handle reclaims it.
func (c *core) Peers() []Peer {
	if c.shut.Load() != 0 {
		return nil
	}
	var out []Peer
	for i := 1; i < int(c.g.peers); i++ {
		e := c.peerAt(i)
		pid := atomic.LoadUint32(&e.PID)
		if pid == 0 {
			continue
		}
		alive, locked := c.peerAlive(i, pid)
		out = append(out, Peer{
			Index: i, PID: int(pid), Roles: Role(atomic.LoadUint32(&e.Roles)),
			Alive: alive, Locked: locked,
			Attached:    time.Unix(0, atomic.LoadInt64(&e.AttachUnixNano)),
			LastActive:  time.Unix(0, atomic.LoadInt64(&e.HeartbeatUnixNano)),
			Generation:  atomic.LoadUint32(&e.Generation),
			MsgsIn:      atomic.LoadUint64(&e.MsgsIn),
			MsgsOut:     atomic.LoadUint64(&e.MsgsOut),
			BytesIn:     atomic.LoadUint64(&e.BytesIn),
			BytesOut:    atomic.LoadUint64(&e.BytesOut),
			FullEvents:  atomic.LoadUint64(&e.FullEvents),
			EmptyEvents: atomic.LoadUint64(&e.EmptyEvents),
			Sleeps:      atomic.LoadUint64(&e.Sleeps),
			Wakes:       atomic.LoadUint64(&e.Wakes),

			SleepingFull:  atomic.LoadUint32(&e.SleepingFull),
			SleepingEmpty: atomic.LoadUint32(&e.SleepingEmpty),
		})
		if uint64(i) >= c.g.subBase {
			p := &out[len(out)-1]
			p.Cursor = atomic.LoadUint64(subCursor(e))
			p.Missed, p.Lapped = p.MsgsIn, p.FullEvents
			p.MsgsIn, p.BytesIn, p.FullEvents = 0, 0, 0
		}
	}
	return out
}

// WaitPeers waits until at least n live handles with an entry in the peer
// table (the calling handle included) have the given role (0: any role,
// including none yet), polling the table, or until ctx ends. A handle
// takes its role at its first producer or consumer operation.
func (c *core) WaitPeers(ctx context.Context, role Role, n int) error {
	sleep := 100 * time.Microsecond
	for {
		if c.shut.Load() != 0 {
			return c.shutErr()
		}
		k := 0
		for _, p := range c.Peers() {
			if p.Alive && (role == 0 || p.Roles&role == role) {
				k++
			}
		}
		if k >= n {
			return nil
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		sleep = min(2*sleep, 10*time.Millisecond)
	}
}

// usesLocks reports whether this handle proves and tests liveness with
// locks: the ring says its handles hold them and we have its arena.
func (c *core) usesLocks() bool { return c.g.peerLocks && c.arena != nil && c.region != nil }

// peerLockOff is the arena-file offset of entry i's liveness byte: the
// first byte of the entry.
func (c *core) peerLockOff(i int) int64 {
	return c.region.Offset() + int64(c.g.peersOff+uint64(i)*c.g.peerStride) // inside the region: i < peers
}

// peerAlive tests entry i, whose PID word read pid != 0. locked says the
// lock answered.
func (c *core) peerAlive(i int, pid uint32) (alive, locked bool) {
	if c.usesLocks() {
		held, err := c.arena.LiveLocked(c.peerLockOff(i), 1)
		if err == nil {
			return held, true
		}
		// The arena handle is closed or the platform has no such locks:
		// fall back to the pid.
	}
	e := c.peerAt(i)
	return pidAlive(pid, atomic.LoadUint64(&e.StartTicks)), false
}

// pidAlive is the fallback test: the process exists, is not a zombie, and
// started when the entry says (if both start times are known).
func pidAlive(pid uint32, startTicks uint64) bool {
	if pid == selfPID {
		return startTicks == 0 || startTicks == processStartTicks()
	}
	if !processAlive(pid) {
		return false
	}
	ticks, zombie, ok := procStat(pid)
	if !ok {
		return true // no /proc view of it (another platform, hidepid): kill said it exists
	}
	return !zombie && (startTicks == 0 || ticks == 0 || ticks == startTicks)
}

var selfPID = uint32(os.Getpid())

// claimPeer takes a free peer entry, else one whose handle is dead, else
// falls back to the shared overflow entry 0. Free entries are preferred to
// dead ones so that a dead peer's counters stay readable as long as
// possible. It fails only if the ring uses liveness locks and one could not
// be taken for a reason other than a live holder.
func (c *core) claimPeer() error {
	if c.subscriber {
		return c.claimSubscriber()
	}
	if c.g.peerLocks && !c.usesLocks() {
		// The ring's handles prove they are alive with locks on the arena
		// file, and this one, attached through the ring's bytes without
		// the arena, can take none: an entry of its own would look dead
		// to the others. It counts into the shared overflow entry.
		c.setPeer(c.peerAt(0), 0)
		return nil
	}
	ok, err := c.claimIn(1, int(c.g.subBase))
	if err != nil || ok {
		return err
	}
	c.setPeer(c.peerAt(0), 0)
	return nil
}

// claimSubscriber takes an entry of a broadcast ring's subscriber part
// (free first, else dead), for a subscriber handle: its cursor lives in
// the entry, so it cannot share the overflow entry, and a full table is
// ErrSubscribers.
func (c *core) claimSubscriber() error {
	if c.g.peerLocks && !c.usesLocks() {
		return fmt.Errorf("%w: a subscriber of a ring in an arena must attach through the arena", ErrInvalid)
	}
	ok, err := c.claimIn(int(c.g.subBase), int(c.g.peers))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: all %d entries are held by live subscribers", ErrSubscribers, c.g.peers-c.g.subBase)
	}
	return nil
}

// claimIn claims an entry in [lo, hi): a free one, else one whose handle
// is dead.
func (c *core) claimIn(lo, hi int) (bool, error) {
	for pass := 0; pass < 2; pass++ {
		for i := lo; i < hi; i++ {
			old := atomic.LoadUint32(&c.peerAt(i).PID)
			if pass == 0 && old != 0 || pass == 1 && old == 0 {
				continue
			}
			ok, err := c.tryClaim(i, old)
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// tryClaim tries to make entry i, whose PID word read old, this handle's.
func (c *core) tryClaim(i int, old uint32) (bool, error) {
	e := c.peerAt(i)
	if c.usesLocks() {
		// Lock first: every owner holds the entry's lock from before its
		// PID store until after its release's PID store, so once we hold
		// it no live handle owns the entry, and the lock itself is the
		// liveness test (held: alive, skip it). The PID is then ours to
		// store whatever it says.
		l, err := c.arena.LockLive(c.peerLockOff(i))
		if errors.Is(err, arena.ErrHeld) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("ring: peer entry %d: %w", i, err)
		}
		c.live = l
		atomic.StoreUint32(&e.PID, selfPID)
	} else {
		// The pid test, then a CAS: the entry becomes ours only if it is
		// still free (or still the dead handle's) when we take it.
		if old != 0 {
			if alive, _ := c.peerAlive(i, old); alive {
				return false, nil
			}
		}
		if !atomic.CompareAndSwapUint32(&e.PID, old, selfPID) {
			return false, nil
		}
	}
	// A dead handle may have died asleep: take its registrations out of
	// the shared waiter counts before the entry is ours (we hold its lock,
	// or won its PID: nobody else can register in it yet).
	// The start time first: until it is ours, the pid test (rings
	// without locks) would read the entry as the dead process's, and a
	// second claimer could take it too.
	atomic.StoreUint64(&e.StartTicks, processStartTicks())
	// The dead handle's roles before the generation bump: a broadcast
	// producer must not read a dead tethered subscriber's role beside the
	// cursor word we are about to zero, under the new generation
	// (broadcast.go, tether).
	atomic.StoreUint32(&e.Roles, 0)
	c.unregisterSleepers(e, nil)
	now := time.Now().UnixNano()
	gen := atomic.AddUint32(&e.Generation, 1)
	if atomic.LoadUint64(&e.ProdClaim)|atomic.LoadUint64(&e.ConsClaim) != 0 {
		// It died claiming MPMC slots: its claim words are the only
		// record of which untagged slots are its, and ours will overwrite
		// them, so repair those claims first (the generation bump already
		// makes its tags read as dead).
		c.ops.repairClaims(i)
		atomic.StoreUint64(&e.ProdClaim, 0)
		atomic.StoreUint64(&e.ConsClaim, 0)
	}
	c.peerGen = gen
	c.ownerTag = makeTag(i, c.peerGen)
	atomic.StoreInt64(&e.AttachUnixNano, now)
	atomic.StoreInt64(&e.HeartbeatUnixNano, now)
	c.setPeer(e, i)
	c.rolesDone.Store(0)
	return true, nil
}

// releasePeer frees the handle's entry (its counters are published by each
// operation already).
func (c *core) releasePeer() {
	if c.peerIdx > 0 && atomic.LoadUint32(&c.peer.Generation) == c.peerGen {
		// Release: our last counter updates happen before the entry is
		// seen free. The generation check keeps us from freeing an entry
		// someone reclaimed meanwhile (our lock lost with a closed arena
		// handle, say).
		atomic.CompareAndSwapUint32(&c.peer.PID, selfPID, 0)
	}
	// After the PID store, so that the entry is never unlocked while its
	// PID names us. An unlock that fails leaves the byte held until the
	// arena handle closes: the entry then reads as alive with PID 0, which
	// no claimer takes (it locks first) and which Peers does not list.
	_ = c.live.Unlock()
	c.live = nil
	// Later counting through this handle goes to a private entry, not to
	// the shared one another handle may claim next.
	c.setPeer(new(peerEntry), 0)
	c.ownerTag = tagOverflow
	c.rolesDone.Store(0)
}

// markRole records a role in the handle's entry, once.
func (c *core) markRole(role Role) {
	// The handle's own cache of what it recorded, so that every claim reads
	// a private word rather than the shared entry's first line, which the
	// producer side writes.
	if c.rolesDone.Load()&uint32(role) != uint32(role) {
		atomic.OrUint32(&c.peer.Roles, uint32(role))
		c.rolesDone.Or(uint32(role))
	}
}

// beat records the handle's last activity.
func (c *core) beat() {
	atomic.StoreInt64(&c.peer.HeartbeatUnixNano, time.Now().UnixNano())
}

// livePeers counts the occupied entries that are alive and dead.
func (c *core) livePeers() (live, dead int) {
	for i := 1; i < int(c.g.peers); i++ {
		pid := atomic.LoadUint32(&c.peerAt(i).PID)
		if pid == 0 {
			continue
		}
		if alive, _ := c.peerAlive(i, pid); alive {
			live++
		} else {
			dead++
		}
	}
	return live, dead
}

// Recovery says what Recover repaired.
type Recovery struct {
	// DeadPeers is the number of dead entries found.
	DeadPeers int
	// Sleepers is the number of futex registrations of dead handles
	// (handles killed asleep in Push or Pop) taken out of the shared
	// waiter counts, after which notifiers stop calling FUTEX_WAKE for
	// them.
	Sleepers int
	// Skipped is the number of MPMC slots that dead producers had claimed
	// and not committed, turned into skip records; Redelivered the number
	// of MPMC messages that dead consumers had claimed and not released,
	// handed to the consumers again (possible only once producers have
	// come round to the slot: until then the message waits, counted
	// nowhere yet). Both count repairs made during the call, by it or by
	// another handle at the same time.
	Skipped, Redelivered int
	// Truncated: the arena file was found shorter than the mapping (a
	// process truncated it; Recover asks the arena first, one fstat):
	// the ring's memory may be gone, and this handle, like every handle
	// made through the same arena handle, no longer touches it. Its
	// operations return an error matching ErrCorrupt and
	// arena.ErrTruncated (closed.go).
	Truncated bool
}

// Recover repairs what dead handles left behind, and reports it. Every
// handle also does it by itself when a wake finds nobody to wake (at most
// once per 10 ms), and before it reuses a dead entry; tools call it to
// repair and report at once. A registration that no entry accounts for
// (a sleeper killed between its two registration adds or subtracts) is
// taken out by sweepSurplus, here after a 1 ms second look. What it
// cannot repair: sleepers of the shared overflow entry 0 (handles that
// found the table full), each of which, killed asleep, leaves one
// registration behind (a FUTEX_WAKE call per publish that wakes nobody,
// until the ring is recreated).
func (c *core) Recover() Recovery {
	if rec, shut := c.recoverShut(); shut {
		return rec
	}
	rec := c.recoverSleepers()
	rec.Sleepers += c.sweepSurplus(true)
	rec.Skipped, rec.Redelivered = c.ops.repairClaims(-1)
	return rec
}

// recoverSleepers is the part of Recover that repairs dead sleepers'
// registrations (what idle wakes run).
func (c *core) recoverSleepers() Recovery {
	var rec Recovery
	for i := 1; i < int(c.g.peers); i++ {
		e := c.peerAt(i)
		// Read before the liveness test: a claim bumps Generation before
		// its handle can register a sleeper, so a repair that sees it
		// unchanged after its swap took only the dead handle's counts.
		gen := atomic.LoadUint32(&e.Generation)
		pid := atomic.LoadUint32(&e.PID)
		if pid == 0 {
			continue
		}
		if c.usesLocks() {
			// Holding the entry's lock, nobody can claim it meanwhile:
			// the repair is exact. Held by someone else: alive.
			l, err := c.arena.LockLive(c.peerLockOff(i))
			if err != nil {
				continue
			}
			rec.DeadPeers++
			rec.Sleepers += c.unregisterSleepers(e, nil)
			_ = l.Unlock()
			continue
		}
		if alive, _ := c.peerAlive(i, pid); alive {
			continue
		}
		rec.DeadPeers++
		rec.Sleepers += c.unregisterSleepers(e, func() bool { return atomic.LoadUint32(&e.Generation) == gen })
	}
	return rec
}

// idleWake is called when a wake found nobody to wake: a benign race (a
// sleeper that registered but had not reached FUTEX_WAIT yet, which the
// Seq bump sends back to re-check), a CloseWrite or cancellation waking
// everyone, or a sleeper that died registered. It looks for dead sleepers
// at most once per 10 ms per handle; the cost (a liveness test per
// occupied peer entry) is paid on a path that just made a system call.
func (c *core) idleWake() {
	now := monoNow()
	last := c.lastRecover.Load()
	if now-last < int64(idleRecoverEvery) || !c.lastRecover.CompareAndSwap(last, now) {
		return
	}
	c.recoverSleepers()
	c.sweepSurplus(false)
}

// sweepSurplus takes out of the shared waiter counts what no entry
// accounts for: NotEmptyWaiters (NotFullWaiters) above the sum of every
// entry's SleepingEmpty (SleepingFull), entry 0 included. That surplus is
// what a handle killed between its two registration adds (or its two
// subtracts), or a repairer killed between its swap and its subtract,
// leaves behind: a FUTEX_WAKE per publish that wakes nobody. A live
// registration shows as surplus only for the instant between its two
// steps, so a surplus is taken out only once it has been seen at two looks
// at least sweepApart apart, and only as much as the smaller look saw.
// With wait (Recover), the second look comes after sleeping sweepApart;
// otherwise (idle wakes, at most every 10 ms) it is the next call's look.
// Two looks that each caught a different live registration mid-way would
// take one out too many: a sleeper may then miss one wake-up and wake at
// its sleep bound (100 ms) instead, and the count heals as sleepers
// unregister (clamped at 0). It returns how many it took out.
func (c *core) sweepSurplus(wait bool) int {
	now := monoNow()
	cur := c.surplus()
	if wait && (cur[0] != 0 || cur[1] != 0) {
		time.Sleep(sweepApart)
		prev := cur
		cur = c.surplus()
		cur = [2]uint32{min(prev[0], cur[0]), min(prev[1], cur[1])}
	} else if !wait {
		prevAt := c.surplusAt.Load()
		prev := [2]uint32{c.surplusSeen[0].Load(), c.surplusSeen[1].Load()}
		c.surplusSeen[0].Store(cur[0])
		c.surplusSeen[1].Store(cur[1])
		c.surplusAt.Store(now)
		if prevAt == 0 || now-prevAt < int64(sweepApart) {
			return 0
		}
		cur = [2]uint32{min(prev[0], cur[0]), min(prev[1], cur[1])}
	}
	n := 0
	for i, w := range [2]*uint32{&c.prod.NotEmptyWaiters, &c.cons.NotFullWaiters} {
		if cur[i] != 0 {
			n += int(subtractClamped(w, cur[i]))
			c.surplusSeen[i].Store(0)
		}
	}
	return n
}

// sweepApart is how far apart the two looks of sweepSurplus must be.
const sweepApart = time.Millisecond

// surplus is each shared waiter count minus the sum of the entries'
// sleeping counts, or 0.
func (c *core) surplus() [2]uint32 {
	var sum [2]uint64
	for i := 0; i < int(c.g.peers); i++ {
		e := c.peerAt(i)
		sum[0] += uint64(atomic.LoadUint32(&e.SleepingEmpty))
		sum[1] += uint64(atomic.LoadUint32(&e.SleepingFull))
	}
	var out [2]uint32
	for i, w := range [2]*uint32{&c.prod.NotEmptyWaiters, &c.cons.NotFullWaiters} {
		if v := uint64(atomic.LoadUint32(w)); v > sum[i] {
			out[i] = uint32(v - sum[i])
		}
	}
	return out
}

// idleRecoverEvery bounds how often idle wakes run Recover.
const idleRecoverEvery = 10 * time.Millisecond

// unregisterSleepers takes entry e's sleeper registrations out of the
// shared waiter counts and returns how many. The caller knows e's handle
// is dead: it holds e's lock, or won e's PID by CAS from the dead pid, or
// (pid test) passes still, which must report that no claim happened since
// the test; if it says one did, what was swapped goes back. Swap makes it
// idempotent: of two repairers of one entry, one subtracts.
func (c *core) unregisterSleepers(e *peerEntry, still func() bool) int {
	n := 0
	for _, s := range [...]struct{ reg, waiters *uint32 }{
		{&e.SleepingEmpty, &c.prod.NotEmptyWaiters},
		{&e.SleepingFull, &c.cons.NotFullWaiters},
	} {
		v := atomic.SwapUint32(s.reg, 0)
		if v == 0 {
			continue
		}
		if still != nil && !still() {
			atomic.AddUint32(s.reg, v) // a new owner's: give them back
			continue
		}
		n += int(subtractClamped(s.waiters, v))
	}
	return n
}

// subtractClamped subtracts v from *w without going below 0 (the peer
// words are hostile input too), and returns what it subtracted.
func subtractClamped(w *uint32, v uint32) uint32 {
	for try := 0; try < maxRetries; try++ {
		cur := atomic.LoadUint32(w)
		d := min(cur, v)
		if d == 0 || atomic.CompareAndSwapUint32(w, cur, cur-d) {
			return d
		}
	}
	return 0
}

// otherSideDead reports whether every handle that worked the other side
// of a waiting producer (push) or consumer is dead: at least one entry has
// that role, and no entry with it is alive. The overflow entry 0, whose
// handles cannot be told apart, counts as alive if it has the role.
func (c *core) otherSideDead(push bool) bool {
	role := RoleProducer
	if push {
		role = RoleConsumer
	}
	if c.g.peerLocks && !c.usesLocks() {
		// The ring's handles prove liveness by lock and this one cannot
		// test locks: a pid says nothing across pid namespaces. Unknown
		// counts as alive.
		return false
	}
	if Role(atomic.LoadUint32(&c.peerAt(0).Roles))&role != 0 {
		return false
	}
	sawDead := false
	for i := 1; i < int(c.g.peers); i++ {
		e := c.peerAt(i)
		pid := atomic.LoadUint32(&e.PID)
		if pid == 0 || Role(atomic.LoadUint32(&e.Roles))&role == 0 {
			continue
		}
		if alive, locked := c.peerAlive(i, pid); alive || c.g.peerLocks && !locked {
			return false // alive, or a lock ring whose lock could not be tested: unknown
		}
		sawDead = true
	}
	return sawDead
}

// otherSideLocal reports whether every handle that records the other
// side's role (the consumer's for a producer, push, and the producer's for
// a consumer) is in this process, and there is at least one: the adaptive
// wait's hint that yielding lets the other side run (wait.go). The shared
// overflow entry names no process and makes the answer false.
func (c *core) otherSideLocal(push bool) bool {
	role := RoleProducer
	if push {
		role = RoleConsumer
	}
	if Role(atomic.LoadUint32(&c.peerAt(0).Roles))&role != 0 {
		return false
	}
	self := uint32(os.Getpid())
	seen := false
	for i := 1; i < int(c.g.peers); i++ {
		e := c.peerAt(i)
		pid := atomic.LoadUint32(&e.PID)
		if pid == 0 || Role(atomic.LoadUint32(&e.Roles))&role == 0 {
			continue
		}
		if pid != self {
			return false
		}
		seen = true
	}
	return seen
}
