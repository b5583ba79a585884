// Package metrics exports the counters of shmring rings to Prometheus: a
// prometheus.Collector (New) that, at each scrape, opens the arenas it is
// given (or every arena in a directory) read-only, reads every ring through
// ring.OpenView, and reports what it found as constant metrics.
//
// It lives in a module of its own (github.com/shmring/shmring/metrics) so
// that an application importing ring/ never inherits client_golang; the
// `shmring metrics` command serves it over HTTP.
//
// # What a scrape does
//
// Nothing is cached between scrapes: an arena removed or recreated is never
// served stale. For each arena, a scrape
//
//   - reads the header with arena.Peek (one pread; no wait): with Config.Arenas
//     empty, every file of Config.Dir (default /dev/shm) is tried, and those
//     that cannot be arenas are skipped silently: directories, symlinks and
//     other non-regular files, blank files, files without the arena magic
//     (arena.ErrNotArena), and other users' files that Peek's ownership
//     checks refuse (a file of the caller's own that they refuse, one
//     writable by its group say, is reported). An arena named in
//     Config.Arenas is reported even when it is missing or refused;
//   - opens it with arena.Open(path, arena.ReadOnly(), arena.WithReadyTimeout(
//     Config.ReadyTimeout)), so the exporter can never change a byte of it;
//   - opens a ring.View on each ring region (one OpenView per ring), reads
//     Stats, Peers, Subscribers and Config from it, and closes the views and
//     the arena before returning.
//
// A file or ring that cannot be read does not fail the scrape: it is
// reported as shmring_arena_up 0 or shmring_ring_up 0, the
// shmring_scrape_errors_total counter of its target goes up, and
// Config.OnError is told why. An arena whose header is not marked ready (its
// creator is still initialising it, or died doing so), and a ring region whose
// header is not marked ready, are reported down at once rather than waited
// for, so a crashed creator costs a scrape nothing; a corrupt arena header
// costs at most Config.ReadyTimeout (Open reads it again until then, in case
// it is a racing creator's). Arenas are scraped a few at a time in parallel.
//
// # Metrics
//
// Names follow the Prometheus conventions: base units (bytes, seconds,
// messages), _total for counters. Labels: arena is the file's base name
// when the arena was discovered in Config.Dir, and the name or path exactly
// as given in Config.Arenas otherwise; ring is the region name; kind is
// "spsc", "mpmc", "broadcast" or "records".
//
//	shmring_arena_up{arena}                          1 if the arena could be opened and listed
//	shmring_arena_size_bytes{arena}                  total size of the file
//	shmring_arena_used_bytes{arena}                  header, directory and regions allocated so far
//	shmring_arena_regions{arena}                     regions in the directory (rings and others)
//	shmring_arena_created_timestamp_seconds{arena}   when the arena was created
//
//	shmring_ring_up{arena,ring,kind}                 1 if the ring's header validated
//	shmring_ring_messages_in_total                   messages pushed (the producer position: exact)
//	shmring_ring_messages_out_total                  messages consumed (consumer position: exact);
//	                                                 broadcast: delivered, summed over subscribers
//	shmring_ring_bytes_in_total, _bytes_out_total    payload bytes pushed and consumed
//	shmring_ring_full_events_total                   pushes that found the ring full
//	shmring_ring_empty_events_total                  pops that found the ring empty
//	shmring_ring_futex_sleeps_total, _wakes_total    futex sleeps and wake calls
//	shmring_ring_skipped_total                       mpmc: messages lost to killed producers;
//	                                                 broadcast: holes left by replaced producers;
//	                                                 records: reservations of gone handles skipped
//	shmring_ring_redelivered_total                   mpmc: messages handed to another consumer
//	shmring_ring_lapped_total                        broadcast: laps, summed over subscribers
//	shmring_ring_missed_messages_total               broadcast: messages lost to laps, summed
//	shmring_ring_depth_messages                      messages committed and not yet consumed
//	shmring_ring_capacity_messages                   slots (not for record rings)
//	shmring_ring_slot_size_bytes                     the largest message
//	shmring_ring_peers{state="live"|"dead"}          attached handles, and entries of dead ones
//	shmring_ring_closed                              1 once the stream was ended
//	shmring_ring_waiters{side="not_empty"|"not_full"} futex registrations of sleepers
//
// Record rings (kind "records"; their messages are records, their
// capacity bytes) also export:
//
//	shmring_ring_capacity_bytes                      the data area's size
//	shmring_ring_used_bytes                          bytes between the consumer and claim positions
//	shmring_ring_records{state="committed"|"busy"|"skip"|"padding"}  the records in them
//	shmring_ring_largest_record_bytes                the longest payload in flight
//	shmring_ring_mirrored                            1 if the data area is mapped twice
//
//	shmring_peer_up{arena,ring,kind,peer,pid,role}   1 while the entry's holder is alive
//	shmring_peer_messages_in_total, _out_total       the handle's messages pushed and consumed
//	shmring_peer_bytes_in_total, _bytes_out_total    and their bytes
//	shmring_peer_last_active_timestamp_seconds       the handle's last recorded activity
//
//	shmring_subscriber_up{arena,ring,subscriber,pid,lossy}
//	shmring_subscriber_lag_messages                  messages pushed that it has not read
//	shmring_subscriber_delivered_total               messages it read
//	shmring_subscriber_bytes_total                   bytes it read
//	shmring_subscriber_lapped_total                  times it was lapped
//	shmring_subscriber_missed_messages_total         messages it lost to laps
//
//	shmring_scrape_errors_total{target="dir"|"arena"|"ring"}  files, arenas and rings that failed
//
// peer is the entry's index in the ring's peer table, subscriber a
// broadcast subscriber's; role is ring.Role's String ("producer",
// "consumer", "producer+consumer", "subscriber", "none" before the handle's
// first operation). Every occupied entry is listed, live or dead, until a new
// handle reclaims it; a broadcast subscriber's entry is listed among the peers
// too (without the _in counters) as well as among the subscribers. The
// per-kind counters (skipped, redelivered, lapped, missed) are exported
// only for the kinds they apply to.
//
// The counters are read from shared memory as ring.Stats documents them:
// messages_in and messages_out (but broadcast's messages_out, and a
// record ring's, which are its entries' record counts) are positions and
// exact; the others are summed over the peer table, into which every
// operation publishes its counts before it returns, so they do not lag. A counter summed over entries can go down when
// a dead handle's entry is reclaimed or a subscriber leaves; Prometheus's
// rate and increase treat that as a counter reset.
//
// # Concurrency
//
// A Collector is safe for concurrent use: concurrent scrapes each open
// their own read-only handles. It shares no memory with the rings but through
// those handles, and only loads from it (ring.View), so there is no
// memory-ordering contract of its own.
//
// A process that truncates an arena file while a scrape has it mapped can
// still make the scrape's reads fault (arena's Truncation section): keep
// arena files private to the processes that share them.
package metrics
