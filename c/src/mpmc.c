/*
 * mpmc.c: the MPMC ring (docs/ring.md "MPMC (Vyukov)", "Claim repair"),
 * ported from ring/mpmc.go and ring/mpmc_repair.go.
 *
 * Invariants: with E = prod.Pos bits 0..62 (EnqPos) and D = cons.Pos
 * (DeqPos), 0 <= E - D <= Slots. Slot Seq says whose turn: pos for the
 * producer of pos, pos+1 holds pos's message, (pos+1)|2^63 is a skip
 * record, pos+Slots released by pos's consumer. A claim publishes whose it
 * is: 1+pos in the entry's claim word before the claiming CAS, the tag in
 * Owner after it (only for claims that outlive the call: reservations and
 * peeks), 0 in the claim word once tagged or settled.
 */
#include "internal.h"

#include <string.h>
#include <time.h>

#define M(r) (&(r)->u.mpmc)
#define STALL_GRACE_NS 1000000
#define STALL_PROBE_NS 2000000
#define SETTLE_WAIT_NS 20000000
#define FENCED_RETRIES 4

static uint8_t *slot(shmring_ring *r, uint64_t pos) { return r->mem + r->g.slots_off + (pos & r->g.mask) * r->g.stride; }
#define SEQ(s) (s)
#define LEN(s) ((s) + 8)
#define OWNER(s) ((s) + 12)
#define DATA(s) ((s) + 16)

static uint32_t lap_tag(shmring_ring *r, uint64_t pos)
{
	return ((uint32_t)(pos >> r->g.lap_shift) << TAG_LAP_SHIFT) & TAG_LAP_MASK;
}
static bool is_tag(uint32_t v) { return (v & TAG_IDX_MASK) != 0 || v >> TAG_GEN_SHIFT == TAG_GEN_MASK; }

struct repair_opts {
	int64_t held;
	int dead_idx;
	bool dry_run;
};

static bool mpmc_blocked(shmring_ring *r, bool push, bool *stuck);
static bool stuck_at(shmring_ring *r, uint64_t q);
static bool unstick(shmring_ring *r, uint64_t q, bool push);

/* ---- producer ---- */

static int claim_enq(shmring_ring *r, bool hold, uint64_t *out)
{
	ring_mark_role(r, ROLE_PRODUCER); /* before anything is claimed */
	uint64_t pos = ld64(r->prod + PU_POS);
	for (int try = 0;; try++) {
		if (try == MAX_RETRIES)
			return SHMRING_ECORRUPT;
		if (pos & CLOSED_BIT)
			return SHMRING_ECLOSED;
		uint8_t *s = slot(r, pos);
		uint64_t seq = ld64(SEQ(s)); /* acquire: the previous lap's release */
		int64_t dif = (int64_t)(seq - pos);
		if (dif == 0) {
			strel64(r->peer + PE_PRODCLAIM, pos + 1); /* published by the CAS */
			if (cas64(r->prod + PU_POS, pos, pos + 1)) {
				if (hold) {
					strel32(OWNER(s), r->owner_tag | lap_tag(r, pos)); /* ours since the CAS */
					strel64(r->peer + PE_PRODCLAIM, 0);                /* release: after the tag */
				}
				*out = pos;
				return SHMRING_OK;
			}
			strel64(r->peer + PE_PRODCLAIM, 0);
			pos = ld64(r->prod + PU_POS);
		} else if (dif == -(int64_t)r->g.slots || dif == 1 - (int64_t)r->g.slots ||
			   seq == ((pos + 1 - r->g.slots) | SKIP_BIT)) {
			if (++M(r)->full_polls % TAIL_EVERY == 0) {
				bool stuck;
				if (mpmc_blocked(r, true, &stuck)) {
					pos = ld64(r->prod + PU_POS);
					continue;
				}
			}
			return SHMRING_EFULL;
		} else if (((seq & SKIP_BIT) && (int64_t)((seq & ~SKIP_BIT) - pos) > 0) || dif > 0) {
			uint64_t np = ld64(r->prod + PU_POS); /* another producer won: it moved E first */
			if (np == pos)
				return SHMRING_ECORRUPT;
			pos = np;
		} else {
			return SHMRING_ECORRUPT;
		}
	}
}

static bool publish_slot(shmring_ring *r, uint64_t pos, uint64_t n)
{
	uint8_t *s = slot(r, pos);
	strel32(LEN(s), (uint32_t)n);
	/* Seq-cst CAS: releases Len and data, fences before NotEmptyWaiters,
	 * and fails if a repairer made the claim a skip record. */
	return cas64(SEQ(s), pos, pos + 1);
}

static int mpmc_push(shmring_ring *r, const void *msg, size_t len)
{
	if (len > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	for (int try = 0; try < FENCED_RETRIES; try++) {
		uint64_t pos;
		int err = claim_enq(r, false, &pos);
		if (err)
			return err;
		if (len)
			memcpy(DATA(slot(r, pos)), msg, len);
		bool ok = publish_slot(r, pos, len);
		strel64(r->peer + PE_PRODCLAIM, 0); /* the claim is settled */
		if (ok) {
			ring_count_in(r, 1, len);
			ec_notify(r, &r->not_empty, 1);
			return SHMRING_OK;
		}
	}
	return SHMRING_EFENCED;
}

static int mpmc_reserve(shmring_ring *r, size_t n, shmring_reservation *res)
{
	if (n > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	uint64_t pos;
	int err = claim_enq(r, true, &pos);
	if (err)
		return err;
	res->buf = DATA(slot(r, pos));
	res->cap = r->g.slot_size;
	res->pos = pos;
	return SHMRING_OK;
}

static int mpmc_commit(shmring_ring *r, shmring_reservation *res, size_t n)
{
	if (n > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	uint64_t seq = ld64(SEQ(slot(r, res->pos)));
	if (seq != res->pos)
		return seq == res->pos + 1 ? SHMRING_ENOTRESERVED : SHMRING_EFENCED;
	if (!publish_slot(r, res->pos, n))
		return SHMRING_EFENCED;
	ring_count_in(r, 1, n);
	ec_notify(r, &r->not_empty, 1);
	return SHMRING_OK;
}

/* ---- consumer ---- */

static int claim_deq(shmring_ring *r, uint64_t limit, bool hold, uint64_t *out)
{
	ring_mark_role(r, ROLE_CONSUMER);
	uint64_t pos = ld64(r->cons + CU_POS);
	for (int try = 0;; try++) {
		if (try == MAX_RETRIES)
			return SHMRING_ECORRUPT;
		uint8_t *s = slot(r, pos);
		uint64_t seq = ld64(SEQ(s)); /* acquire: pairs with publish_slot */
		int64_t dif = (int64_t)(seq - (pos + 1));
		if (dif == 0) {
			uint64_t ln = ld32(LEN(s));
			int err = ln > r->g.slot_size ? SHMRING_ECORRUPT : ln > limit ? SHMRING_ESHORTBUF : SHMRING_OK;
			if (err) {
				uint64_t np = ld64(r->cons + CU_POS);
				if (np != pos) {
					pos = np;
					continue;
				}
				return err;
			}
			strel64(r->peer + PE_CONSCLAIM, pos + 1);
			if (cas64(r->cons + CU_POS, pos, pos + 1)) {
				if (hold) {
					strel32(OWNER(s), r->owner_tag | TAG_CONSUMER | lap_tag(r, pos));
					strel64(r->peer + PE_CONSCLAIM, 0);
				}
				*out = pos;
				return SHMRING_OK;
			}
			strel64(r->peer + PE_CONSCLAIM, 0);
			pos = ld64(r->cons + CU_POS);
		} else if (seq == ((pos + 1) | SKIP_BIT)) {
			/* A skip record: claim it and release it at once. */
			strel64(r->peer + PE_CONSCLAIM, pos + 1);
			if (cas64(r->cons + CU_POS, pos, pos + 1)) {
				strel64(r->peer + PE_CONSCLAIM, 0);
				if (cas64(SEQ(s), seq, pos + r->g.slots))
					ec_notify(r, &r->not_full, 1);
			} else {
				strel64(r->peer + PE_CONSCLAIM, 0);
			}
			pos = ld64(r->cons + CU_POS);
		} else if (dif == -1 || dif == -(int64_t)r->g.slots || seq == ((pos + 1 - r->g.slots) | SKIP_BIT)) {
			/* Empty: EnqPos and the closed bit only every 64th poll or
			 * when the Closed mirror is set (gap 7). */
			if (ring_quiet_empty(r, ++M(r)->empty_polls))
				return SHMRING_EEMPTY;
			uint64_t e = ld64(r->prod + PU_POS);
			if (e & CLOSED_BIT)
				ring_repair_closed_mirror(r);
			if ((e & CLOSED_BIT) && (e & POS_MASK) == pos)
				return SHMRING_EEOF;
			if ((e & POS_MASK) != pos && stuck_at(r, pos) && unstick(r, pos, false)) {
				pos = ld64(r->cons + CU_POS);
				continue;
			}
			return SHMRING_EEMPTY;
		} else if (((seq & SKIP_BIT) && (int64_t)((seq & ~SKIP_BIT) - (pos + 1)) > 0) || dif > 0) {
			uint64_t np = ld64(r->cons + CU_POS);
			if (np == pos)
				return SHMRING_ECORRUPT;
			pos = np;
		} else {
			return SHMRING_ECORRUPT;
		}
	}
}

static bool release_slot(shmring_ring *r, uint64_t pos)
{
	/* Seq-cst CAS: releases our reads to the next lap's producer, fences
	 * before NotFullWaiters, fails if a repairer redelivered it. */
	return cas64(SEQ(slot(r, pos)), pos + 1, pos + r->g.slots);
}

static int mpmc_pop(shmring_ring *r, void *dst, size_t cap, size_t *len)
{
	for (int try = 0; try < FENCED_RETRIES; try++) {
		uint64_t pos;
		int err = claim_deq(r, cap, false, &pos);
		if (err)
			return err;
		uint8_t *s = slot(r, pos);
		uint64_t n = ld32(LEN(s)); /* ours since the CAS; bounded again against a hostile write */
		if (n > cap)
			n = cap;
		if (n > r->g.slot_size)
			n = r->g.slot_size;
		if (n)
			memcpy(dst, DATA(s), n);
		bool ok = release_slot(r, pos);
		strel64(r->peer + PE_CONSCLAIM, 0);
		if (ok) {
			ring_count_out(r, 1, n);
			ec_notify(r, &r->not_full, 1);
			*len = n;
			return SHMRING_OK;
		}
	}
	return SHMRING_EFENCED;
}

static int mpmc_peek(shmring_ring *r, shmring_message *m)
{
	uint64_t pos;
	int err = claim_deq(r, UINT64_MAX, true, &pos);
	if (err)
		return err;
	uint8_t *s = slot(r, pos);
	uint64_t n = ld32(LEN(s));
	if (n > r->g.slot_size)
		n = r->g.slot_size;
	m->data = DATA(s);
	m->len = n;
	m->pos = pos;
	return SHMRING_OK;
}

static int mpmc_release(shmring_ring *r, shmring_message *m)
{
	uint64_t seq = ld64(SEQ(slot(r, m->pos)));
	if (seq != m->pos + 1)
		return seq == m->pos + r->g.slots ? SHMRING_ENOTRESERVED : SHMRING_EFENCED;
	if (!release_slot(r, m->pos))
		return SHMRING_EFENCED;
	ring_count_out(r, 1, m->len);
	ec_notify(r, &r->not_full, 1);
	return SHMRING_OK;
}

/* mpmc_ready: "ring ready" (gap 2): a producer when closed or the slot at
 * E is free; a consumer when the slot at D holds a message or a skip
 * record, or the ring is closed and drained. */
static bool mpmc_ready(shmring_ring *r, bool push)
{
	if (push) {
		uint64_t p = ld64(r->prod + PU_POS);
		if (p & CLOSED_BIT)
			return true;
		return ld64(SEQ(slot(r, p))) == p;
	}
	uint64_t c = ld64(r->cons + CU_POS);
	uint64_t seq = ld64(SEQ(slot(r, c)));
	if (seq == c + 1 || seq == ((c + 1) | SKIP_BIT))
		return true;
	uint64_t p = ld64(r->prod + PU_POS);
	return (p & CLOSED_BIT) && (p & POS_MASK) == c;
}

/* ---- claim repair (docs/ring.md "Claim repair") ---- */

static int claim_word_state(shmring_ring *r, bool consumer, uint64_t q, const struct repair_opts *o)
{
	bool saw_dead = false;
	for (uint64_t i = 0; i < r->g.peers; i++) {
		uint64_t c = ld64(peer_at(r, i) + (consumer ? PE_CONSCLAIM : PE_PRODCLAIM));
		if (c == 0)
			continue;
		uint64_t from = c - 1, ahead = q - from, behind = from - q;
		if (ahead >= r->g.slots && behind >= r->g.slots)
			continue;
		if (peer_state(r, (int)i, o->dead_idx) != CLAIM_DEAD)
			return CLAIM_ALIVE; /* alive or unknown, and near: it may be the claimant */
		if (ahead < r->g.slots)
			saw_dead = true;
	}
	return saw_dead ? CLAIM_DEAD : CLAIM_UNKNOWN;
}

static int claimant(shmring_ring *r, uint8_t *s, bool consumer, uint64_t q, const struct repair_opts *o)
{
	uint32_t owner = ld32(OWNER(s));
	uint32_t role = consumer ? TAG_CONSUMER : 0, lap = lap_tag(r, q);
	if (owner == (TAG_DEAD | lap | role))
		return CLAIM_DEAD;
	if ((owner & (TAG_CONSUMER | TAG_LAP_MASK)) == (role | lap) && is_tag(owner))
		return tag_state(r, owner, o->dead_idx);
	int st = claim_word_state(r, consumer, q, o);
	if (st == CLAIM_DEAD && ld32(OWNER(s)) != owner)
		return CLAIM_UNKNOWN; /* tagged meanwhile: judge the tag next time */
	return st;
}

static bool republish(shmring_ring *r, uint8_t *s, uint64_t q, uint64_t p)
{
	strel64(r->peer + PE_PRODCLAIM, p + 1);
	bool done = false;
	if (cas64(r->prod + PU_POS, p, p + 1)) { /* the claim of E; fails if closed or moved */
		done = true;
		if (cas64(SEQ(s), q + 1, p + 1)) { /* the same bytes are E's message */
			add64(r->hdr + RH_REDELIVERED, 1);
			ec_notify(r, &r->not_empty, 1);
		} else if (cas64(SEQ(s), p, (p + 1) | SKIP_BIT)) {
			add64(r->hdr + RH_SKIPPED, 1);
			ec_notify(r, &r->not_empty, 1);
		}
	}
	strel64(r->peer + PE_PRODCLAIM, 0);
	return done;
}

static bool repair_at(shmring_ring *r, uint64_t q, const struct repair_opts *o)
{
	uint64_t n = r->g.slots;
	uint8_t *s = slot(r, q);
	uint64_t e = ld64(r->prod + PU_POS);
	bool closed = e & CLOSED_BIT;
	e &= POS_MASK;
	uint64_t d = ld64(r->cons + CU_POS);
	uint64_t seq = ld64(SEQ(s));
	if (e - d > n && d - e > n)
		return false; /* garbage positions */
#define DEAD(consumer) (claimant(r, s, consumer, q, o) == CLAIM_DEAD || \
			(r->claim_timeout_ns > 0 && o->held >= r->claim_timeout_ns))
	if (seq == q && d <= q && q < e && e - q <= n) { /* A: an uncommitted producer claim */
		if (o->dry_run || !DEAD(false))
			return o->dry_run;
		if (cas64(SEQ(s), q, (q + 1) | SKIP_BIT)) {
			add64(r->hdr + RH_SKIPPED, 1);
			ec_notify(r, &r->not_empty, 1);
			return true;
		}
	} else if (seq == q + 1 && d > q && d - q <= n) { /* B: an unreleased consumer claim */
		if (e != q + n || closed)
			return false;
		if (o->dry_run || !DEAD(true))
			return o->dry_run;
		return republish(r, s, q, e);
	} else if (seq == ((q + 1) | SKIP_BIT) && d > q && d - q <= n) { /* C */
		if (o->dry_run)
			return true;
		if (cas64(SEQ(s), seq, q + n)) {
			ec_notify(r, &r->not_full, 1);
			return true;
		}
	} else if (q >= n && seq == q - n + 1 && d <= q && q < e && e - q <= n) { /* D */
		if (o->dry_run)
			return true;
		if (cas64(SEQ(s), seq, q + 1)) {
			add64(r->hdr + RH_REDELIVERED, 1);
			ec_notify(r, &r->not_empty, 1);
			return true;
		}
	}
#undef DEAD
	return false;
}

static bool stuck_at(shmring_ring *r, uint64_t q)
{
	struct repair_opts o = {.dead_idx = -1, .dry_run = true};
	return repair_at(r, q, &o);
}

/* unstick: a slot must look stuck for 1 ms before its holder is tested,
 * at most every 2 ms per side. */
static bool unstick(shmring_ring *r, uint64_t q, bool push)
{
	int64_t now = mono_now();
	struct stall_tracker *t = &M(r)->stall[push ? 1 : 0];
	uint64_t seq = ld64(SEQ(slot(r, q)));
	if (t->key != q + 1 || t->seq != seq) {
		t->key = q + 1;
		t->seq = seq;
		t->since = now;
		t->probe = 0;
		return false;
	}
	int64_t held = now - t->since;
	if (held < STALL_GRACE_NS || now - t->probe < STALL_PROBE_NS)
		return false;
	t->probe = now;
	struct repair_opts o = {.held = held, .dead_idx = -1};
	if (repair_at(r, q, &o)) {
		t->key = q + 2;
		t->seq = ld64(SEQ(slot(r, q + 1)));
		t->since = now - STALL_GRACE_NS;
		t->probe = 0;
		return true;
	}
	return false;
}

static bool mpmc_blocked(shmring_ring *r, bool push, bool *stuck)
{
	*stuck = false;
	uint64_t e = ld64(r->prod + PU_POS) & POS_MASK, d = ld64(r->cons + CU_POS), q = d;
	if (push) {
		if (e < r->g.slots)
			return false;
		q = e - r->g.slots;
		if (d <= q && ld64(SEQ(slot(r, q))) != q)
			return false;
	} else if (e <= d) {
		return false; /* empty: nothing claimed at D */
	}
	if (!stuck_at(r, q))
		return false;
	*stuck = true;
	return unstick(r, q, push);
}

static bool settle_one(shmring_ring *r, uint64_t q, bool consumer, const struct repair_opts *o, int64_t deadline)
{
	uint8_t *s = slot(r, q);
	uint32_t lap = lap_tag(r, q), role = consumer ? TAG_CONSUMER : 0;
	for (;;) {
		uint64_t e = ld64(r->prod + PU_POS) & POS_MASK, d = ld64(r->cons + CU_POS);
		uint64_t seq = ld64(SEQ(s));
		if ((consumer && q >= d) || (!consumer && q >= e))
			return false;
		uint32_t owner = ld32(OWNER(s));
		bool held = (consumer && seq == q + 1 && d - q <= r->g.slots) || (!consumer && seq == q && q >= d);
		if (!held || ((owner & (TAG_CONSUMER | TAG_LAP_MASK)) == (role | lap) && is_tag(owner)) ||
		    owner == (TAG_DEAD | role | lap))
			return true;
		if (claimant(r, s, consumer, q, o) == CLAIM_DEAD) {
			if (consumer)
				cas32(OWNER(s), owner, TAG_DEAD | TAG_CONSUMER | lap);
			else
				repair_at(r, q, o);
			return true;
		}
		if (mono_now() > deadline)
			return true;
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

static void mpmc_repair_claims(shmring_ring *r, int dead_idx, int *skipped, int *redelivered)
{
	uint64_t s0 = ld64(r->hdr + RH_SKIPPED), r0 = ld64(r->hdr + RH_REDELIVERED), n = r->g.slots;
	struct repair_opts o = {.dead_idx = dead_idx};
	uint64_t e = ld64(r->prod + PU_POS) & POS_MASK, d = ld64(r->cons + CU_POS);
	if (e - d <= n || d - e <= n) {
		uint64_t lo = d > n ? d - n : 0;
		for (uint64_t q = lo; q < e && q < d + n; q++)
			repair_at(r, q, &o);
	}
	if (dead_idx > 0) {
		int64_t deadline = mono_now() + SETTLE_WAIT_NS;
		for (int consumer = 0; consumer < 2; consumer++) {
			uint64_t c = ld64(peer_at(r, (uint64_t)dead_idx) + (consumer ? PE_CONSCLAIM : PE_PRODCLAIM));
			if (c == 0)
				continue;
			for (uint64_t q = c - 1; q < c - 1 + n; q++)
				if (!settle_one(r, q, consumer, &o, deadline))
					break;
		}
	}
	*skipped += (int)(ld64(r->hdr + RH_SKIPPED) - s0);
	*redelivered += (int)(ld64(r->hdr + RH_REDELIVERED) - r0);
}

const struct kind_ops shmring_mpmc_ops = {
	.push = mpmc_push,
	.pop = mpmc_pop,
	.reserve = mpmc_reserve,
	.commit = mpmc_commit,
	.peek = mpmc_peek,
	.release = mpmc_release,
	.ready = mpmc_ready,
	.blocked = mpmc_blocked,
	.repair_claims = mpmc_repair_claims,
	.close = NULL, /* an MPMC handle's Close does not end the stream (Go: Detach) */
	.counts_empty_inside = false,
};
