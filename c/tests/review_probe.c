/* review_scratch.c: scratch regression probes from the C peer review
 * (internal/ctest/review_scratch_test.go, run only with SHMRING_REVIEW=1).
 * Each scenario exits 0 when the library behaves as its header promises. */
#define _GNU_SOURCE 1
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmring.h"

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *path = argv[1], *what = argv[2];
	shmring_arena *a;
	if (strcmp(what, "arena-timeout-max") == 0) {
		/* The header: ready_timeout_ns > 0 waits that long; INT64_MAX is "very long". */
		shmring_arena_opts o = {.ready_timeout_ns = INT64_MAX};
		int err = shmring_arena_open(path, &o, &a);
		printf("open %d\n", err);
		return err != 0;
	}
	int err = shmring_arena_open(path, NULL, &a);
	if (err) {
		printf("open %d\n", err);
		return 1;
	}
	shmring_ring *r;
	if ((err = shmring_ring_open(a, "r", 0, NULL, &r))) {
		printf("ring %d\n", err);
		return 1;
	}
	if (strcmp(what, "pop-timeout-max") == 0) {
		/* One message is there: the pop returns at once, but the deadline
		 * sum is computed first only when the try fails; push first. */
		char buf[64];
		size_t n;
		err = shmring_pop(r, buf, sizeof buf, &n, INT64_MAX - 1);
		printf("pop %d\n", err);
		return err != SHMRING_EEMPTY && err != 0;
	}
	if (strcmp(what, "double-close") == 0) {
		/* The header: "Idempotent on the handle". */
		shmring_ring_close(r);
		err = shmring_ring_close(r);
		printf("second close %d\n", err);
		shmring_arena_close(a);
		return 0;
	}
	if (strcmp(what, "use-after-close") == 0) {
		/* SHMRING_EHANDLECLOSED is documented; is it reachable? */
		shmring_ring_close(r);
		err = shmring_try_push(r, "x", 1);
		printf("push after close %d\n", err);
		shmring_arena_close(a);
		return err != SHMRING_EHANDLECLOSED;
	}
	if (strcmp(what, "fork-pin") == 0) {
		/* Produce (claim + role), then fork a child that only sleeps; the
		 * parent exits without closing. The Go side then asks whether the
		 * parent's entry is dead. */
		if ((err = shmring_try_push(r, "x", 1)))
			return 1;
		pid_t c = fork();
		if (c == 0) {
			fclose(stdout); /* the Go side waits for the pipe's end */
			close(1);
			close(2);
			sleep(4);
			_exit(0);
		}
		printf("child %d\n", (int)c);
		fflush(stdout);
		_exit(0);
	}
	return 2;
}
