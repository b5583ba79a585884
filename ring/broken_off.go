//go:build !shmring_broken

package ring

// brokenSkipSeqCheck is false in every real build; see broken_on.go.
const brokenSkipSeqCheck = false
