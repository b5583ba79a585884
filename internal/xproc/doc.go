// Package xproc runs a program's own binary again as a child process that
// plays a named role, so that a test (or a benchmark, or a soak) can put a
// producer and a consumer in two real processes with no helper binary to
// build, and so that no child ever outlives its deadline.
//
// # Roles
//
// A role is a func(args []string) error registered under a name. The parent
// starts a child with Start (or StartT in a test), naming the role and its
// arguments; both travel in the environment, so the child's command line
// stays free for the test framework. In the child, Main (from TestMain) or
// Dispatch (from a program's main) finds the role, runs it and exits: with
// status 0 if it returned nil, 1 with the error on stderr if it failed, 2 if
// the role or its arguments could not be read. Roles conventionally take
// "key=value" arguments (ParseArgs) and report results as "key=value"
// tokens on stdout (Field, IntField); a role whose instructions are a
// struct takes it as one JSON argument instead (SpecRole, SpecArgs).
//
// # Deadlines
//
// Every child has a deadline (Options.Deadline, by default DefaultLifetime
// after Start) and a context: when either ends first, the child is killed,
// and Wait reports that it was killed rather than how. WaitUntil waits less
// long and kills the child at its own earlier deadline. StartT also kills
// the child when the test ends, so nothing a test starts survives it, and
// WaitAll fails a test at once when any child it watches fails, so a dead
// consumer does not leave the test waiting for the producer it blocked.
//
// Start takes no *testing.T: a program that is not a test (bench re-executes
// itself as a peer with inherited sockets, Options.ExtraFiles) uses Start,
// Wait and Dispatch; the functions taking a testing.TB are conveniences
// for tests built on them.
//
// # Concurrency
//
// Start, StartT and Command may be called from parallel goroutines and
// tests; each child is its own process. A Child's methods are safe for
// concurrent use (its captured output is read under a lock while the
// child still writes it). Main and Dispatch are called once, at the start
// of the program. There is no shared memory here, so no memory-ordering
// contract: processes meet only through what their roles open.
package xproc
