//go:build race

package main

// raceEnabled: the race detector slows megabyte frame runs past their
// deadlines (TestBenchOnlyRecords).
const raceEnabled = true
