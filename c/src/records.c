/*
 * records.c: the record ring (docs/ring.md "Record rings", "recordProd",
 * "recordHeader"), ported from ring/records.go.
 *
 * Invariants (W = prod.Pos bits 0..55, the claim position; H = cons.Pos
 * bits 0..55, the consumer position; both byte positions modulo M =
 * pos_mod, "a - b" meaning (a - b) mod M):
 *   - 0 <= W - H <= Capacity; bytes [H, W) hold records back to back,
 *     bytes [W, H + Capacity) are free.
 *   - Every header in [H, W) was written before W moved past it (W moves
 *     by the claim-lock holder's seq-cst CAS, after the headers).
 *   - Only the ClaimLock holder writes W, the headers at W and HeadCache;
 *     CloseWrite may set W's bit 63 at any time, so W moves by CAS.
 *   - A header's State moves busy -> message (its producer) or busy ->
 *     skip (a repairer), both by CAS with the lap in bits 3..31, so
 *     exactly one lands and a stale repairer's CAS fails.
 *   - Only the consumer writes H, by CAS with its epoch (bits 56..62).
 *   - Every peer-written value (W, H, Size, Len, State) is loaded once and
 *     bounded by the private geometry before use: SHMRING_ECORRUPT, never
 *     an access outside the data area.
 */
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define R(r) (&(r)->u.rec)

#define REC_HDR 16
#define REC_BUSY 1u
#define REC_MESSAGE 2u
#define REC_PADDING 3u
#define REC_SKIP 4u
#define REC_STATE_MASK 7u
#define INLINE_COPY_MAX 2048   /* pushes up to this commit inside the claim section */
#define LOCK_SPIN_NS 200000    /* a live holder's lock is waited for this long, then EFULL */
#define STALL_GRACE_NS 1000000 /* a busy record is this old before its owner is tested */
#define STALL_PROBE_NS 2000000 /* at most one test per this */

enum { RP_CLAIMLOCK = 16, RP_HEADCACHE = 24 }; /* recordProd, after prodUnit's words */
enum { RH_SIZE = 0, RH_STATEW = 4, RH_LEN = 8, RH_OWNER = 12 };  /* recordHeader */

/* ---- position arithmetic (modulo M) ---- */

static uint64_t rdist(shmring_ring *r, uint64_t a, uint64_t b)
{
	uint64_t m = r->g.pos_mod;
	if (a >= m || b >= m)
		return ~0ull; /* no position: every range check refuses it */
	return a >= b ? a - b : a + m - b;
}
static uint64_t radd(shmring_ring *r, uint64_t a, uint64_t n)
{
	a += n;
	return a >= r->g.pos_mod ? a - r->g.pos_mod : a;
}
static uint64_t ridx(shmring_ring *r, uint64_t pos)
{
	return r->g.pow2 ? pos & (r->g.capacity - 1) : pos % r->g.capacity;
}
static uint32_t rlap(shmring_ring *r, uint64_t pos)
{
	uint64_t l = r->g.pow2 ? pos >> r->g.lap_shift : pos / r->g.capacity;
	return (uint32_t)l << 3; /* the lap mod 2^29, in State's bits 3..31 */
}
static uint64_t span(uint64_t n) { return (n + REC_HDR + 15) & ~15ull; }
static uint64_t max_span(shmring_ring *r) { return span(r->g.slot_size); }

/* hdr: in bounds for a 16-aligned pos (index < Capacity, the area >= Capacity). */
static uint8_t *hdr(shmring_ring *r, uint64_t pos) { return R(r)->data + ridx(r, pos); }
static uint8_t *payload(shmring_ring *r, uint64_t pos) { return hdr(r, pos) + REC_HDR; }

/* Size, Len and Owner are plain in the protocol; relaxed atomics here, so
 * that a hostile concurrent write is no data race in C. */
static uint32_t hget(uint8_t *h, int off) { return atomic_load_explicit(A32(h + off), RLX); }
static void hset(uint8_t *h, int off, uint32_t v) { atomic_store_explicit(A32(h + off), v, RLX); }

/* Counters: a record-ring side is single-threaded on its own entry: plain
 * adds (a load and a store that are not torn); entry 0 is shared: atomic. */
static void cadd(shmring_ring *r, int off, uint64_t v)
{
	if (r->peer_idx == 0) {
		add64(r->peer + off, v);
		return;
	}
	_Atomic uint64_t *p = A64(r->peer + off);
	atomic_store_explicit(p, atomic_load_explicit(p, RLX) + v, RLX);
}

/* ---- producer ---- */

static bool lock_holder_gone(shmring_ring *r, uint32_t v)
{
	if (v == r->owner_tag && v != TAG_OVERFLOW)
		return true; /* our own tag, and we are not in the section: a hostile write */
	if (v == TAG_OVERFLOW)
		return false; /* a handle without an entry: untestable */
	uint32_t idx = v & TAG_IDX_MASK;
	if (idx == 0 || idx >= r->g.peers || (v & ~(TAG_IDX_MASK | TAG_GEN_MASK << TAG_GEN_SHIFT)) != 0)
		return true; /* no handle's tag */
	return tag_state(r, v, -1) == CLAIM_DEAD;
}

/* rec_lock: CAS ClaimLock 0 -> our tag (acquire: the previous holder's W,
 * headers and HeadCache). A live holder is waited for up to 200 us (64
 * pauses, then a yield per look, the clock every 16th); a dead or garbage
 * holder's lock is taken by CAS from its value after that wait. */
static int rec_lock(shmring_ring *r)
{
	uint8_t *l = r->prod + RP_CLAIMLOCK;
	uint32_t tag = r->owner_tag;
	if (cas32(l, 0, tag))
		return SHMRING_OK;
	int64_t start = 0;
	for (uint64_t i = 0;; i++) {
		uint32_t v = ld32(l);
		if (v == 0) {
			if (cas32(l, 0, tag))
				return SHMRING_OK;
			continue;
		}
		if (i < 64) {
			cpu_relax();
			continue;
		}
		if (!start)
			start = mono_now();
		if (i % 16 == 0 && mono_now() - start >= LOCK_SPIN_NS) {
			if (lock_holder_gone(r, v) && cas32(l, v, tag))
				return SHMRING_OK;
			return SHMRING_EFULL;
		}
		sched_yield();
	}
}

static void rec_unlock(shmring_ring *r)
{
	/* Release: W's CAS came first; the next holder's lock CAS acquires it all. */
	strel32(r->prod + RP_CLAIMLOCK, 0);
}

/* write_padding: the padding record filling [s, end of the data area). */
static void write_padding(shmring_ring *r, uint64_t s, uint64_t pad)
{
	uint8_t *ph = hdr(r, s);
	hset(ph, RH_SIZE, (uint32_t)pad);
	hset(ph, RH_LEN, 0);
	hset(ph, RH_OWNER, r->owner_tag);
	st32(ph + RH_STATEW, REC_PADDING | rlap(r, s)); /* published by W's CAS */
}

/* load_w: step 2 of Producing: W, under the lock. */
static int load_w(shmring_ring *r, uint64_t *w)
{
	*w = ld64(r->prod + PU_POS); /* acquire; under the lock only CloseWrite changes it */
	if (*w & CLOSED_BIT)
		return SHMRING_ECLOSED;
	if ((*w & ~(CLOSED_BIT | SPSC_POS_MASK)) || *w % RECORD_ALIGN || (*w & SPSC_POS_MASK) >= r->g.pos_mod)
		return SHMRING_ECORRUPT;
	return SHMRING_OK;
}

/* publish_w: step 5: CAS W (seq-cst: publishes the headers and inline
 * payloads to the consumer's acquire load of W; fails only under a
 * CloseWrite; the StoreLoad fence before NotEmptyWaiters). */
static int publish_w(shmring_ring *r, uint64_t w, uint64_t end)
{
	if (cas64(r->prod + PU_POS, w, end))
		return SHMRING_OK;
	if (ld64(r->prod + PU_POS) & CLOSED_BIT)
		return SHMRING_ECLOSED;
	return SHMRING_ECORRUPT; /* W changed under the claim lock */
}

/* claim_locked: steps 2-5 for one record of span sp; msg (inline commit
 * of n bytes) or NULL (busy). */
static int claim_locked(shmring_ring *r, uint64_t sp, const void *msg, uint64_t n, bool commit, uint64_t *out)
{
	struct rec_state *p = R(r);
	uint64_t w, cap = r->g.capacity;
	int err = load_w(r, &w);
	if (err)
		return err;
	uint64_t s = w & SPSC_POS_MASK, pad = 0;
	if (!r->g.mirrored && ridx(r, s) + sp > cap)
		pad = cap - ridx(r, s); /* a multiple of 16: both are */
	uint64_t need = pad + sp;
	uint64_t h = ld64(r->prod + RP_HEADCACHE) & SPSC_POS_MASK; /* a hint, checked */
	if (rdist(r, s, h) > cap || rdist(r, s, h) + need > cap) {
		/* Acquire: pairs with the consumer's release CAS of H after its reads. */
		h = ld64(r->cons + CU_POS) & SPSC_POS_MASK;
		if (rdist(r, s, h) > cap)
			return SHMRING_ECORRUPT;
		st64(r->prod + RP_HEADCACHE, h);
		if (rdist(r, s, h) + need > cap) {
			p->need = need;
			return SHMRING_EFULL;
		}
	}
	if (pad) {
		write_padding(r, s, pad);
		s = radd(r, s, pad);
	}
	uint8_t *hd = hdr(r, s);
	hset(hd, RH_SIZE, (uint32_t)sp);
	hset(hd, RH_OWNER, r->owner_tag);
	uint32_t st = REC_BUSY;
	if (commit) {
		hset(hd, RH_LEN, (uint32_t)n);
		if (n)
			memcpy(hd + REC_HDR, msg, n);
		st = REC_MESSAGE;
	}
	st32(hd + RH_STATEW, st | rlap(r, s)); /* published by W's CAS */
	if ((err = publish_w(r, w, radd(r, s, sp))))
		return err;
	*out = s;
	return SHMRING_OK;
}

static int claim(shmring_ring *r, uint64_t sp, const void *msg, uint64_t n, bool commit, uint64_t *pos)
{
	int err = rec_lock(r);
	if (err) {
		R(r)->need = RECORD_ALIGN; /* the lock, not the room, said no */
		return err;
	}
	ring_mark_role(r, ROLE_PRODUCER);
	err = claim_locked(r, sp, msg, n, commit, pos);
	rec_unlock(r);
	return err;
}

/* commit_at: step 7: Len, then CAS State busy -> message (seq-cst:
 * releases the payload to the consumer's acquire load of State; fails if
 * a repairer made it a skip record; the StoreLoad fence before notify). */
static int commit_at(shmring_ring *r, uint64_t pos, uint64_t n)
{
	uint8_t *hd = hdr(r, pos);
	hset(hd, RH_LEN, (uint32_t)n);
	uint32_t lap = rlap(r, pos);
	return cas32(hd + RH_STATEW, REC_BUSY | lap, REC_MESSAGE | lap) ? SHMRING_OK : SHMRING_EFENCED;
}

static void pushed(shmring_ring *r, uint64_t k, uint64_t nbytes)
{
	cadd(r, PE_MSGSIN, k);
	cadd(r, PE_BYTESIN, nbytes);
	if (++R(r)->p_ops >= BEAT_EVERY) {
		R(r)->p_ops = 0;
		ring_beat(r);
	}
	ec_notify(r, &r->not_empty, (int)k);
}

static int rec_push(shmring_ring *r, const void *msg, size_t len)
{
	if (len > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	bool inl = len <= INLINE_COPY_MAX;
	uint64_t pos;
	int err = claim(r, span(len), msg, len, inl, &pos);
	if (err)
		return err;
	if (!inl) {
		memcpy(payload(r, pos), msg, len); /* outside the lock, beside other producers */
		if ((err = commit_at(r, pos, len)))
			return err;
	}
	pushed(r, 1, len);
	return SHMRING_OK;
}

static int rec_reserve(shmring_ring *r, size_t n, shmring_reservation *res)
{
	if (n > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	uint64_t sp = span(n), pos;
	int err = claim(r, sp, NULL, 0, false, &pos);
	if (err)
		return err;
	R(r)->resv++;
	res->buf = payload(r, pos);
	res->cap = sp - REC_HDR < r->g.slot_size ? sp - REC_HDR : r->g.slot_size;
	res->pos = pos;
	return SHMRING_OK;
}

static int rec_commit(shmring_ring *r, shmring_reservation *res, size_t n)
{
	uint64_t pos = res->pos, cap = res->cap;
	/* The span the reservation was made with, from its cap (min(span-16, SlotSize)). */
	uint64_t sp = cap < r->g.slot_size ? cap + REC_HDR : max_span(r);
	if (pos % RECORD_ALIGN || cap > r->g.slot_size)
		return SHMRING_ENOTRESERVED;
	/* Still below W and not consumed, else its bytes are another record's. */
	uint64_t w = ld64(r->prod + PU_POS) & SPSC_POS_MASK; /* acquire */
	uint64_t h = ld64(r->cons + CU_POS) & SPSC_POS_MASK; /* acquire */
	if (rdist(r, pos, h) >= rdist(r, w, h))
		return SHMRING_ENOTRESERVED;
	if (n > sp - REC_HDR || n > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	uint8_t *hd = hdr(r, pos);
	uint32_t lap = rlap(r, pos);
	if (ld32(hd + RH_STATEW) != (REC_BUSY | lap) || hget(hd, RH_OWNER) != r->owner_tag || hget(hd, RH_SIZE) != sp)
		return ld32(hd + RH_STATEW) == (REC_SKIP | lap) ? SHMRING_EFENCED : SHMRING_ENOTRESERVED;
	R(r)->resv--;
	int err = commit_at(r, pos, n);
	if (err)
		return err;
	pushed(r, 1, n);
	return SHMRING_OK;
}

/* batch_locked: as many of msgs as fit, committed, with one CAS of W. */
static int batch_locked(shmring_ring *r, const shmring_buf *msgs, size_t cnt, size_t *k_out, uint64_t *bytes_out)
{
	uint64_t w, cap = r->g.capacity;
	int err = load_w(r, &w);
	if (err)
		return err;
	uint64_t s = w & SPSC_POS_MASK;
	uint64_t h = ld64(r->cons + CU_POS) & SPSC_POS_MASK; /* acquire: as in claim_locked */
	if (rdist(r, s, h) > cap)
		return SHMRING_ECORRUPT;
	st64(r->prod + RP_HEADCACHE, h);
	uint64_t free_b = cap - rdist(r, s, h), end = s, nbytes = 0;
	size_t k = 0;
	for (; k < cnt; k++) {
		uint64_t n = msgs[k].len;
		if (n > r->g.slot_size || (n && !msgs[k].data))
			break;
		uint64_t sp = span(n), pad = 0;
		if (!r->g.mirrored && ridx(r, end) + sp > cap)
			pad = cap - ridx(r, end);
		if (pad + sp > free_b)
			break;
		if (pad) {
			write_padding(r, end, pad);
			end = radd(r, end, pad);
		}
		uint8_t *hd = hdr(r, end);
		hset(hd, RH_SIZE, (uint32_t)sp);
		hset(hd, RH_LEN, (uint32_t)n);
		hset(hd, RH_OWNER, r->owner_tag);
		if (n)
			memcpy(hd + REC_HDR, msgs[k].data, n);
		st32(hd + RH_STATEW, REC_MESSAGE | rlap(r, end)); /* published by W's CAS */
		end = radd(r, end, sp);
		free_b -= pad + sp;
		nbytes += n;
	}
	if (k == 0) {
		uint64_t sp = span(msgs[0].len);
		if (!r->g.mirrored && ridx(r, s) + sp > cap)
			sp += cap - ridx(r, s);
		R(r)->need = sp;
		return SHMRING_EFULL;
	}
	if ((err = publish_w(r, w, end)))
		return err;
	*k_out = k;
	*bytes_out = nbytes;
	return SHMRING_OK;
}

static int push_batch(shmring_ring *r, const shmring_buf *msgs, size_t cnt, size_t *k)
{
	*k = 0;
	if (cnt == 0)
		return SHMRING_OK;
	if (msgs[0].len > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	if (msgs[0].len && !msgs[0].data)
		return SHMRING_EINVAL;
	int err = rec_lock(r);
	if (err) {
		R(r)->need = RECORD_ALIGN;
		return err;
	}
	ring_mark_role(r, ROLE_PRODUCER);
	uint64_t nbytes = 0;
	err = batch_locked(r, msgs, cnt, k, &nbytes);
	rec_unlock(r);
	if (err)
		return err;
	pushed(r, *k, nbytes);
	return SHMRING_OK;
}

/* ---- consumer ---- */

static int resync_cons(shmring_ring *r, uint64_t cur)
{
	struct rec_state *c = R(r);
	if (cur > POS_MASK)
		return SHMRING_ECORRUPT;
	if (c->head != UNSYNCED) {
		if ((cur & SPSC_EPOCH_MASK) != c->epoch)
			return SHMRING_EFENCED;
	} else {
		/* Takeover: one CAS bumps the epoch and keeps the position. */
		uint64_t next = (cur & ~SPSC_EPOCH_MASK) | ((cur + SPSC_EPOCH_ONE) & SPSC_EPOCH_MASK);
		if (!cas64(r->cons + CU_POS, cur, next))
			return SHMRING_ECORRUPT; /* two consumers taking over at once */
		cur = next;
		c->epoch = cur & SPSC_EPOCH_MASK;
	}
	cur &= SPSC_POS_MASK;
	if (cur % RECORD_ALIGN)
		return SHMRING_ECORRUPT;
	uint64_t w = ld64(r->prod + PU_POS) & SPSC_POS_MASK; /* acquire */
	if (rdist(r, w, cur) > r->g.capacity)
		return SHMRING_ECORRUPT;
	/* Peeks this handle held are void: another consumer moved past them. */
	c->head = c->rel = cur;
	c->tail_cache = w;
	c->npeeks = c->peek_front = 0;
	ring_mark_role(r, ROLE_CONSUMER);
	return SHMRING_OK;
}

static int cons_prologue(shmring_ring *r, bool excl)
{
	struct rec_state *c = R(r);
	uint64_t cur = ld64(r->cons + CU_POS); /* acquire: a consumer handle's release CAS */
	if (cur != (c->rel | c->epoch) || (int64_t)cur < 0) {
		int err = resync_cons(r, cur);
		if (err)
			return err;
	}
	if (excl && c->peek_front < c->npeeks)
		return SHMRING_EOUTSTANDING;
	return SHMRING_OK;
}

static int release_to(shmring_ring *r, uint64_t end, uint64_t k, uint64_t nbytes)
{
	struct rec_state *c = R(r);
	/* Seq-cst CAS: releases our reads below end to the producers' acquire
	 * load of H, fails if another consumer took over (epoch), and is the
	 * StoreLoad fence before NotFullWaiters. */
	if (!cas64(r->cons + CU_POS, c->rel | c->epoch, end | c->epoch)) {
		if ((ld64(r->cons + CU_POS) & SPSC_EPOCH_MASK) != c->epoch)
			return SHMRING_EFENCED;
		return SHMRING_ECORRUPT;
	}
	c->rel = end;
	if (c->peek_front == c->npeeks)
		c->head = end;
	if (k) {
		cadd(r, PE_MSGSOUT, k);
		cadd(r, PE_BYTESOUT, nbytes);
		if (++c->c_ops >= BEAT_EVERY) {
			c->c_ops = 0;
			ring_beat(r);
		}
	}
	ec_notify(r, &r->not_full, 0); /* every waiting producer: each needs its own room */
	return SHMRING_OK;
}

static bool header_ready(shmring_ring *r)
{
	uint64_t head = R(r)->head;
	return (ld32(hdr(r, head) + RH_STATEW) & ~REC_STATE_MASK) == rlap(r, head);
}

/* refresh_w: head reached the cached W: reload W every 64th empty poll, or
 * when the header at head carries this lap, or the Closed mirror is set. */
static int refresh_w(shmring_ring *r)
{
	struct rec_state *c = R(r);
	if (ring_quiet_empty(r, ++c->empty_polls) && !header_ready(r)) {
		ring_count_empty(r);
		return SHMRING_EEMPTY;
	}
	uint64_t w = ld64(r->prod + PU_POS); /* acquire: the claim CAS; the headers below it */
	uint64_t t = w & SPSC_POS_MASK;
	if (rdist(r, t, c->rel) > r->g.capacity || rdist(r, c->head, c->rel) > rdist(r, t, c->rel)) {
		if ((ld64(r->cons + CU_POS) & SPSC_EPOCH_MASK) != c->epoch)
			return SHMRING_EFENCED;
		return SHMRING_ECORRUPT;
	}
	c->tail_cache = t;
	if (t != c->head)
		return SHMRING_OK;
	if (w & CLOSED_BIT) {
		ring_repair_closed_mirror(r);
		return SHMRING_EEOF;
	}
	ring_count_empty(r);
	return SHMRING_EEMPTY;
}

/* repair_at: a busy record of a dead (or timed-out) producer becomes a skip record. */
static bool repair_at(shmring_ring *r, uint64_t pos, uint32_t st, int64_t held, int dead_idx)
{
	uint8_t *hd = hdr(r, pos);
	bool dead = tag_state(r, hget(hd, RH_OWNER), dead_idx) == CLAIM_DEAD;
	if (!dead && !(r->claim_timeout_ns > 0 && held >= r->claim_timeout_ns))
		return false;
	/* CAS: the lap in st fails a stale repairer; this or the commit lands. */
	if (!cas32(hd + RH_STATEW, st, REC_SKIP | (st & ~REC_STATE_MASK)))
		return false;
	add64(r->hdr + RH_SKIPPED, 1);
	return true;
}

/* stalled: the busy record at pos, seen busy for 1 ms, has its owner
 * tested (at most every 2 ms): a polling consumer reads the clock every
 * 64th poll, a waiting one every time. */
static bool stalled(shmring_ring *r, uint64_t pos, uint32_t st, bool waiting)
{
	struct rec_state *c = R(r);
	if (c->stall_pos != pos + 1) {
		c->stall_pos = pos + 1;
		c->stall_since = mono_now();
		c->stall_probe = 0;
		return false;
	}
	if (++c->empty_polls, !waiting && c->empty_polls % 64 != 0)
		return false;
	int64_t now = mono_now(), held = now - c->stall_since;
	if (held < STALL_GRACE_NS || now - c->stall_probe < STALL_PROBE_NS)
		return false;
	c->stall_probe = now;
	return repair_at(r, pos, st, held, -1);
}

/* next1: the next message at or after head; padding and skip records are
 * passed (head moves, H does not yet). */
static int next1(shmring_ring *r, uint64_t *pos, uint64_t *n, uint64_t *sp)
{
	struct rec_state *c = R(r);
	uint64_t cap = r->g.capacity;
	for (uint64_t steps = 0;; steps++) {
		if (steps > r->g.slots)
			return SHMRING_ECORRUPT; /* no message in Capacity/16 records */
		if (c->head == c->tail_cache) {
			int err = refresh_w(r);
			if (err)
				return err;
		}
		uint8_t *hd = hdr(r, c->head);
		/* Acquire: pairs with the commit CAS of State (or W's CAS): Len and payload. */
		uint32_t st = ld32(hd + RH_STATEW);
		if ((st & ~REC_STATE_MASK) != rlap(r, c->head))
			return SHMRING_ECORRUPT;
		uint64_t size = hget(hd, RH_SIZE), avail = rdist(r, c->tail_cache, c->head);
		if (size < REC_HDR || size % RECORD_ALIGN || size > avail ||
		    (!r->g.mirrored && ridx(r, c->head) + size > cap))
			return SHMRING_ECORRUPT;
		switch (st & REC_STATE_MASK) {
		case REC_MESSAGE: {
			if (size > max_span(r))
				return SHMRING_ECORRUPT;
			uint64_t ln = hget(hd, RH_LEN);
			if (ln > size - REC_HDR || ln > r->g.slot_size)
				return SHMRING_ECORRUPT;
			c->empty_polls = 0;
			*pos = c->head;
			*n = ln;
			*sp = size;
			return SHMRING_OK;
		}
		case REC_PADDING:
			if (r->g.mirrored || ridx(r, c->head) + size != cap)
				return SHMRING_ECORRUPT;
			c->head = radd(r, c->head, size);
			break;
		case REC_SKIP:
			if (size > max_span(r))
				return SHMRING_ECORRUPT;
			c->head = radd(r, c->head, size);
			break;
		case REC_BUSY:
			if (size > max_span(r))
				return SHMRING_ECORRUPT;
			if (stalled(r, c->head, st, false))
				continue; /* a skip record now: pass it */
			ring_count_empty(r);
			return SHMRING_EEMPTY;
		default:
			return SHMRING_ECORRUPT;
		}
	}
}

/* next: next1, then, if it found no message and no peek is outstanding,
 * release the padding and skip records passed (a dead producer's skip
 * records may be exactly the room the producers wait for). */
static int next(shmring_ring *r, uint64_t *pos, uint64_t *n, uint64_t *sp)
{
	struct rec_state *c = R(r);
	int err = next1(r, pos, n, sp);
	if ((err == SHMRING_EEMPTY || err == SHMRING_EEOF) && c->head != c->rel && c->peek_front == c->npeeks) {
		int rerr = release_to(r, c->head, 0, 0);
		if (rerr)
			return rerr;
	}
	return err;
}

static int rec_pop(shmring_ring *r, void *dst, size_t cap, size_t *len)
{
	int err = cons_prologue(r, true);
	if (err)
		return err;
	uint64_t pos, n, sp;
	if ((err = next(r, &pos, &n, &sp)))
		return err;
	if (n > cap)
		return SHMRING_ESHORTBUF; /* the record stays */
	if (n)
		memcpy(dst, payload(r, pos), n);
	if ((err = release_to(r, radd(r, pos, sp), 1, n)))
		return err;
	*len = n;
	return SHMRING_OK;
}

static int rec_peek(shmring_ring *r, shmring_message *m)
{
	struct rec_state *c = R(r);
	int err = cons_prologue(r, false);
	if (err)
		return err;
	uint64_t pos, n, sp;
	if ((err = next(r, &pos, &n, &sp)))
		return err;
	if (c->peek_front == c->npeeks)
		c->npeeks = c->peek_front = 0;
	if (c->npeeks == c->peek_cap) {
		size_t nc = c->peek_cap ? 2 * c->peek_cap : 16;
		struct rec_peek *np = realloc(c->peeks, nc * sizeof *np);
		if (!np)
			return SHMRING_ESYS;
		c->peeks = np;
		c->peek_cap = nc;
	}
	c->head = radd(r, pos, sp);
	c->peeks[c->npeeks++] = (struct rec_peek){.pos = pos, .end = c->head, .len = n};
	m->data = payload(r, pos);
	m->len = n;
	m->pos = pos;
	return SHMRING_OK;
}

static int rec_release(shmring_ring *r, shmring_message *m)
{
	struct rec_state *c = R(r);
	if (c->peek_front == c->npeeks || c->peeks[c->peek_front].pos != m->pos)
		return SHMRING_ENOTRESERVED;
	uint64_t cur = ld64(r->cons + CU_POS); /* acquire */
	if (cur != (c->rel | c->epoch)) {
		c->npeeks = c->peek_front = 0;
		return (cur & SPSC_EPOCH_MASK) != c->epoch ? SHMRING_EFENCED : SHMRING_ECORRUPT;
	}
	struct rec_peek pk = c->peeks[c->peek_front++];
	uint64_t end = pk.end;
	if (c->peek_front < c->npeeks)
		end = c->peeks[c->peek_front].pos; /* passed records up to the next peek go too */
	return release_to(r, end, 1, pk.len);
}

/* ---- waiting ---- */

/* rec_ready: the eventcount's "ring ready". A producer: closed, or the
 * claim lock free and the room its last EFULL was for. A consumer: W past
 * head and the header at head not this lap's busy record (or one whose
 * owner is dead: the try repairs it), or W == head and closed. */
static bool rec_ready(shmring_ring *r, bool push)
{
	struct rec_state *c = R(r);
	uint64_t w = ld64(r->prod + PU_POS); /* acquire */
	if ((w & CLOSED_BIT) && push)
		return true;
	uint64_t t = w & SPSC_POS_MASK, h = ld64(r->cons + CU_POS) & SPSC_POS_MASK;
	if (push) {
		/* A held lock is not ready: blocked reports it stuck, which bounds
		 * the sleep to 2 ms, and the retry takes a dead holder's lock. */
		if (ld32(r->prod + RP_CLAIMLOCK) != 0)
			return false;
		uint64_t d = rdist(r, t, h), need = c->need > RECORD_ALIGN ? c->need : RECORD_ALIGN;
		return d > r->g.capacity || r->g.capacity - d >= need;
	}
	if (c->head == UNSYNCED || rdist(r, t, c->head) > r->g.capacity)
		return true; /* the try says what it is */
	if (t == c->head)
		return (w & CLOSED_BIT) != 0;
	uint8_t *hd = hdr(r, c->head);
	uint32_t st = ld32(hd + RH_STATEW);
	if ((st & REC_STATE_MASK) != REC_BUSY || (st & ~REC_STATE_MASK) != rlap(r, c->head))
		return true;
	return tag_state(r, hget(hd, RH_OWNER), -1) == CLAIM_DEAD;
}

/* rec_blocked: a waiting consumer repairs a dead producer's busy record at
 * head; a waiting producer behind a held claim lock is stuck (its retry
 * takes a dead holder's lock). */
static bool rec_blocked(shmring_ring *r, bool push, bool *stuck)
{
	struct rec_state *c = R(r);
	*stuck = false;
	if (push) {
		*stuck = ld32(r->prod + RP_CLAIMLOCK) != 0;
		return false;
	}
	if (c->head == UNSYNCED)
		return false;
	uint64_t w = ld64(r->prod + PU_POS) & SPSC_POS_MASK;
	if (w == c->head || rdist(r, w, c->head) > r->g.capacity)
		return false;
	uint32_t st = ld32(hdr(r, c->head) + RH_STATEW);
	if (st != (REC_BUSY | rlap(r, c->head)))
		return false;
	*stuck = true;
	return stalled(r, c->head, st, true);
}

/* rec_repair_claims: Recover's walk: every busy record of a dead producer
 * in [H, W) becomes a skip record (stopping as soon as H moves), and a
 * dead holder's claim lock is freed. */
static void rec_repair_claims(shmring_ring *r, int dead_idx, int *skipped, int *redelivered)
{
	(void)redelivered;
	uint32_t v = ld32(r->prod + RP_CLAIMLOCK);
	if (v != 0 && tag_state(r, v, dead_idx) == CLAIM_DEAD)
		cas32(r->prod + RP_CLAIMLOCK, v, 0); /* only if still that holder's */
	uint64_t w = ld64(r->prod + PU_POS) & SPSC_POS_MASK, p = ld64(r->cons + CU_POS) & SPSC_POS_MASK;
	if (rdist(r, w, p) > r->g.capacity || p % RECORD_ALIGN)
		return;
	uint64_t h0 = p;
	for (uint64_t steps = 0; p != w && steps <= r->g.slots; steps++) {
		uint8_t *hd = hdr(r, p);
		uint32_t st = ld32(hd + RH_STATEW);
		uint64_t size = hget(hd, RH_SIZE);
		if ((ld64(r->cons + CU_POS) & SPSC_POS_MASK) != h0)
			break; /* the bytes behind the consumer may be a later lap's */
		if ((st & ~REC_STATE_MASK) != rlap(r, p) || size < REC_HDR || size % RECORD_ALIGN || size > rdist(r, w, p))
			break;
		if ((st & REC_STATE_MASK) == REC_BUSY && repair_at(r, p, st, 0, dead_idx))
			(*skipped)++;
		p = radd(r, p, size);
	}
}

/* ---- mapping ---- */

/* map_mirror maps the data area twice, back to back: a PROT_NONE
 * reservation of 2*Capacity bytes (aligned to the arena's page size), then
 * the file range MAP_SHARED|MAP_FIXED over each half (arena/mirror_unix.go). */
static int map_mirror(shmring_ring *r)
{
	struct rec_state *c = R(r);
	uint64_t sys = (uint64_t)sysconf(_SC_PAGESIZE), unit = r->arena->page_size;
	uint64_t foff = r->region.offset + r->g.slots_off, n = r->g.capacity;
	if (unit < sys)
		unit = sys;
	if (foff % unit || n % unit || unit % sys || 2 * n < n)
		return SHMRING_EUNSUPPORTED; /* the area cannot be mapped twice here */
	size_t size = (size_t)(2 * n), slack = (size_t)(unit - sys), total = size + slack;
	uint8_t *res = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return SHMRING_ESYS;
	size_t lead = (size_t)((unit - (uintptr_t)res % unit) % unit);
	uint8_t *base = res + lead;
	if (lead)
		munmap(res, lead);
	if (total - lead - size)
		munmap(base + size, total - lead - size);
	for (int half = 0; half < 2; half++) {
		void *got = mmap(base + half * n, (size_t)n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				 r->arena->fd, (off_t)foff);
		if (got != base + half * n) {
			int e = errno;
			if (got != MAP_FAILED)
				munmap(got, (size_t)n);
			munmap(base, size);
			errno = e;
			return SHMRING_ESYS;
		}
	}
	if (arena_add_view(r->arena, base, size)) { /* replaced with the arena's mapping on a truncation */
		munmap(base, size);
		return SHMRING_ESYS;
	}
	c->view = base;
	c->view_len = size;
	c->data = base;
	return SHMRING_OK;
}

static int rec_attach(shmring_ring *r)
{
	struct rec_state *c = R(r);
	c->head = c->rel = UNSYNCED;
	c->need = RECORD_ALIGN;
	if (!r->g.mirrored) {
		c->data = r->mem + r->g.slots_off;
		return SHMRING_OK;
	}
	return map_mirror(r);
}

static void rec_destroy(shmring_ring *r)
{
	struct rec_state *c = R(r);
	if (c->view) {
		arena_remove_view(r->arena, c->view);
		munmap(c->view, c->view_len);
	}
	c->view = NULL;
	c->data = NULL;
	free(c->peeks);
	c->peeks = NULL;
	c->npeeks = c->peek_front = c->peek_cap = 0;
}

const struct kind_ops shmring_records_ops = {
	.push = rec_push,
	.pop = rec_pop,
	.reserve = rec_reserve,
	.commit = rec_commit,
	.peek = rec_peek,
	.release = rec_release,
	.ready = rec_ready,
	.blocked = rec_blocked,
	.repair_claims = rec_repair_claims,
	.close = NULL, /* no handle's Close ends a record ring's stream: CloseWrite does */
	.attach = rec_attach,
	.destroy = rec_destroy,
	.counts_empty_inside = true,
};

/* ---- public record-ring calls ---- */

int shmring_ring_mirrored(const shmring_ring *r) { return r && r->g.kind == KIND_RECORDS && r->g.mirrored; }

static int batch_usable(shmring_ring *r, const shmring_buf *msgs, size_t n, size_t *pushed_out)
{
	if (pushed_out)
		*pushed_out = 0;
	if (!r || !pushed_out || (n && !msgs))
		return SHMRING_EINVAL;
	if (r->closed_handle)
		return SHMRING_EHANDLECLOSED;
	if (arena_broken(r->arena))
		return SHMRING_ETRUNCATED;
	if (r->g.kind != KIND_RECORDS)
		return SHMRING_EKIND;
	return SHMRING_OK;
}

int shmring_try_push_batch(shmring_ring *r, const shmring_buf *msgs, size_t n, size_t *pushed_out)
{
	int err = batch_usable(r, msgs, n, pushed_out);
	if (err)
		return err;
	err = push_batch(r, msgs, n, pushed_out);
	if (err == SHMRING_EFULL || (!err && *pushed_out < n && msgs[*pushed_out].len <= r->g.slot_size))
		for (size_t i = *pushed_out; i < n; i++) /* one per message left out */
			ring_count_full(r);
	return err;
}

struct batch_arg {
	const shmring_buf *msgs;
	size_t n, done;
};

static int batch_try(shmring_ring *r, void *arg)
{
	struct batch_arg *b = arg;
	size_t k;
	int err = push_batch(r, b->msgs + b->done, b->n - b->done, &k);
	b->done += k;
	return err;
}

int shmring_push_batch(shmring_ring *r, const shmring_buf *msgs, size_t n, size_t *pushed_out, int64_t timeout_ns)
{
	int err = batch_usable(r, msgs, n, pushed_out);
	if (err)
		return err;
	int64_t deadline = timeout_ns < 0 ? -1 : deadline_after(timeout_ns);
	struct batch_arg b = {.msgs = msgs, .n = n};
	bool counted = false;
	err = batch_try(r, &b);
	while (b.done < n && (err == SHMRING_OK || err == SHMRING_EFULL)) {
		if (err == SHMRING_OK) { /* progress: try again at once */
			err = batch_try(r, &b);
			continue;
		}
		if (!counted) { /* each message still to push was blocked */
			for (size_t i = b.done; i < n; i++)
				ring_count_full(r);
			counted = true;
		}
		int64_t left = -1;
		if (deadline >= 0 && (left = deadline - mono_now()) <= 0) {
			err = SHMRING_ETIMEDOUT;
			break;
		}
		err = ring_wait_fn(r, true, batch_try, &b, left);
	}
	*pushed_out = b.done;
	return b.done == n ? SHMRING_OK : err;
}
