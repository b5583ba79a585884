/* futex.c: the only file that issues SYS_futex. Shared futexes (no
 * FUTEX_PRIVATE_FLAG): the kernel keys them by inode and offset, so
 * processes mapping the arena at different addresses meet on them. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int futex_wait_shared(void *addr, uint32_t val, int64_t timeout_ns)
{
	int64_t deadline = deadline_after(timeout_ns);
	for (;;) {
		int64_t left = deadline - mono_now();
		if (left < 0)
			left = 0; /* still compare once: a changed word returns at once */
		struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
		long rc = syscall(SYS_futex, addr, FUTEX_WAIT, val, &ts, NULL, 0);
		if (rc == 0 || errno == EAGAIN)
			return 0;
		if (errno == ETIMEDOUT)
			return SHMRING_ETIMEDOUT;
		if (errno != EINTR)
			return SHMRING_ESYS;
	}
}

int futex_wake_shared(void *addr, int n)
{
	if (n <= 0)
		n = INT_MAX;
	long rc = syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
	return rc < 0 ? -1 : (int)rc;
}
