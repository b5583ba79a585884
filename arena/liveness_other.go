//go:build !linux

package arena

import "os"

// Without open-file-description locks, liveness locks are unsupported;
// callers fall back to another test.

func (a *Arena) holdFile() (*os.File, error)          { return nil, errNoLiveLocks }
func (a *Arena) lockByte(off int64) error             { return errNoLiveLocks }
func (a *Arena) unlockByte(off int64) error           { return nil }
func (a *Arena) testBytes(off, n int64) (bool, error) { return false, errNoLiveLocks }
func (a *Arena) closeHold() error                     { return nil }
func checkNotInUse(p string) error                    { return nil }
