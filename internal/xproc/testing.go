package xproc

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PollTimeout bounds WaitFor.
const PollTimeout = 10 * time.Second

// StartT starts role with args as a child of the test, with output
// captured and the default deadline, or the test's own deadline if that is
// sooner. It fails the test if the child cannot start, and kills the child
// when the test ends if it is still running.
func StartT(t testing.TB, role string, args ...string) *Child {
	t.Helper()
	o := Options{Role: role, Args: args}
	if d, ok := testDeadline(t); ok && time.Until(d) < DefaultLifetime {
		o.Deadline = d
	}
	c, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return c
}

// testDeadline is t's deadline if t is a *testing.T that has one.
func testDeadline(t testing.TB) (time.Time, bool) {
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return dt.Deadline()
	}
	return time.Time{}, false
}

// WaitAll waits until every child in want has exited. It fails the test
// at once if a child in want or watch exits unsuccessfully (so a failed
// consumer does not leave it waiting for the producer it blocked), and
// kills the children in want that are still running and fails the test if
// deadline passes first.
func WaitAll(t testing.TB, deadline time.Time, want, watch []*Child) {
	t.Helper()
	for {
		all := true
		for _, c := range append(want[:len(want):len(want)], watch...) {
			if err := c.Err(); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range want {
			all = all && c.Exited()
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			var msg strings.Builder
			for _, c := range want {
				if err := c.WaitUntil(time.Now()); err != nil {
					msg.WriteString("\n" + err.Error())
				}
			}
			t.Fatal(msg.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Output waits until deadline for c to exit, as WaitAll does, and returns
// its captured stdout.
func Output(t testing.TB, c *Child, deadline time.Time) string {
	t.Helper()
	WaitAll(t, deadline, []*Child{c}, nil)
	return c.Stdout()
}

// WaitFor polls cond until it holds, failing the test if c exits first or
// PollTimeout passes.
func WaitFor(t testing.TB, what string, c *Child, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(PollTimeout)
	for !cond() {
		if c.Exited() {
			t.Fatalf("child %s exited while we waited for %s: %v\nstderr:\n%s", c, what, c.Err(), c.Stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", PollTimeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// IntField is Field parsed as an integer; it fails the test if out has
// none.
func IntField(t testing.TB, out, key string) int {
	t.Helper()
	v, err := strconv.Atoi(Field(out, key))
	if err != nil {
		t.Fatalf("child output has no integer %s: %v\n%s", key, err, out)
	}
	return v
}
