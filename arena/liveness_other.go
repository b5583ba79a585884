//go:build !linux

package arena

import "os"

// Without open-file-description locks, liveness locks are unsupported;
// callers fall back to another test.

func (a *Arena) holdFile() (*os.File, error)          { return nil, ErrUnsupported }
func (a *Arena) lockByte(off int64) error             { return ErrUnsupported }
func (a *Arena) unlockByte(off int64) error           { return nil }
func (a *Arena) testBytes(off, n int64) (bool, error) { return false, ErrUnsupported }
func (a *Arena) closeHold() error                     { return nil }
func checkNotInUse(p string) error                    { return nil }
