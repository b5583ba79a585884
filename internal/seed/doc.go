// Package seed gives randomised tests their seed: a random one, or the one
// in the SHMRING_SEED environment variable, logged either way so that a
// failing run can be replayed. Every package's tests use it, so one
// variable replays any of them:
//
//	SHMRING_SEED=12345 go test -run TestStressMPMC ./ring
//
// A seed replays the random choices a test makes (messages, operations,
// geometry); the interleavings of goroutines and processes are the
// scheduler's.
//
// # Concurrency
//
// Test may be called from parallel tests. It only reads the environment.
package seed
