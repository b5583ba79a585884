/*
 * broadcast.c: the broadcast ring (docs/ring.md "Broadcast (seqlock
 * slots, tethered cursors)", "Subscriber entry", "Foreign peers: Broadcast
 * producer, Subscriber"), ported from ring/broadcast.go,
 * ring/broadcast_takeover.go and ring/subscriber.go.
 *
 * Invariants (positions are 56-bit counters below the producer word's
 * epoch, as on SPSC; slot i holds position p with p & (Slots-1) == i):
 *
 *   - Only the producer writes prod.Pos (by CAS: CloseWrite may set bit
 *     63 from any process) and the slots. Each subscriber writes only its
 *     own entry in the subscriber part of the peer table: its cursor (the
 *     word at 64: the next position it reads) and its counters.
 *   - A slot's Seq is its seqlock word: pos+1 when it holds the complete
 *     message of pos; (pos+1) | 2^63 while the producer writes pos into
 *     it. The mark is stored before any byte of Len or data changes (a
 *     release fence after it), the plain value (release) after them: a
 *     reader that loads Seq == q+1 before and after its copy copied the
 *     whole of message q.
 *   - The producer writes p only if p < c + Slots for every tethered
 *     cursor c it does not know to be dead, checked against a private
 *     cache (limit) reloaded only when it says full. Cursors only grow:
 *     a stale limit is conservative. A tethered subscriber stores its
 *     cursor (seq_cst) after its copy; the producer acquire-loads it
 *     before it marks the slot.
 *   - Lossy subscribers hold nothing back and learn from Seq that they
 *     were lapped.
 *   - Every value read from shared memory (Seq, Len, cursors, prod.Pos)
 *     is loaded once and bounded by the private geometry before use.
 *
 * The data copies are plain memcpy on both sides (the protocol's "plain"
 * Data): a lossy reader's copy may race the producer's rewrite, and is
 * kept only if Seq did not change, which is the seqlock's whole point. The
 * fences around them are C11 fences, which GCC also treats as compiler
 * barriers that no access moves across.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define B(r) (&(r)->u.bc)
#define SUB(r) (&(r)->u.sub)
#define BCAST_SLOT_HEADER 16
#define PROBE_EVERY_NS 1000000 /* Try pushes test holders' liveness at most this often */

static uint8_t *slot(shmring_ring *r, uint64_t pos) { return r->mem + r->g.slots_off + (pos & r->g.mask) * r->g.stride; }
static uint8_t *slot_data(shmring_ring *r, uint64_t pos) { return slot(r, pos) + BCAST_SLOT_HEADER; }

/* Acquire (seq_cst as Go's LoadUint64): pairs with the producer's release stores of Seq. */
static uint64_t slot_seq(shmring_ring *r, uint64_t pos) { return ld64(slot(r, pos)); }

/* Len: a relaxed atomic (a hostile or racing write is no data race), read once then bounded. */
static uint32_t slot_len(uint8_t *s) { return atomic_load_explicit(A32(s + 8), RLX); }

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* ---- producer ---- */

/* dead_mark: a dead generation as recorded in bcast_state.dead: never 0. */
static uint64_t dead_mark(uint32_t gen) { return (uint64_t)gen | 1ull << 32; }

static bool still_producer(shmring_ring *r)
{
	/* Acquire: one load of our own word says whether another handle took over. */
	return (ld64(r->prod + PU_POS) & SPSC_EPOCH_MASK) == B(r)->epoch;
}

/* resync_prod takes up the producer side from cur (!= our word):
 * broadcast_takeover.go resyncProd. */
static int resync_prod(shmring_ring *r, uint64_t cur)
{
	struct bcast_state *p = B(r);
	if (cur & CLOSED_BIT)
		return SHMRING_ECLOSED;
	if (p->tail != UNSYNCED) {
		if ((cur & SPSC_EPOCH_MASK) != p->epoch)
			return SHMRING_EFENCED;
		/* Same epoch, another position: only a hostile write; follow it, checked. */
	} else {
		/* Takeover: one seq_cst CAS bumps the epoch and keeps the position. */
		uint64_t next = (cur & ~SPSC_EPOCH_MASK) | ((cur + SPSC_EPOCH_ONE) & SPSC_EPOCH_MASK);
		if (!cas64(r->prod + PU_POS, cur, next))
			return SHMRING_ECORRUPT; /* two producers taking over at once */
		p->epoch = next & SPSC_EPOCH_MASK;
		cur = next;
	}
	if (!p->dead) {
		uint64_t n = r->g.peers - r->g.sub_base;
		p->dead = calloc(n ? n : 1, sizeof *p->dead);
		if (!p->dead)
			return SHMRING_ESYS;
		r->heap = p->dead;
	}
	uint64_t t = cur & SPSC_POS_MASK;
	/* Adopt what a previous producer completed but did not publish (a
	 * subscriber may have taken it through Seq), and publish a slot
	 * still marked for its position as a hole: a paused predecessor
	 * completes it with the very Seq we would store, so it is never
	 * rewritten. At most a ring. */
	uint64_t k = 0, holes = 0;
	while (k < r->g.slots) {
		uint64_t seq = slot_seq(r, t + k); /* acquire: pairs with the completing release */
		if (seq != t + k + 1 && seq != ((t + k + 1) | BCAST_WRITING))
			break;
		if (seq & BCAST_WRITING)
			holes++;
		k++;
	}
	if (k > 0) {
		/* Skipped before the publish (a takeover killed between the two
		 * leaves it over the holes, never under); taken back on failure. */
		if (holes)
			add64(r->hdr + RH_SKIPPED, holes);
		if (!cas64(r->prod + PU_POS, cur, cur + k)) {
			if (holes)
				add64(r->hdr + RH_SKIPPED, (uint64_t)0 - holes);
			uint64_t now = ld64(r->prod + PU_POS);
			if (now & CLOSED_BIT)
				return SHMRING_ECLOSED;
			if ((now & SPSC_EPOCH_MASK) != p->epoch)
				return SHMRING_EFENCED;
			return SHMRING_ECORRUPT;
		}
		t += k;
		ec_notify(r, &r->not_empty, 0); /* every subscriber wants every message */
	}
	/* limit 0: the first write looks at the cursors. A reservation this
	 * handle held is void. */
	p->tail = t;
	p->limit = 0;
	p->resv = false;
	ring_mark_role(r, ROLE_PRODUCER);
	return SHMRING_OK;
}

static int prod_prologue(shmring_ring *r)
{
	struct bcast_state *p = B(r);
	uint64_t cur = ld64(r->prod + PU_POS); /* acquire: pairs with any publish or close of the word */
	if (cur != (p->tail | p->epoch) || (int64_t)cur < 0) {
		int err = resync_prod(r, cur);
		if (err)
			return err;
	}
	return p->resv ? SHMRING_EOUTSTANDING : SHMRING_OK;
}

/* tether: the cursor of subscriber entry i if a tethered subscriber not
 * known dead holds it, at or behind the tail. The read order is the
 * protocol's: PID, Generation, Roles, Cursor, Generation again. */
static bool tether(shmring_ring *r, uint64_t i, uint64_t *cursor)
{
	struct bcast_state *p = B(r);
	uint8_t *e = peer_at(r, i);
	if (ld32(e + PE_PID) == 0)
		return false;
	/* Generation before Roles and the cursor: a reclaimer bumps it
	 * before it sets its role, so a generation found dead is never a
	 * live subscriber's. */
	uint32_t gen = ld32(e + PE_GENERATION);
	if (p->dead[i - r->g.sub_base] == dead_mark(gen))
		return false;
	if (!(ld32(e + PE_ROLES) & ROLE_TETHERED))
		return false;
	/* Acquire: pairs with the subscriber's seq_cst store after its copies. */
	uint64_t cur = ld64(e + PE_CURSOR);
	if (ld32(e + PE_GENERATION) != gen)
		return false; /* being reclaimed: the cursor may be the claimer's zeroing */
	if (cur > p->tail)
		return false; /* ahead through Seq, or hostile: holds nothing back */
	*cursor = cur;
	return true;
}

/* subscriber_dead tests entry i (which holds the producer back) and
 * records it dead if it is. */
static bool subscriber_dead(shmring_ring *r, uint64_t i)
{
	uint8_t *e = peer_at(r, i);
	uint32_t gen = ld32(e + PE_GENERATION);
	uint32_t pid = ld32(e + PE_PID);
	if (pid == 0)
		return false;
	bool tested;
	if (peer_alive(r, (int)i, pid, &tested) || (r->g.peer_locks && !tested))
		return false; /* alive, or a lock that could not be tested: unknown is alive */
	if (ld32(e + PE_GENERATION) != gen)
		return false; /* claimed since: not the dead one */
	B(r)->dead[i - r->g.sub_base] = dead_mark(gen);
	return true;
}

/* tether_min: the lowest cursor of the tethered subscribers not known to
 * be dead, or the tail with none; with probe, holders a ring behind are
 * tested and released if dead (*released). */
static uint64_t tether_min(shmring_ring *r, bool probe, bool *released)
{
	struct bcast_state *p = B(r);
	uint64_t lo = p->tail;
	for (uint64_t i = r->g.sub_base; i < r->g.peers; i++) {
		uint64_t cur;
		if (!tether(r, i, &cur))
			continue;
		if (probe && cur + r->g.slots <= p->tail && subscriber_dead(r, i)) {
			*released = true;
			continue;
		}
		lo = min64(lo, cur);
	}
	return lo;
}

static bool refresh_limit(shmring_ring *r, bool probe)
{
	bool released = false;
	B(r)->limit = tether_min(r, probe, &released) + r->g.slots;
	return released;
}

/* room_for: the cache said full; look at the cursors again, and test the
 * holders' liveness at most every PROBE_EVERY_NS. */
static bool room_for(shmring_ring *r, uint64_t n)
{
	struct bcast_state *p = B(r);
	refresh_limit(r, false);
	if (p->tail + n <= p->limit)
		return true;
	int64_t now = mono_now();
	if (now - p->last_probe >= PROBE_EVERY_NS) {
		p->last_probe = now;
		refresh_limit(r, true);
	}
	return p->tail + n <= p->limit;
}

/* begin_write marks pos's slot before anything of it changes. */
static void begin_write(shmring_ring *r, uint64_t pos)
{
	strel64(slot(r, pos), (pos + 1) | BCAST_WRITING);
	/* The store-store fence: no store to Len or data becomes visible
	 * before the mark (a compiler barrier on x86-64, DMB ISH on arm64). */
	atomic_thread_fence(REL);
}

/* end_write completes pos's slot. Release: Len and the data before Seq,
 * which a subscriber acquire-loads before it copies. */
static void end_write(shmring_ring *r, uint64_t pos) { strel64(slot(r, pos), pos + 1); }

static void set_len(shmring_ring *r, uint64_t pos, uint32_t n) { atomic_store_explicit(A32(slot(r, pos) + 8), n, RLX); }

static int publish_failed(shmring_ring *r, uint64_t next)
{
	struct bcast_state *p = B(r);
	uint64_t now = ld64(r->prod + PU_POS);
	if ((now & SPSC_EPOCH_MASK) != p->epoch)
		return SHMRING_EFENCED;
	if (now == (p->tail | p->epoch | CLOSED_BIT)) {
		/* A CloseWrite since our prologue: the slots carry their Seq and
		 * a subscriber may have taken them: publish under the bit. */
		if (cas64(r->prod + PU_POS, now, next | p->epoch | CLOSED_BIT))
			return SHMRING_OK;
		now = ld64(r->prod + PU_POS);
	}
	if (now & CLOSED_BIT)
		return SHMRING_ECLOSED;
	p->tail = UNSYNCED; /* resync next time */
	return SHMRING_ECORRUPT;
}

static int publish(shmring_ring *r, uint64_t next, uint64_t n, uint64_t nbytes)
{
	struct bcast_state *p = B(r);
	/* Seq-cst CAS: releases the slots to a subscriber's acquire of
	 * prod.Pos, fails under a CloseWrite or a takeover, and is the
	 * StoreLoad fence before notify's load of NotEmptyWaiters. */
	if (!cas64(r->prod + PU_POS, p->tail | p->epoch, next | p->epoch)) {
		int err = publish_failed(r, next);
		if (err)
			return err;
	}
	p->tail = next;
	ring_count_in(r, n, nbytes);
	if (++p->ops >= BEAT_EVERY) {
		p->ops = 0;
		ring_beat(r);
	}
	ec_notify(r, &r->not_empty, 0); /* every sleeping subscriber wants every message */
	return SHMRING_OK;
}

static int bc_push(shmring_ring *r, const void *msg, size_t len)
{
	struct bcast_state *p = B(r);
	if (len > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	int err = prod_prologue(r);
	if (err)
		return err;
	if (p->tail >= p->limit && !room_for(r, 1))
		return SHMRING_EFULL;
	if (!still_producer(r)) /* room_for may have taken long: look again before the mark */
		return SHMRING_EFENCED;
	uint64_t pos = p->tail;
	begin_write(r, pos);
	set_len(r, pos, (uint32_t)len);
	if (len)
		memcpy(slot_data(r, pos), msg, len);
	if (!still_producer(r))
		return SHMRING_EFENCED;
	end_write(r, pos);
	return publish(r, pos + 1, 1, len);
}

static int bc_reserve(shmring_ring *r, size_t n, shmring_reservation *res)
{
	struct bcast_state *p = B(r);
	if (n > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	int err = prod_prologue(r);
	if (err)
		return err;
	if (p->tail >= p->limit && !room_for(r, 1))
		return SHMRING_EFULL;
	if (!still_producer(r))
		return SHMRING_EFENCED;
	begin_write(r, p->tail); /* the mark before the caller writes anything */
	p->resv = true;
	res->buf = slot_data(r, p->tail);
	res->cap = r->g.slot_size;
	res->pos = p->tail;
	return SHMRING_OK;
}

static int bc_commit(shmring_ring *r, shmring_reservation *res, size_t n)
{
	struct bcast_state *p = B(r);
	if (!p->resv || res->pos != p->tail)
		return SHMRING_ENOTRESERVED;
	if (n > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	/* Held for long: taken over or closed since? Closed, the message is
	 * refused before its Seq says anything (the slot stays marked). */
	uint64_t w = ld64(r->prod + PU_POS);
	if ((w & SPSC_EPOCH_MASK) != p->epoch || (w & CLOSED_BIT)) {
		p->resv = false;
		return (w & SPSC_EPOCH_MASK) != p->epoch ? SHMRING_EFENCED : SHMRING_ECLOSED;
	}
	set_len(r, p->tail, (uint32_t)n);
	end_write(r, p->tail);
	p->resv = false;
	return publish(r, p->tail + 1, 1, n);
}

static int bc_not_subscriber(shmring_ring *r, void *dst, size_t cap, size_t *len)
{
	(void)r, (void)dst, (void)cap, (void)len;
	return SHMRING_EINVAL; /* "a broadcast producer handle does not consume" */
}

static int bc_no_peek(shmring_ring *r, shmring_message *m)
{
	(void)r, (void)m;
	return SHMRING_EINVAL;
}

/* bc_ready: closed, taken over (the try reports it), or room by the
 * cursors as they are now (no liveness probe: bc_blocked does that). */
static bool bc_ready(shmring_ring *r, bool push)
{
	struct bcast_state *p = B(r);
	if (!push)
		return true;
	uint64_t t = ld64(r->prod + PU_POS);
	if ((t & CLOSED_BIT) || p->tail == UNSYNCED || (t & SPSC_EPOCH_MASK) != p->epoch ||
	    (t & SPSC_POS_MASK) != p->tail)
		return true;
	bool released = false;
	return p->tail < tether_min(r, false, &released) + r->g.slots;
}

/* bc_blocked: a waiting producer tests the holders and releases dead
 * ones; still held, it is stuck (2 ms sleeps: a holder that dies never
 * wakes it). */
static bool bc_blocked(shmring_ring *r, bool push, bool *stuck)
{
	struct bcast_state *p = B(r);
	*stuck = false;
	if (!push || p->tail == UNSYNCED)
		return false;
	bool repaired = refresh_limit(r, true);
	*stuck = p->tail >= p->limit;
	return repaired;
}

static void bc_close(shmring_ring *r)
{
	struct bcast_state *p = B(r);
	if (p->tail == UNSYNCED)
		return; /* never produced: not ours to end */
	uint64_t word = p->tail | p->epoch;
	if (cas64(r->prod + PU_POS, word, word | CLOSED_BIT)) /* fails for a fenced handle */
		ring_closed(r);
}

/* bcast_backlog: the tail minus the lowest live tethered cursor not ahead
 * of it, capped at Slots (broadcast.go backlog). */
uint64_t bcast_backlog(shmring_ring *r)
{
	uint64_t t = ld64(r->prod + PU_POS) & SPSC_POS_MASK, most = 0;
	for (uint64_t i = r->g.sub_base; i < r->g.peers; i++) {
		uint8_t *e = peer_at(r, i);
		uint32_t pid = ld32(e + PE_PID);
		if (pid == 0 || !(ld32(e + PE_ROLES) & ROLE_TETHERED))
			continue;
		bool tested;
		if (!peer_alive(r, (int)i, pid, &tested))
			continue;
		uint64_t cur = ld64(e + PE_CURSOR);
		if (cur <= t)
			most = max64(most, t - cur);
	}
	return min64(most, r->g.slots);
}

const struct kind_ops shmring_bcast_ops = {
	.push = bc_push,
	.pop = bc_not_subscriber,
	.reserve = bc_reserve,
	.commit = bc_commit,
	.peek = bc_no_peek,
	.release = bc_no_peek,
	.ready = bc_ready,
	.blocked = bc_blocked,
	.repair_claims = NULL,
	.close = bc_close,
	.released = NULL,
	.counts_empty_inside = false,
};

/* ---- subscriber ---- */

/* publish_cursor stores the private cursor into the entry. */
static void publish_cursor(shmring_ring *r)
{
	struct sub_state *s = SUB(r);
	if (s->lossy) {
		strel64(r->peer + PE_CURSOR, s->cursor); /* release: read by Lag and tools only */
		return;
	}
	/* Seq-cst: releases our copies of the slots below the cursor to the
	 * producer's acquire load before it rewrites them, and orders the
	 * store before notify's load of NotFullWaiters. */
	st64(r->peer + PE_CURSOR, s->cursor);
	ec_notify(r, &r->not_full, 1);
}

/* sub_join: zero the subscriber's counters, store the cursor, then the
 * role, then read the tail again (subscriber.go join). */
int sub_join(shmring_ring *r, bool oldest)
{
	struct sub_state *s = SUB(r);
	uint8_t *e = r->peer;
	static const int zeroed[] = {PE_MISSED, PE_LAPPED, PE_MSGSOUT, PE_BYTESOUT, PE_EMPTYEVENTS, PE_SLEEPS, PE_WAKES};
	for (size_t i = 0; i < sizeof zeroed / sizeof *zeroed; i++)
		st64(e + zeroed[i], 0);
	uint64_t t0 = ld64(r->prod + PU_POS) & SPSC_POS_MASK; /* acquire */
	uint64_t x = oldest ? t0 - min64(t0, r->g.slots) : t0;
	/* Seq-cst, cursor before role: a producer that sees the role sees this cursor or a later one. */
	st64(e + PE_CURSOR, x);
	ring_mark_role(r, ROLE_CONSUMER | ROLE_SUBSCRIBER | (s->lossy ? 0 : ROLE_TETHERED));
	uint64_t t1 = ld64(r->prod + PU_POS) & SPSC_POS_MASK;
	if (t1 < t0)
		return SHMRING_ECORRUPT;
	s->cursor = x;
	s->join_tail = t1;
	if (!oldest) {
		s->cursor = t1; /* forward, waking a producer that slept on the provisional cursor */
		publish_cursor(r);
	}
	return SHMRING_OK;
}

/* lap_slack: how far past the oldest position a lossy subscriber lapped k
 * times in a row resumes (subscriber.go lapSlack). */
static uint64_t lap_slack(uint64_t slots, uint32_t k)
{
	uint64_t v = slots >> (5 - (k < 4 ? k : 4));
	return v ? v : 1;
}

/* lapped: message q was (or is being) rewritten: move to the oldest
 * position the producer has not come round to and report the exact
 * number missed. *again: a tethered subscriber's join window, passed
 * silently. */
static int lapped(shmring_ring *r, uint64_t q, bool *again)
{
	struct sub_state *s = SUB(r);
	*again = false;
	uint64_t seq = slot_seq(r, q) & ~BCAST_WRITING;
	uint64_t t = ld64(r->prod + PU_POS) & SPSC_POS_MASK; /* acquire */
	/* The slot holds (or gets) a position at least a ring past q, and the
	 * producer never marks a slot more than a ring past its tail. */
	if (seq < q + r->g.slots + 1 || seq > t + r->g.slots)
		return SHMRING_ECORRUPT;
	uint64_t next = max64(t, seq) - r->g.slots;
	if (s->lap_streak > 0 && s->lossy)
		next = min64(next + lap_slack(r->g.slots, s->lap_streak), t);
	s->lap_streak++;
	s->cursor = next;
	publish_cursor(r);
	if (!s->lossy && q < s->join_tail) {
		*again = true;
		return SHMRING_OK;
	}
	uint64_t missed = next - q;
	add64(r->peer + PE_LAPPED, 1);
	add64(r->peer + PE_MISSED, missed);
	s->last_missed = missed;
	return SHMRING_ELAPPED;
}

/* not_ready: the slot at q has Seq seq != q+1: lapped, not yet, a hole,
 * or the end of the stream. *again: look at the slot once more. */
static int not_ready(shmring_ring *r, uint64_t q, uint64_t seq, int try, bool *again)
{
	struct sub_state *s = SUB(r);
	*again = false;
	if ((seq & ~BCAST_WRITING) > q + 1)
		return lapped(r, q, again);
	s->empty_polls++;
	/* Nothing there and no close in the mirror: answer without the
	 * producer's line, except every 64th poll, on a second look, and for
	 * a slot marked for q itself (written now, or a hole). */
	if (try == 0 && seq != ((q + 1) | BCAST_WRITING) && ring_quiet_empty(r, s->empty_polls))
		return SHMRING_EEMPTY;
	uint64_t word = ld64(r->prod + PU_POS); /* acquire: pairs with the publish CAS */
	uint64_t t = word & SPSC_POS_MASK;
	if (t > q) {
		/* Published past q: its Seq was stored before; look again. */
		if (try < 2) {
			*again = true;
			return SHMRING_OK;
		}
		if (seq == ((q + 1) | BCAST_WRITING)) {
			/* A hole: nothing to deliver, nothing missed. */
			s->cursor = q + 1;
			publish_cursor(r);
			*again = true;
			return SHMRING_OK;
		}
		return SHMRING_ECORRUPT;
	}
	if (q - t > r->g.slots)
		return SHMRING_ECORRUPT;
	if (word & CLOSED_BIT) {
		ring_repair_closed_mirror(r);
		return SHMRING_EEOF;
	}
	return SHMRING_EEMPTY;
}

/* take reads the message at the cursor into dst (peeking: lends it,
 * *pos_out its position) and moves the private cursor past it;
 * publish_cursor makes the move shared. Laps and holes move the cursor
 * on the way. */
static int take(shmring_ring *r, void *dst, size_t cap, size_t *len, bool peeking, uint64_t *pos_out)
{
	struct sub_state *s = SUB(r);
	uint64_t last = ~0ull;
	int try = 0;
	for (int round = 0; round < MAX_RETRIES; round++, try++) {
		uint64_t q = s->cursor;
		if (q != last) { /* each position gets its own retries */
			last = q;
			try = 0;
		}
		uint8_t *h = slot(r, q);
		uint64_t seq = ld64(h); /* acquire: pairs with end_write's release */
		bool again;
		int err;
		if (seq != q + 1) {
			err = not_ready(r, q, seq, try, &again);
			if (again)
				continue;
			return err;
		}
		uint64_t n = slot_len(h); /* after Seq: Len was stored before it */
		if (n > r->g.slot_size || (!peeking && n > cap)) {
			/* Perhaps a length being rewritten: look again. */
			if (ld64(h) != seq) {
				if ((err = lapped(r, q, &again)) || !again)
					return err;
				continue;
			}
			return n > r->g.slot_size ? SHMRING_ECORRUPT : SHMRING_ESHORTBUF;
		}
		if (peeking) {
			s->peek = true;
			s->empty_polls = 0;
			*len = n;
			*pos_out = q;
			return SHMRING_OK;
		}
		if (n)
			memcpy(dst, h + BCAST_SLOT_HEADER, n);
		/* The load-load fence: the copy before the second look (a
		 * compiler barrier on x86-64, DMB ISHLD on arm64). */
		atomic_thread_fence(ACQ);
		if (ld64(h) != seq) {
			if ((err = lapped(r, q, &again)) || !again)
				return err;
			continue;
		}
		s->cursor = q + 1;
		s->empty_polls = 0;
		s->lap_streak = 0;
		*len = n;
		*pos_out = q;
		return SHMRING_OK;
	}
	return SHMRING_ECORRUPT; /* a ring that never settles */
}

static void count_read(shmring_ring *r, uint64_t nbytes)
{
	struct sub_state *s = SUB(r);
	ring_count_out(r, 1, nbytes);
	if (++s->ops >= BEAT_EVERY) {
		s->ops = 0;
		ring_beat(r);
	}
}

static int sub_pop(shmring_ring *r, void *dst, size_t cap, size_t *len)
{
	if (SUB(r)->peek)
		return SHMRING_EOUTSTANDING;
	uint64_t pos;
	int err = take(r, dst, cap, len, false, &pos);
	if (err)
		return err;
	publish_cursor(r);
	count_read(r, *len);
	return SHMRING_OK;
}

static int sub_peek(shmring_ring *r, shmring_message *m)
{
	if (SUB(r)->peek)
		return SHMRING_EOUTSTANDING;
	size_t n;
	uint64_t pos;
	int err = take(r, NULL, 0, &n, true, &pos);
	if (err)
		return err;
	m->data = slot_data(r, pos);
	m->len = n;
	m->pos = pos;
	return SHMRING_OK;
}

/* sub_release: the slot rewritten while held is a lap (for a lossy
 * subscriber the peeked message counts as missed; the caller must discard
 * what it read). */
static int sub_release(shmring_ring *r, shmring_message *m)
{
	struct sub_state *s = SUB(r);
	if (!s->peek || m->pos != s->cursor)
		return SHMRING_ENOTRESERVED;
	s->peek = false;
	atomic_thread_fence(ACQ); /* the caller's reads of data before the look at Seq */
	if (slot_seq(r, m->pos) != m->pos + 1) {
		bool again;
		int err = lapped(r, m->pos, &again);
		if (!again)
			return err;
		/* A tethered join window: not its to lose, but the data may be torn: say so. */
		uint64_t missed = s->cursor - m->pos;
		add64(r->peer + PE_LAPPED, 1);
		add64(r->peer + PE_MISSED, missed);
		s->last_missed = missed;
		return SHMRING_ELAPPED;
	}
	s->cursor = m->pos + 1;
	s->lap_streak = 0;
	publish_cursor(r);
	count_read(r, m->len);
	return SHMRING_OK;
}

static int sub_not_producer(shmring_ring *r, const void *msg, size_t len)
{
	(void)r, (void)msg, (void)len;
	return SHMRING_EINVAL; /* "a broadcast subscriber does not produce" */
}

static int sub_no_reserve(shmring_ring *r, size_t n, shmring_reservation *res)
{
	(void)r, (void)n, (void)res;
	return SHMRING_EINVAL;
}

static int sub_no_commit(shmring_ring *r, shmring_reservation *res, size_t n)
{
	(void)r, (void)n, (void)res;
	return SHMRING_EINVAL;
}

/* sub_ready: a message or a lap at the cursor, or the producer word past
 * it or closed. */
static bool sub_ready(shmring_ring *r, bool push)
{
	if (push)
		return true;
	uint64_t q = SUB(r)->cursor;
	uint64_t seq = slot_seq(r, q);
	if (seq == q + 1 || (seq & ~BCAST_WRITING) > q + 1)
		return true;
	uint64_t w = ld64(r->prod + PU_POS);
	return (w & CLOSED_BIT) || (w & SPSC_POS_MASK) > q;
}

/* sub_released: the entry no longer holds the producer: wake it if it
 * sleeps on us (the release's PID CAS is the StoreLoad fence). */
static void sub_released(shmring_ring *r) { ec_notify(r, &r->not_full, 0); }

const struct kind_ops shmring_sub_ops = {
	.push = sub_not_producer,
	.pop = sub_pop,
	.reserve = sub_no_reserve,
	.commit = sub_no_commit,
	.peek = sub_peek,
	.release = sub_release,
	.ready = sub_ready,
	.blocked = NULL,
	.repair_claims = NULL,
	.close = NULL,
	.released = sub_released,
	.counts_empty_inside = false,
};

int shmring_sub_lag(shmring_ring *r, uint64_t *lag)
{
	if (!r || !lag)
		return SHMRING_EINVAL;
	if (r->closed_handle)
		return SHMRING_EHANDLECLOSED;
	if (arena_broken(r->arena))
		return SHMRING_ETRUNCATED;
	if (!r->subscriber)
		return SHMRING_EINVAL;
	uint64_t t = ld64(r->prod + PU_POS) & SPSC_POS_MASK; /* acquire */
	uint64_t c = ld64(r->peer + PE_CURSOR);
	*lag = c < t ? t - c : 0;
	return SHMRING_OK;
}

int shmring_sub_last_missed(shmring_ring *r, uint64_t *missed)
{
	if (!r || !missed)
		return SHMRING_EINVAL;
	if (r->closed_handle)
		return SHMRING_EHANDLECLOSED;
	if (arena_broken(r->arena))
		return SHMRING_ETRUNCATED;
	if (!r->subscriber)
		return SHMRING_EINVAL;
	*missed = SUB(r)->last_missed;
	return SHMRING_OK;
}
