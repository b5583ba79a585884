package bench

import "time"

// Report is the result of one harness run. Every ratio in it compares two
// measurements taken in this run.
type Report struct {
	Machine    Machine         `json:"machine"`
	Settings   Settings        `json:"settings"`
	Latency    []LatencyRow    `json:"latency"`
	Throughput []ThroughputRow `json:"throughput"`
	// Frames and FrameLatency are the record ring's rows (frames.go).
	Frames       []FrameRow        `json:"frames,omitempty"`
	FrameLatency []FrameLatencyRow `json:"frame_latency,omitempty"`
	Targets      []Target          `json:"targets"`
	Warnings     []string          `json:"warnings,omitempty"`
	Started      time.Time         `json:"started"`
	Elapsed      float64           `json:"elapsed_seconds"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	LogicalCPU int    `json:"logical_cpus"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Kernel     string `json:"kernel"`
	// CPUs are the two CPUs the sides were pinned to (-1 if not pinned).
	CPUs [2]int `json:"cpus"`
}

// Settings echoes the configuration that produced the report.
type Settings struct {
	LatencyDuration    float64  `json:"latency_seconds"`
	ThroughputDuration float64  `json:"throughput_seconds"`
	LatencySize        int      `json:"latency_message_bytes"`
	Sizes              []int    `json:"throughput_sizes"`
	Only               []string `json:"only,omitempty"`
}

// LatencyRow is one mechanism's round-trip latency (one message each way),
// in nanoseconds, from an HdrHistogram of every sample after warm-up.
type LatencyRow struct {
	Mechanism string  `json:"mechanism"`
	Samples   int64   `json:"samples"`
	Mean      float64 `json:"mean_ns"`
	P50       float64 `json:"p50_ns"`
	P90       float64 `json:"p90_ns"`
	P99       float64 `json:"p99_ns"`
	P999      float64 `json:"p99_9_ns"`
	P9999     float64 `json:"p99_99_ns"`
	Max       float64 `json:"max_ns"`
	// Distribution is the percentile curve for plots.
	Distribution []Point `json:"distribution"`
	// FloorP50 is the p50 of the cache-line floor measured right before
	// this row (shmring rows only; 0 otherwise), and VsFloor this row's
	// p50 over it: pair-by-pair, so a change in where the host placed the
	// vCPUs between rows does not distort the ratio.
	FloorP50 float64 `json:"floor_p50_ns,omitempty"`
	VsFloor  float64 `json:"vs_floor,omitempty"`
	// VsSPSC is this row's p50 over shmring SPSC busy-spin's p50.
	VsSPSC float64 `json:"vs_spsc_spin,omitempty"`
	// Batch means (batch.go): BatchSize round trips timed with one clock
	// read before and one after, over BatchSize, Batches times; their
	// minimum, 10th, 50th and 90th percentiles and maximum. The median,
	// BatchMeanP50, is the row's figure for ratios: it carries no clock
	// read per round trip. 0 when not measured.
	BatchSize    int     `json:"batch_size,omitempty"`
	Batches      int     `json:"batches,omitempty"`
	BatchMeanMin float64 `json:"batch_mean_min_ns,omitempty"`
	BatchMeanP10 float64 `json:"batch_mean_p10_ns,omitempty"`
	BatchMeanP50 float64 `json:"batch_mean_p50_ns,omitempty"`
	BatchMeanP90 float64 `json:"batch_mean_p90_ns,omitempty"`
	BatchMeanMax float64 `json:"batch_mean_max_ns,omitempty"`
	// FloorBatchMean is the median batch mean of the cache-line floor
	// measured right before this row (where FloorP50 is set), and
	// VsFloorMean this row's median batch mean over it: the ratio the
	// targets use.
	FloorBatchMean float64 `json:"floor_batch_mean_ns,omitempty"`
	VsFloorMean    float64 `json:"vs_floor_batch_mean,omitempty"`
	// FutexFloorBatchMean is the median batch mean of the last futex floor
	// row (the bare futex ping-pong) measured before this blocking row,
	// and VsFutexFloor this row's median batch mean over it.
	FutexFloorBatchMean float64 `json:"futex_floor_batch_mean_ns,omitempty"`
	VsFutexFloor        float64 `json:"vs_futex_floor_batch_mean,omitempty"`
	// GoBatchMean is the median batch mean of a C peer row's Go twin, the
	// same ping-pong with the Go peer measured right before it (cpeer.go),
	// and VsGo this row's median batch mean over it.
	GoBatchMean float64 `json:"go_twin_batch_mean_ns,omitempty"`
	VsGo        float64 `json:"vs_go_batch_mean,omitempty"`
	// IdleCPU is the CPU time the waiting peer used during one idle second
	// (blocking strategies only; -1 when not measured).
	IdleCPU float64 `json:"idle_cpu_seconds_per_second"`
	Error   string  `json:"error,omitempty"`
}

// Point is one point of a latency distribution.
type Point struct {
	Percentile float64 `json:"percentile"`
	Nanos      float64 `json:"ns"`
}

// ThroughputRow is one mechanism's one-way throughput at one message size.
type ThroughputRow struct {
	Mechanism  string  `json:"mechanism"`
	Size       int     `json:"message_bytes"`
	Messages   int64   `json:"messages"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	MBPerSec   float64 `json:"mb_per_sec"`
	// VsSPSC is shmring SPSC busy-spin's msgs/s at this size over this
	// row's: how many times faster shmring is.
	VsSPSC float64 `json:"spsc_speedup,omitempty"`
	// Runs is how many alternated runs the row combines (the stream floor
	// and SPSC busy-spin, measured in turn; 0 for a single run), and
	// RunMsgsPerSec each run's rate in order. MsgsPerSec and MBPerSec are
	// then the median run's; Messages and Seconds are the runs' totals.
	Runs          int       `json:"runs,omitempty"`
	RunMsgsPerSec []float64 `json:"run_msgs_per_sec,omitempty"`
	// VsStreamFloor is this row's msgs/s over the stream floor's at the
	// same size, for SPSC busy-spin, whose runs alternate with the floor's.
	VsStreamFloor float64 `json:"vs_stream_floor,omitempty"`
	// GoMsgsPerSec is the msgs/s of a C peer row's Go twin, the same
	// stream with the Go peer alternated with it (cpeer.go), and VsGo
	// this row's msgs/s over it.
	GoMsgsPerSec float64 `json:"go_twin_msgs_per_sec,omitempty"`
	VsGo         float64 `json:"vs_go,omitempty"`
	Error        string  `json:"error,omitempty"`
}

// FrameRow is one mechanism's one-way throughput of a frame mix: frames
// of sizes drawn from the mix, the producer writing and the consumer
// checksumming each whole frame.
type FrameRow struct {
	Mechanism string `json:"mechanism"`
	Mix       string `json:"mix"`
	// InFlight is the frames the fixed-slot ring holds and the record
	// ring is sized for (frames.go).
	InFlight int `json:"in_flight"`
	// RingBytes is the frame ring's region size (0 for a socket), and
	// VsSPSCMemory it over the fixed-slot SPSC ring's for the same mix.
	RingBytes    int64   `json:"ring_bytes"`
	VsSPSCMemory float64 `json:"vs_spsc_fixed_memory,omitempty"`
	Frames       int64   `json:"frames"`
	Seconds      float64 `json:"seconds"`
	FramesPerSec float64 `json:"frames_per_sec"`
	MBPerSec     float64 `json:"mb_per_sec"`
	MeanFrame    float64 `json:"mean_frame_bytes"`
	// VsSPSC is this row's MB/s over the fixed-slot SPSC ring's.
	VsSPSC float64 `json:"vs_spsc_fixed,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// FrameLatencyRow is one ring's frame hand-off at one frame size, in
// nanoseconds: commit to peek (one way, the wall clocks of the two
// processes) and commit to the consumer's acknowledgement (the round
// trip, one process's monotonic clock).
type FrameLatencyRow struct {
	Mechanism string  `json:"mechanism"`
	Size      int     `json:"frame_bytes"`
	RingBytes int64   `json:"ring_bytes"`
	Samples   int64   `json:"samples"`
	OneWayP50 float64 `json:"commit_to_peek_p50_ns"`
	OneWayP90 float64 `json:"commit_to_peek_p90_ns"`
	OneWayP99 float64 `json:"commit_to_peek_p99_ns"`
	RTTP50    float64 `json:"rtt_p50_ns"`
	RTTP90    float64 `json:"rtt_p90_ns"`
	RTTP99    float64 `json:"rtt_p99_ns"`
	RTTMax    float64 `json:"rtt_max_ns"`
	// VsSPSC is this row's commit-to-peek p50 over the fixed-slot SPSC
	// ring's at the same size.
	VsSPSC float64 `json:"vs_spsc_fixed,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Target is one of the performance targets, checked against this run:
// Measured is Value over Baseline, two measurements of the run. A target
// with Info set is a figure reported beside the targets, not a target: it
// is neither met nor missed.
type Target struct {
	Name     string  `json:"name"`
	Want     string  `json:"want"`
	Measured float64 `json:"measured"`
	Met      bool    `json:"met"`
	Note     string  `json:"note,omitempty"`
	Value    float64 `json:"value,omitempty"`
	Baseline float64 `json:"baseline,omitempty"`
	Info     bool    `json:"info,omitempty"`
}
