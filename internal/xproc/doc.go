// Package xproc runs cross-process tests: the test binary re-executes itself
// as a child that plays a named role, so a test can put a producer and a
// consumer in two real processes with no helper binary to build.
//
// A package that uses it calls Main from TestMain; a test then starts
// children with Command. Roles receive their arguments as strings and report
// failure by returning an error, which the child prints on stderr before
// exiting with status 1.
//
// # Concurrency
//
// Command and Run may be called from parallel tests; each child is its own
// process. Main must be called once, from TestMain.
package xproc
