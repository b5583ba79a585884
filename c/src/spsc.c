/*
 * spsc.c: the SPSC ring (docs/ring.md "SPSC", "Takeover and fencing"),
 * ported from ring/spsc.go, ring/spsc_consumer.go, ring/spsc_takeover.go.
 *
 * Invariants: with t = prod.Pos bits 0..55 (Tail) and h = cons.Pos bits
 * 0..55 (Head), 0 <= t - h <= Slots, except that h may pass t by up to
 * Slots while a publish is in flight (the consumer takes a message through
 * the slot's Seq before the producer's tail CAS). A slot holds the message
 * of position p when its Seq is uint32(p+1). Each side keeps its position
 * and epoch (bits 56..62) privately, loads its own word once per operation
 * and compares: equal means nothing happened, another epoch is
 * SHMRING_EFENCED, another position a re-sync.
 */
#include "internal.h"

#include <string.h>

#define S(r) (&(r)->u.spsc)

static uint8_t *slot(shmring_ring *r, uint64_t pos) { return r->mem + r->g.slots_off + (pos & r->g.mask) * r->g.stride; }

/* A slot's Len is plain in the protocol; a relaxed atomic here, so that a
 * hostile concurrent write is no data race in C. Read once, then bounded. */
static uint32_t slot_len(uint8_t *s) { return atomic_load_explicit(A32(s), RLX); }
static void set_slot_len(uint8_t *s, uint32_t n) { atomic_store_explicit(A32(s), n, RLX); }

static bool seq_ready(shmring_ring *r)
{
	/* Acquire (seq_cst as Go's LoadUint32): pairs with the producer's release of Seq after Len and data. */
	return ld32(slot(r, S(r)->head) + 4) == (uint32_t)(S(r)->head + 1);
}

/* ---- producer ---- */

static int resync_prod(shmring_ring *r, uint64_t cur)
{
	struct spsc_state *p = S(r);
	if (cur & CLOSED_BIT)
		return SHMRING_ECLOSED;
	if (p->tail != UNSYNCED) {
		if ((cur & SPSC_EPOCH_MASK) != p->p_epoch)
			return SHMRING_EFENCED;
	} else {
		/* Takeover: one CAS bumps the epoch and keeps the position. */
		uint64_t next = (cur & ~SPSC_EPOCH_MASK) | ((cur + SPSC_EPOCH_ONE) & SPSC_EPOCH_MASK);
		if (!cas64(r->prod + PU_POS, cur, next))
			return SHMRING_ECORRUPT; /* two producers taking over at once */
		p->p_epoch = next & SPSC_EPOCH_MASK;
		cur = next;
	}
	uint64_t t = cur & SPSC_POS_MASK;
	uint64_t h = ld64(r->cons + CU_POS); /* acquire: pairs with the consumer's release CAS */
	if (h > POS_MASK)
		return SHMRING_ECORRUPT;
	h &= SPSC_POS_MASK;
	/* The head may be ahead of the tail: the consumer took a dead
	 * producer's unpublished messages through Seq (gap 1). */
	if (t - h > r->g.slots && h - t > r->g.slots)
		return SHMRING_ECORRUPT;
	uint64_t base = t < h ? t : h, k = 0;
	/* Adopt every slot from the tail on whose Seq already names its
	 * position, within a ring of min(tail, head). */
	while (t + k - base < r->g.slots) {
		if (ld32(slot(r, t + k) + 4) != (uint32_t)(t + k + 1))
			break;
		k++;
	}
	if (k > 0) {
		if (!cas64(r->prod + PU_POS, cur, cur + k)) {
			uint64_t now = ld64(r->prod + PU_POS);
			if (now & CLOSED_BIT)
				return SHMRING_ECLOSED;
			if ((now & SPSC_EPOCH_MASK) != p->p_epoch)
				return SHMRING_EFENCED;
			return SHMRING_ECORRUPT;
		}
		t += k;
		ec_notify(r, &r->not_empty, (int)k);
	}
	if (t < h)
		return SHMRING_ECORRUPT; /* only after the adoption (gap 1) */
	p->tail = t;
	p->head_cache = h;
	p->resv = false;
	ring_mark_role(r, ROLE_PRODUCER);
	return SHMRING_OK;
}

static int prod_prologue(shmring_ring *r)
{
	struct spsc_state *p = S(r);
	uint64_t cur = ld64(r->prod + PU_POS); /* acquire: pairs with any publish or close of the word */
	if (cur != (p->tail | p->p_epoch) || (int64_t)cur < 0) {
		int err = resync_prod(r, cur);
		if (err)
			return err;
	}
	return p->resv ? SHMRING_EOUTSTANDING : SHMRING_OK;
}

/* refresh_head: the free slots, after an acquire load of cons.Pos. */
static int refresh_head(shmring_ring *r, uint64_t *free_out)
{
	struct spsc_state *p = S(r);
	uint64_t h = ld64(r->cons + CU_POS) & SPSC_POS_MASK;
	if (p->tail - h > r->g.slots) { /* also catches h > tail */
		if ((ld64(r->prod + PU_POS) & SPSC_EPOCH_MASK) != p->p_epoch)
			return SHMRING_EFENCED;
		return SHMRING_ECORRUPT;
	}
	p->head_cache = h;
	*free_out = r->g.slots - (p->tail - h);
	return SHMRING_OK;
}

static bool still_producer(shmring_ring *r)
{
	return (ld64(r->prod + PU_POS) & SPSC_EPOCH_MASK) == S(r)->p_epoch;
}

static int publish_failed(shmring_ring *r, uint64_t next)
{
	struct spsc_state *p = S(r);
	uint64_t cur = ld64(r->prod + PU_POS);
	if ((cur & SPSC_EPOCH_MASK) != p->p_epoch)
		return SHMRING_EFENCED;
	if (cur == (p->tail | p->p_epoch | CLOSED_BIT)) {
		/* A CloseWrite landed after our prologue: publish under the bit,
		 * since a consumer may have taken the messages through Seq. */
		if (cas64(r->prod + PU_POS, cur, next | p->p_epoch | CLOSED_BIT))
			return SHMRING_OK;
		cur = ld64(r->prod + PU_POS);
	}
	if (cur & CLOSED_BIT)
		return SHMRING_ECLOSED;
	p->tail = UNSYNCED;
	return SHMRING_ECORRUPT;
}

static int publish(shmring_ring *r, uint64_t next, uint64_t n, uint64_t nbytes)
{
	struct spsc_state *p = S(r);
	/* Seq-cst CAS of the whole word: releases the slots, fails for a fenced
	 * handle or under a CloseWrite, and is the StoreLoad fence before the
	 * load of NotEmptyWaiters. */
	if (!cas64(r->prod + PU_POS, p->tail | p->p_epoch, next | p->p_epoch)) {
		int err = publish_failed(r, next);
		if (err)
			return err;
	}
	p->tail = next;
	ring_count_in(r, n, nbytes);
	if (++p->p_ops >= BEAT_EVERY) {
		p->p_ops = 0;
		ring_beat(r);
	}
	ec_notify(r, &r->not_empty, (int)n);
	return SHMRING_OK;
}

static int spsc_push(shmring_ring *r, const void *msg, size_t len)
{
	struct spsc_state *p = S(r);
	if (len > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	uint64_t cur = ld64(r->prod + PU_POS);
	if (cur != (p->tail | p->p_epoch) || (int64_t)cur < 0 || p->resv) {
		int err = prod_prologue(r);
		if (err)
			return err;
	}
	if (p->tail - p->head_cache >= r->g.slots) {
		uint64_t f;
		int err = refresh_head(r, &f);
		if (err)
			return err;
		if (f == 0)
			return SHMRING_EFULL;
	}
	uint8_t *s = slot(r, p->tail);
	set_slot_len(s, (uint32_t)len);
	if (len)
		memcpy(s + 8, msg, len);
	if (!still_producer(r)) /* just before Seq, which a consumer may act on */
		return SHMRING_EFENCED;
	strel32(s + 4, (uint32_t)(p->tail + 1)); /* release: Len and data before it */
	return publish(r, p->tail + 1, 1, len);
}

static int spsc_reserve(shmring_ring *r, size_t n, shmring_reservation *res)
{
	struct spsc_state *p = S(r);
	if (n > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	int err = prod_prologue(r);
	if (err)
		return err;
	if (p->tail - p->head_cache >= r->g.slots) {
		uint64_t f;
		if ((err = refresh_head(r, &f)))
			return err;
		if (f == 0)
			return SHMRING_EFULL;
	}
	p->resv = true;
	res->buf = slot(r, p->tail) + 8;
	res->cap = r->g.slot_size;
	res->pos = p->tail;
	return SHMRING_OK;
}

static int spsc_commit(shmring_ring *r, shmring_reservation *res, size_t n)
{
	struct spsc_state *p = S(r);
	if (!p->resv || res->pos != p->tail)
		return SHMRING_ENOTRESERVED;
	if (n > r->g.slot_size)
		return SHMRING_ETOOLARGE;
	if (!still_producer(r)) {
		p->resv = false;
		return SHMRING_EFENCED;
	}
	uint8_t *s = slot(r, p->tail);
	set_slot_len(s, (uint32_t)n);
	strel32(s + 4, (uint32_t)(p->tail + 1));
	p->resv = false;
	return publish(r, p->tail + 1, 1, n);
}

/* ---- consumer ---- */

static int resync_cons(shmring_ring *r, uint64_t cur)
{
	struct spsc_state *c = S(r);
	if (cur > POS_MASK)
		return SHMRING_ECORRUPT;
	if (c->head != UNSYNCED) {
		if ((cur & SPSC_EPOCH_MASK) != c->c_epoch)
			return SHMRING_EFENCED;
	} else {
		uint64_t next = (cur & ~SPSC_EPOCH_MASK) | ((cur + SPSC_EPOCH_ONE) & SPSC_EPOCH_MASK);
		if (!cas64(r->cons + CU_POS, cur, next))
			return SHMRING_ECORRUPT;
		cur = next;
		c->c_epoch = cur & SPSC_EPOCH_MASK;
	}
	cur &= SPSC_POS_MASK;
	uint64_t t = ld64(r->prod + PU_POS) & SPSC_POS_MASK;
	if (t - cur > r->g.slots && cur - t > r->g.slots)
		return SHMRING_ECORRUPT;
	c->head = cur;
	c->tail_cache = t;
	c->peek = false;
	ring_mark_role(r, ROLE_CONSUMER);
	return SHMRING_OK;
}

static int cons_prologue(shmring_ring *r)
{
	struct spsc_state *c = S(r);
	uint64_t cur = ld64(r->cons + CU_POS);
	if (cur != (c->head | c->c_epoch) || (int64_t)cur < 0) {
		int err = resync_cons(r, cur);
		if (err)
			return err;
	}
	return c->peek ? SHMRING_EOUTSTANDING : SHMRING_OK;
}

/* load_tail: acquire load of prod.Pos and what it says. */
static int load_tail(shmring_ring *r, uint64_t *t_out, uint64_t *avail, bool *eof)
{
	struct spsc_state *c = S(r);
	uint64_t raw = ld64(r->prod + PU_POS);
	bool closed = raw & CLOSED_BIT;
	if (closed)
		ring_repair_closed_mirror(r);
	uint64_t t = raw & SPSC_POS_MASK;
	*eof = false;
	*avail = 0;
	*t_out = t;
	if (t < c->head) { /* ahead through Seq */
		if (c->head - t > r->g.slots) {
			if ((ld64(r->cons + CU_POS) & SPSC_EPOCH_MASK) != c->c_epoch)
				return SHMRING_EFENCED;
			return SHMRING_ECORRUPT;
		}
		*avail = seq_ready(r) ? 1 : 0;
		return SHMRING_OK;
	}
	if (t - c->head > r->g.slots) {
		if ((ld64(r->cons + CU_POS) & SPSC_EPOCH_MASK) != c->c_epoch)
			return SHMRING_EFENCED;
		return SHMRING_ECORRUPT;
	}
	*avail = t - c->head;
	*eof = closed && t == c->head;
	return SHMRING_OK;
}

/* not_ready: the single-message empty poll. It reads prod.Pos only every
 * 64th poll or when the Closed mirror is set. */
static int not_ready(shmring_ring *r)
{
	struct spsc_state *c = S(r);
	if (ring_quiet_empty(r, ++c->empty_polls)) {
		ring_count_empty(r);
		return SHMRING_EEMPTY;
	}
	uint64_t t, a;
	bool eof;
	int err = load_tail(r, &t, &a, &eof);
	if (err)
		return err;
	c->tail_cache = t;
	if (a > 0)
		return SHMRING_OK;
	if (eof)
		return SHMRING_EEOF;
	ring_count_empty(r);
	return SHMRING_EEMPTY;
}

static int cons_release(shmring_ring *r, uint64_t next, uint64_t n, uint64_t nbytes)
{
	struct spsc_state *c = S(r);
	/* Seq-cst CAS: releases our reads of the slots to the producer, and is
	 * the StoreLoad fence before NotFullWaiters. */
	if (!cas64(r->cons + CU_POS, c->head | c->c_epoch, next | c->c_epoch)) {
		if ((ld64(r->cons + CU_POS) & SPSC_EPOCH_MASK) != c->c_epoch)
			return SHMRING_EFENCED;
		c->head = UNSYNCED;
		return SHMRING_ECORRUPT;
	}
	c->head = next;
	ring_count_out(r, n, nbytes);
	if (++c->c_ops >= BEAT_EVERY) {
		c->c_ops = 0;
		ring_beat(r);
	}
	ec_notify(r, &r->not_full, (int)n);
	return SHMRING_OK;
}

static int spsc_pop(shmring_ring *r, void *dst, size_t cap, size_t *len)
{
	struct spsc_state *c = S(r);
	uint64_t cur = ld64(r->cons + CU_POS);
	if (cur != (c->head | c->c_epoch) || (int64_t)cur < 0 || c->peek) {
		int err = cons_prologue(r);
		if (err)
			return err;
	}
	if (c->tail_cache <= c->head && !seq_ready(r)) {
		int err = not_ready(r);
		if (err)
			return err;
	}
	uint8_t *s = slot(r, c->head);
	uint64_t n = slot_len(s);
	if (n > r->g.slot_size)
		return SHMRING_ECORRUPT;
	if (n > cap)
		return SHMRING_ESHORTBUF;
	if (n)
		memcpy(dst, s + 8, n);
	int err = cons_release(r, c->head + 1, 1, n);
	if (err)
		return err;
	*len = n;
	return SHMRING_OK;
}

static int spsc_peek(shmring_ring *r, shmring_message *m)
{
	struct spsc_state *c = S(r);
	int err = cons_prologue(r);
	if (err)
		return err;
	if (!(c->tail_cache > c->head) && !seq_ready(r) && (err = not_ready(r)))
		return err;
	uint8_t *s = slot(r, c->head);
	uint64_t n = slot_len(s);
	if (n > r->g.slot_size)
		return SHMRING_ECORRUPT;
	c->peek = true;
	m->data = s + 8;
	m->len = n;
	m->pos = c->head;
	return SHMRING_OK;
}

static int spsc_release(shmring_ring *r, shmring_message *m)
{
	struct spsc_state *c = S(r);
	if (!c->peek || m->pos != c->head)
		return SHMRING_ENOTRESERVED;
	c->peek = false;
	return cons_release(r, c->head + 1, 1, m->len);
}

/* spsc_ready: the eventcount's "ring ready" (gap 2). A producer: closed, or
 * a free slot. A consumer: a message (cached, through Seq, or by the tail),
 * or closed and drained (EOF): closed alone is not ready while messages
 * remain... they make it ready anyway; an error makes it ready too, so the
 * retry reports it. */
static bool spsc_ready(shmring_ring *r, bool push)
{
	if (push) {
		uint64_t t = ld64(r->prod + PU_POS);
		if (t & CLOSED_BIT)
			return true;
		uint64_t h = ld64(r->cons + CU_POS) & SPSC_POS_MASK;
		return (t & SPSC_POS_MASK) - h < r->g.slots;
	}
	if (S(r)->head == UNSYNCED || seq_ready(r))
		return true;
	uint64_t t, a;
	bool eof;
	int err = load_tail(r, &t, &a, &eof);
	return a > 0 || eof || err;
}

static void spsc_close(shmring_ring *r)
{
	struct spsc_state *p = S(r);
	if (p->tail == UNSYNCED)
		return; /* never produced: the stream is not ours to end */
	uint64_t word = p->tail | p->p_epoch;
	if (cas64(r->prod + PU_POS, word, word | CLOSED_BIT)) /* fails for a fenced handle */
		ring_closed(r);
}

const struct kind_ops shmring_spsc_ops = {
	.push = spsc_push,
	.pop = spsc_pop,
	.reserve = spsc_reserve,
	.commit = spsc_commit,
	.peek = spsc_peek,
	.release = spsc_release,
	.ready = spsc_ready,
	.blocked = NULL,
	.repair_claims = NULL,
	.close = spsc_close,
	.counts_empty_inside = true,
};
