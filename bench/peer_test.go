package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

// TestMain lets the test binary play the peer the harness re-executes.
func TestMain(m *testing.M) { xproc.Main(m, map[string]xproc.Role{PeerRole: Peer}) }

// TestPeerFailureReachesError starts a peer process asked for a transport
// it does not know and checks that the session's error says how it exited
// and quotes its stderr.
func TestPeerFailureReachesError(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	deadline := time.Now().Add(10 * time.Second)
	spec := peerSpec{Transport: "nonesuch", Mode: modeEcho, Size: 64, CPU: -1, Deadline: deadline.UnixNano()}
	s := &session{}
	if err := e.spawn(context.Background(), s, spec, nil, nil, deadline); err != nil {
		t.Fatal(err)
	}
	err := s.accept(make(chan conn)) // the peer exits before it could connect
	if err == nil {
		t.Fatal("a peer that failed was accepted")
	}
	for _, want := range []string{"peer exited before connecting: exit status 1: ", `nonesuch echo: unknown transport "nonesuch"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
