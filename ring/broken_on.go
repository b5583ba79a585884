//go:build shmring_broken

package ring

// brokenSkipSeqCheck deliberately breaks the MPMC consumer (test builds
// with -tags shmring_broken only): claimDeq also claims a slot whose Seq
// says it is free (pos), not yet published (pos+1). TestHarnessCatchesBrokenRing
// proves the model and stress tests catch it.
const brokenSkipSeqCheck = true
