// Package boundary has no code: its tests enforce the boundaries that the
// rest of the repository keeps, so that they hold by test and not only in
// prose (cilium/ebpf does the same with a linter rule on x/sys/unix):
//
//   - only futex/ issues SYS_FUTEX;
//   - only arena/ maps or unmaps memory;
//   - a program that imports ring/ gets, besides the standard library,
//     only this module's own packages and the named low-level
//     dependencies (golang.org/x/sys, mmap-go, cpuid): no test, plotting,
//     metrics or messaging library reaches its module graph through ring.
package boundary
