// Package procfs reads the few facts about processes that shmring's
// liveness tests need from Linux's /proc: a process's start time (which,
// with its pid, names it uniquely, since pids are reused) and whether it is
// a zombie. Everything it parses comes from the kernel, but a missing or
// unreadable /proc (another platform, hidepid) is an answer too: ok false.
package procfs
