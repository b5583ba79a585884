/*
 * cpeer: the C peer of `shmring bench` (bench/cpeer.go, issue 15). The Go
 * harness creates an arena with two SPSC rings, one each way, and starts
 * this program in the peer's role instead of re-executing itself, so that
 * the C library's speed is measured by the same loops as the Go peer's:
 *
 *   cpeer MODE ARENA TX RX SIZE CPU DEADLINE_UNIX_NS DURATION_NS
 *
 * It pins itself to CPU (unless it is negative), opens the arena, pushes
 * on ring TX and pops from ring RX, sends the hello (a SIZE-byte message
 * whose byte 0 is opHello), then plays MODE:
 *
 *   echo    answer every message (the ping-pong), until opStop;
 *   sink    consume in place (peek/release) and count until opStop, then
 *           answer opAck with the count;
 *   source  push opData messages for DURATION_NS, then opAck with the
 *           count (the parent consumes and checks it).
 *
 * Then it prints {"count":N} on stdout (bench's peerResult) and exits 0;
 * on any error it prints the reason on stderr and exits 1. The opcodes and
 * the count's encoding (bytes 1..7, little endian) are bench/conn.go's.
 *
 * Waiting busy-spins as the Go side's ring.WaitSpin does (ring/wait.go
 * spinStep): retry the non-blocking call, one pause between the first
 * FAST_CHECKS tries, then PAUSES_PER_CHECK. Every CHECK_EVERY tries it
 * reads the wall clock against the deadline and checks that its parent is
 * still the one that started it, so a spin never outlives the run.
 */
#define _GNU_SOURCE 1
#include "shmring.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* bench/conn.go's opcodes. */
enum { OP_DATA = 1, OP_STOP = 2, OP_HELLO = 3, OP_IDLE = 4, OP_ACK = 5 };

/* ring/wait.go's spin schedule (fastChecks, pausesPerCheck). */
#define FAST_CHECKS 8
#define PAUSES_PER_CHECK 4
/* How many tries between two deadline and parent checks: a clock read
 * and a getppid() every 1024 tries cost a fraction of a percent. */
#define CHECK_EVERY 1024
/* How many messages the source pushes between two clock reads (bench's
 * throughput loop checks every 65536/size messages; 1024 at 64 B). */
#define SOURCE_CHECK 1024

static int64_t deadline_ns;
static pid_t parent;

static _Noreturn void die(const char *what, int err)
{
	fprintf(stderr, "cpeer: %s: %s\n", what, err ? shmring_strerror(err) : "failed");
	exit(1);
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* spin_step is one wait between two tries; it gives up (exits) past the
 * deadline or once the parent has gone. */
static void spin_step(unsigned long *iter, const char *what)
{
	++*iter;
	if (*iter % CHECK_EVERY == 0) {
		if (wall_ns() > deadline_ns) {
			fprintf(stderr, "cpeer: %s: deadline passed\n", what);
			exit(1);
		}
		if (getppid() != parent) {
			fprintf(stderr, "cpeer: %s: parent exited\n", what);
			exit(1);
		}
	}
	int n = *iter <= FAST_CHECKS ? 1 : PAUSES_PER_CHECK;
	for (int i = 0; i < n; i++)
		cpu_pause();
}

static void send_msg(shmring_ring *tx, const uint8_t *msg, size_t len)
{
	unsigned long iter = 0;
	int err;
	while ((err = shmring_try_push(tx, msg, len)) == SHMRING_EFULL)
		spin_step(&iter, "push");
	if (err)
		die("push", err);
}

static size_t recv_msg(shmring_ring *rx, uint8_t *buf, size_t cap)
{
	unsigned long iter = 0;
	size_t len = 0;
	int err;
	while ((err = shmring_try_pop(rx, buf, cap, &len)) == SHMRING_EEMPTY)
		spin_step(&iter, "pop");
	if (err)
		die("pop", err);
	return len;
}

static void put_count(uint8_t *msg, uint64_t n)
{
	for (int i = 1; i < 8; i++)
		msg[i] = (uint8_t)(n >> (8 * (i - 1)));
}

static uint64_t echo(shmring_ring *tx, shmring_ring *rx, uint8_t *buf, size_t size)
{
	uint64_t count = 0;
	for (;;) {
		size_t len = recv_msg(rx, buf, size);
		if (len != size)
			die("echo: short message", 0);
		if (buf[0] == OP_STOP)
			return count;
		if (buf[0] != OP_IDLE)
			count++;
		send_msg(tx, buf, size);
	}
}

static uint64_t sink(shmring_ring *tx, shmring_ring *rx, uint8_t *buf, size_t size)
{
	uint64_t count = 0;
	for (;;) {
		shmring_message m;
		unsigned long iter = 0;
		int err;
		while ((err = shmring_try_peek(rx, &m)) == SHMRING_EEMPTY)
			spin_step(&iter, "peek");
		if (err)
			die("peek", err);
		if (m.len != size)
			die("sink: short message", 0);
		uint8_t op = ((const uint8_t *)m.data)[0];
		if ((err = shmring_release(rx, &m)))
			die("release", err);
		if (op == OP_STOP)
			break;
		count++;
	}
	memset(buf, 0, size);
	buf[0] = OP_ACK;
	put_count(buf, count);
	send_msg(tx, buf, size);
	return count;
}

static uint64_t source(shmring_ring *tx, uint8_t *buf, size_t size, int64_t duration_ns)
{
	uint64_t count = 0;
	memset(buf, 0, size);
	buf[0] = OP_DATA;
	int64_t end = wall_ns() + duration_ns;
	do {
		for (int i = 0; i < SOURCE_CHECK; i++)
			send_msg(tx, buf, size);
		count += SOURCE_CHECK;
	} while (wall_ns() < end);
	buf[0] = OP_ACK;
	put_count(buf, count);
	send_msg(tx, buf, size);
	return count;
}

int main(int argc, char **argv)
{
	if (argc != 9) {
		fprintf(stderr, "usage: cpeer echo|sink|source ARENA TX RX SIZE CPU DEADLINE_UNIX_NS DURATION_NS\n");
		return 2;
	}
	const char *mode = argv[1];
	size_t size = strtoull(argv[5], NULL, 10);
	int cpu = atoi(argv[6]);
	deadline_ns = strtoll(argv[7], NULL, 10);
	int64_t duration_ns = strtoll(argv[8], NULL, 10);
	parent = getppid();
	if (size < 8 || size > (1u << 22))
		die("bad size", 0);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set) != 0) {
			perror("cpeer: sched_setaffinity");
			return 1;
		}
	}
	shmring_arena *a;
	shmring_ring *tx, *rx;
	int err = shmring_arena_open(argv[2], NULL, &a);
	if (err)
		die("arena open", err);
	if ((err = shmring_ring_open(a, argv[3], SHMRING_KIND_SPSC, NULL, &tx)))
		die("open tx ring", err);
	if ((err = shmring_ring_open(a, argv[4], SHMRING_KIND_SPSC, NULL, &rx)))
		die("open rx ring", err);
	uint8_t *buf = calloc(1, size);
	if (!buf)
		die("out of memory", 0);
	buf[0] = OP_HELLO;
	send_msg(tx, buf, size);

	uint64_t count;
	if (strcmp(mode, "echo") == 0)
		count = echo(tx, rx, buf, size);
	else if (strcmp(mode, "sink") == 0)
		count = sink(tx, rx, buf, size);
	else if (strcmp(mode, "source") == 0)
		count = source(tx, buf, size, duration_ns);
	else
		die("unknown mode", 0);
	printf("{\"count\":%llu}\n", (unsigned long long)count);
	fflush(stdout);
	shmring_ring_close(rx);
	shmring_ring_close(tx);
	shmring_arena_close(a);
	free(buf);
	return 0;
}
