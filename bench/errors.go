package bench

import (
	"errors"
	"fmt"
	"os"
)

// ErrConfig reports a bad Config or flag value.
var ErrConfig = errors.New("bench: bad configuration")

// errShort is a message of the wrong size: a broken peer or transport.
var errShort = errors.New("bench: short message")

// errDeadline is an in-process conn's deadline passing, as the other
// transports report it.
var errDeadline = fmt.Errorf("bench: %w", os.ErrDeadlineExceeded)

// errDiverged is two broadcast subscribers answering differently: one of
// them missed or reordered a message.
var errDiverged = errors.New("bench: subscribers diverged")

// errPeerExited is a shared-memory conn's peer process exiting while the
// conn waits for it.
var errPeerExited = errors.New("bench: peer exited")

// errFloorIndex is a stream floor index out of range: the peer wrote
// something no correct peer writes.
var errFloorIndex = errors.New("bench: stream floor: index out of range")

// errFrame is a frame that is not the one due (its sequence number,
// checksum or opcode): a broken peer or transport.
var errFrame = errors.New("bench: wrong frame")

// errNoCPeer is the C peer (cpeer.go) missing from this run: no gcc, or
// no c/ sources to build it from. Its rows are skipped, not failed.
var errNoCPeer = errors.New("bench: no C peer")

// errCPeerBuild is the C peer's sources failing to compile.
var errCPeerBuild = errors.New("bench: C peer did not compile")
