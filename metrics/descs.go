package metrics

import "github.com/prometheus/client_golang/prometheus"

// The metric descriptors, declared once; Describe sends every one of them
// and Collect only builds constant metrics on them. doc.go has the table.

// Label sets.
var (
	arenaLabels      = []string{"arena"}
	ringLabels       = []string{"arena", "ring", "kind"}
	peerLabels       = []string{"arena", "ring", "kind", "peer", "pid", "role"}
	subscriberLabels = []string{"arena", "ring", "subscriber", "pid", "lossy"}
)

func desc(name, help string, labels []string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string(nil), labels...), extra...), nil)
}

var (
	arenaUp      = desc("shmring_arena_up", "1 if the arena could be opened read-only and its directory listed, 0 if not.", arenaLabels)
	arenaSize    = desc("shmring_arena_size_bytes", "Total size of the arena file.", arenaLabels)
	arenaUsed    = desc("shmring_arena_used_bytes", "Bytes of the arena allocated so far: header, directory and regions.", arenaLabels)
	arenaRegions = desc("shmring_arena_regions", "Regions in the arena's directory, rings and others.", arenaLabels)
	arenaCreated = desc("shmring_arena_created_timestamp_seconds", "When the arena was created, in seconds since the Unix epoch.", arenaLabels)

	ringUp          = desc("shmring_ring_up", "1 if the ring's header validated (ring.OpenView), 0 if not.", ringLabels)
	ringMsgsIn      = desc("shmring_ring_messages_in_total", "Messages pushed: the producer position (exact).", ringLabels)
	ringMsgsOut     = desc("shmring_ring_messages_out_total", "Messages consumed: the consumer position (exact); for a broadcast ring, messages delivered summed over its subscribers.", ringLabels)
	ringBytesIn     = desc("shmring_ring_bytes_in_total", "Payload bytes pushed, summed over the peer table (each live handle publishes at least every 64 operations).", ringLabels)
	ringBytesOut    = desc("shmring_ring_bytes_out_total", "Payload bytes consumed, summed over the peer table (each live handle publishes at least every 64 operations).", ringLabels)
	ringFull        = desc("shmring_ring_full_events_total", "Pushes that found the ring full.", ringLabels)
	ringEmpty       = desc("shmring_ring_empty_events_total", "Pops that found the ring empty.", ringLabels)
	ringSleeps      = desc("shmring_ring_futex_sleeps_total", "Times a handle went to sleep in a futex.", ringLabels)
	ringWakes       = desc("shmring_ring_futex_wakes_total", "Futex wake calls made for sleepers.", ringLabels)
	ringSkipped     = desc("shmring_ring_skipped_total", "MPMC: messages lost to producers killed (or timed out) between claim and commit; broadcast: holes a takeover published; records: reservations of gone handles made skip records.", ringLabels)
	ringRedelivered = desc("shmring_ring_redelivered_total", "MPMC: messages a consumer claimed and never released that were handed to another consumer.", ringLabels)
	ringLapped      = desc("shmring_ring_lapped_total", "Broadcast: times subscribers were lapped, summed over the attached subscribers.", ringLabels)
	ringMissed      = desc("shmring_ring_missed_messages_total", "Broadcast: messages lost to laps, summed over the attached subscribers.", ringLabels)
	ringDepth       = desc("shmring_ring_depth_messages", "Messages committed (or claimed) and not yet consumed; broadcast: what the slowest tethered subscriber has yet to read.", ringLabels)
	ringCapacity    = desc("shmring_ring_capacity_messages", "Slots of the ring: the most messages it holds (not for record rings, whose capacity is bytes).", ringLabels)
	ringCapBytes    = desc("shmring_ring_capacity_bytes", "Record rings: the data area's size in bytes.", ringLabels)
	ringUsedBytes   = desc("shmring_ring_used_bytes", "Record rings: bytes between the consumer and claim positions, records of every state included.", ringLabels)
	ringRecords     = desc("shmring_ring_records", "Record rings: records between the consumer and claim positions, by state (committed: in flight; busy: being written; skip; padding).", ringLabels, "state")
	ringLargest     = desc("shmring_ring_largest_record_bytes", "Record rings: the longest payload in flight (a busy record counts the bytes it reserved).", ringLabels)
	ringMirrored    = desc("shmring_ring_mirrored", "Record rings: 1 if the data area is mapped twice (records cross the end), 0 if padding records fill the wrap.", ringLabels)
	ringSlotSize    = desc("shmring_ring_slot_size_bytes", "The largest message the ring accepts.", ringLabels)
	ringPeers       = desc("shmring_ring_peers", "Peer table entries: live attached handles, and entries still held by dead ones.", ringLabels, "state")
	ringClosed      = desc("shmring_ring_closed", "1 once the stream was ended (CloseWrite, or an SPSC producer's Close).", ringLabels)
	ringWaiters     = desc("shmring_ring_waiters", "Futex registrations of sleeping consumers (not_empty) and producers (not_full).", ringLabels, "side")

	peerUp         = desc("shmring_peer_up", "1 while the peer entry's holder is alive, 0 for an entry left by a dead handle.", peerLabels)
	peerMsgsIn     = desc("shmring_peer_messages_in_total", "Messages the handle pushed (published at least every 64 operations).", peerLabels)
	peerMsgsOut    = desc("shmring_peer_messages_out_total", "Messages the handle consumed (published at least every 64 operations).", peerLabels)
	peerBytesIn    = desc("shmring_peer_bytes_in_total", "Payload bytes the handle pushed.", peerLabels)
	peerBytesOut   = desc("shmring_peer_bytes_out_total", "Payload bytes the handle consumed.", peerLabels)
	peerLastActive = desc("shmring_peer_last_active_timestamp_seconds", "The handle's last recorded activity, in seconds since the Unix epoch.", peerLabels)

	subUp        = desc("shmring_subscriber_up", "1 while the broadcast subscriber is alive, 0 for an entry left by a dead one.", subscriberLabels)
	subLag       = desc("shmring_subscriber_lag_messages", "Messages pushed that the subscriber has not read.", subscriberLabels)
	subDelivered = desc("shmring_subscriber_delivered_total", "Messages the subscriber read (published at least every 64 reads).", subscriberLabels)
	subBytes     = desc("shmring_subscriber_bytes_total", "Payload bytes the subscriber read.", subscriberLabels)
	subLapped    = desc("shmring_subscriber_lapped_total", "Times the subscriber was lapped (exact).", subscriberLabels)
	subMissed    = desc("shmring_subscriber_missed_messages_total", "Messages the subscriber lost to laps (exact).", subscriberLabels)

	scrapeErrors = desc("shmring_scrape_errors_total", "Files (dir: the directory itself), arenas and rings that could not be read, over the collector's life.", nil, "target")
)

// allDescs is what Describe sends.
var allDescs = []*prometheus.Desc{
	arenaUp, arenaSize, arenaUsed, arenaRegions, arenaCreated,
	ringUp, ringMsgsIn, ringMsgsOut, ringBytesIn, ringBytesOut, ringFull, ringEmpty,
	ringSleeps, ringWakes, ringSkipped, ringRedelivered, ringLapped, ringMissed,
	ringDepth, ringCapacity, ringSlotSize, ringPeers, ringClosed, ringWaiters,
	ringCapBytes, ringUsedBytes, ringRecords, ringLargest, ringMirrored,
	peerUp, peerMsgsIn, peerMsgsOut, peerBytesIn, peerBytesOut, peerLastActive,
	subUp, subLag, subDelivered, subBytes, subLapped, subMissed,
	scrapeErrors,
}
