//go:build !linux

package membarrier

func register() error { return ErrUnsupported }

func barrier() error { return ErrUnsupported }
