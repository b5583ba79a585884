// Package metrics exports the counters of shmring rings to Prometheus.
package metrics
