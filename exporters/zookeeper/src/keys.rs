//! What each mntr key becomes: its metric name, type and HELP, and for ZooKeeper's "summary sets" (one series of
//! keys per znode namespace or per learner) the label that replaces the varying part of the name.
//!
//! Names are those of the popular mntr exporter (`zk_<key>`, `-` and `.` turned into `_`), so its dashboards keep
//! working; the per-namespace and per-learner keys are the one place we differ on purpose (docs/compatibility.md).

use std::borrow::Cow;

use oxporter_core::MetricType;

/// How one mntr key is exposed.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    /// Metric name, e.g. `zk_avg_latency` or `zk_avg_read_per_namespace`.
    pub name: String,
    /// Counter, gauge, or untyped for keys this exporter does not know.
    pub metric_type: MetricType,
    /// HELP text.
    pub help: Cow<'static, str>,
    /// For summary-set keys: `("namespace", "<znode>")` or `("learner", "<sid>")`.
    pub label: Option<(&'static str, String)>,
}

use MetricType::{Counter as C, Gauge as G};

/// Keys that are single values. Checked before the summary patterns, because some (`max_latency`,
/// `min_client_response_size`, `max_file_descriptor_count`) look like summary statistics but are not.
const PLAIN: &[(&str, MetricType, &str)] = &[
    ("avg_latency", G, "Average request latency in milliseconds, since start or the last statistics reset."),
    ("min_latency", G, "Minimum request latency in milliseconds, since start or the last statistics reset."),
    ("max_latency", G, "Maximum request latency in milliseconds, since start or the last statistics reset."),
    ("packets_received", C, "Packets received from clients."),
    ("packets_sent", C, "Packets sent to clients."),
    ("num_alive_connections", G, "Client connections open now."),
    ("outstanding_requests", G, "Requests queued and not yet answered."),
    ("znode_count", G, "Znodes in the data tree."),
    ("watch_count", G, "Watches set by clients."),
    ("watch_bytes", G, "Approximate bytes used by watches."),
    ("ephemerals_count", G, "Ephemeral znodes."),
    ("approximate_data_size", G, "Approximate size of the data tree, in bytes."),
    ("open_file_descriptor_count", G, "File descriptors the ZooKeeper process has open."),
    ("max_file_descriptor_count", G, "Most file descriptors the ZooKeeper process may open."),
    ("global_sessions", G, "Global sessions."),
    ("local_sessions", G, "Local sessions."),
    ("uptime", G, "Time since the server started, in milliseconds."),
    ("leader_uptime", G, "Time since this server became leader, in milliseconds (leader only)."),
    ("quorum_size", G, "Voting members of the ensemble, as this server sees them."),
    ("learners", G, "Learners (followers and observers) connected to this leader (leader only)."),
    ("followers", G, "Followers connected to this leader (leader only, ZooKeeper 3.4)."),
    ("synced_followers", G, "Followers in sync with this leader (leader only)."),
    ("synced_non_voting_followers", G, "Non-voting followers in sync with this leader (leader only)."),
    ("synced_observers", G, "Observers in sync with this leader (leader only)."),
    ("pending_syncs", G, "Learners waiting to sync with this leader (leader only)."),
    ("last_proposal_size", G, "Size of the last proposal, in bytes (leader only)."),
    ("min_proposal_size", G, "Smallest proposal since start, in bytes (leader only)."),
    ("max_proposal_size", G, "Largest proposal since start, in bytes (leader only)."),
    ("last_client_response_size", G, "Size of the last response to a client, in bytes."),
    ("min_client_response_size", G, "Smallest response to a client, in bytes."),
    ("max_client_response_size", G, "Largest response to a client, in bytes."),
    ("connection_drop_probability", G, "Probability that a new connection is dropped by connection throttling."),
    ("outstanding_tls_handshake", G, "TLS handshakes in progress."),
    ("non_mtls_remote_conn_count", C, "Remote client connections made without mutual TLS."),
    ("non_mtls_local_conn_count", C, "Local client connections made without mutual TLS."),
    ("auth_failed_count", C, "Failed client authentications."),
    ("fsync_threshold_exceed_count", C, "Transaction log fsyncs slower than fsync.warningthresholdms."),
    ("proposal_count", C, "Proposals made by this server as leader."),
    ("throttled_ops", C, "Requests dropped by request throttling."),
    ("stale_requests", C, "Requests whose client had gone before they were processed."),
    ("stale_requests_dropped", C, "Stale requests dropped."),
    ("stale_replies", C, "Replies dropped because their client had gone."),
    ("large_requests_rejected", C, "Requests rejected for exceeding the large request limit."),
    ("insecure_admin_count", C, "AdminServer requests made over plain HTTP while HTTPS is available."),
    ("connection_rejected", C, "Connections rejected by connection throttling."),
    ("connection_request_count", C, "Connection requests received."),
    ("connection_drop_count", C, "Connections dropped."),
    ("connection_revalidate_count", C, "Connections revalidated after a leader change."),
    ("revalidate_count", C, "Session revalidations."),
    ("cnxn_closed_without_zk_server_running", C, "Connections closed because the server was not running."),
    ("sessionless_connections_expired", C, "Connections closed before a session was established."),
    ("stale_sessions_expired", C, "Stale sessions expired."),
    ("looking_count", C, "Times this server entered leader election (LOOKING)."),
    ("dead_watchers_queued", C, "Dead watchers queued for cleaning."),
    ("dead_watchers_cleared", C, "Dead watchers cleaned."),
    ("add_dead_watcher_stall_time", C, "Time spent stalled adding dead watchers, in milliseconds."),
    ("learner_proposal_received_count", C, "Proposals this learner received from the leader."),
    ("learner_commit_received_count", C, "Commits this learner received from the leader."),
    ("digest_mismatches_count", C, "Data tree digest mismatches found."),
    ("response_packet_cache_hits", C, "Response cache hits for getData."),
    ("response_packet_cache_misses", C, "Response cache misses for getData."),
    ("response_packet_get_children_cache_hits", C, "Response cache hits for getChildren."),
    ("response_packet_get_children_cache_misses", C, "Response cache misses for getChildren."),
    ("bytes_received_count", C, "Bytes received from clients."),
    ("response_bytes", C, "Bytes sent to clients in responses."),
    ("request_throttle_wait_count", C, "Requests that waited in the request throttler."),
    ("requests_not_forwarded_to_commit_processor", C, "Requests not forwarded to the commit processor."),
    ("ensemble_auth_success", C, "Successful ensemble-name authentications."),
    ("ensemble_auth_fail", C, "Failed ensemble-name authentications."),
    ("ensemble_auth_skip", C, "Client authentications with no ensemble name to check."),
    ("prep_processor_request_queued", C, "Requests queued in the prep processor."),
    ("sync_processor_request_queued", C, "Requests queued in the sync processor."),
    ("outstanding_changes_queued", C, "Changes queued in the outstanding changes list."),
    ("outstanding_changes_removed", C, "Changes removed from the outstanding changes list."),
    ("request_commit_queued", C, "Requests queued for commit."),
    ("diff_count", C, "Learner syncs done with a diff (leader only)."),
    ("snap_count", C, "Learner syncs done with a full snapshot (leader only)."),
    ("commit_count", C, "Commits performed."),
    (
        "quit_leading_due_to_disloyal_voter",
        C,
        "Times this leader stepped down because a voter followed another leader.",
    ),
    ("unrecoverable_error_count", C, "Unrecoverable errors."),
    ("unsuccessful_handshake", C, "Failed client handshakes."),
    ("skip_learner_request_to_next_processor_count", C, "Learner requests passed straight to the next processor."),
    ("tls_handshake_exceeded", C, "TLS handshakes refused for exceeding the handshake limit."),
];

/// Summary statistics ZooKeeper prints as `zk_<stat>_<name>` and their types.
const STATS: &[(&str, MetricType, &str)] = &[
    ("avg", G, "Average"),
    ("min", G, "Minimum"),
    ("max", G, "Maximum"),
    ("cnt", C, "Number of observations"),
    ("sum", C, "Sum"),
    ("p50", G, "Median (50th percentile)"),
    ("p95", G, "95th percentile"),
    ("p99", G, "99th percentile"),
    ("p999", G, "99.9th percentile"),
];

/// Summary sets: one summary per namespace (top-level znode) or per learner (server id). The varying part sits
/// between the statistic and the name: `zk_avg_<namespace>_read_per_namespace`, `zk_cnt_<sid>_ack_latency`.
const SETS: &[(&str, &str, &str)] = &[
    ("read_per_namespace", "namespace", "bytes read per request, by top-level znode (namespace)"),
    ("write_per_namespace", "namespace", "bytes written per request, by top-level znode (namespace)"),
    ("learner_handler_qp_size", "learner", "quorum packets queued in the leader's handler of each learner"),
    ("learner_handler_qp_time_ms", "learner", "time quorum packets wait in the leader's handler of each learner (ms)"),
    ("ack_latency", "learner", "time until each learner acknowledged a proposal (ms)"),
];

/// What the summaries measure (the `<name>` of `zk_<stat>_<name>`).
const SUMMARIES: &[(&str, &str)] = &[
    ("fsynctime", "time to fsync the transaction log (ms)"),
    ("snapshottime", "time to write a snapshot (ms)"),
    ("dbinittime", "time to load the database at start-up (ms)"),
    ("readlatency", "read request latency inside the server (ms)"),
    ("updatelatency", "write request latency inside the server, for this server's clients (ms)"),
    ("propagation_latency", "time from the leader seeing a write until the learners have it (ms)"),
    ("follower_sync_time", "time a follower took to sync with the leader (ms)"),
    ("observer_sync_time", "time an observer took to sync with the leader (ms)"),
    ("election_time", "leader election time (ms)"),
    ("connection_token_deficit", "connection throttling token deficit"),
    ("node_created_watch_count", "watches fired per node-created event"),
    ("node_deleted_watch_count", "watches fired per node-deleted event"),
    ("node_changed_watch_count", "watches fired per node-changed event"),
    ("node_children_watch_count", "watches fired per children-changed event"),
    ("dead_watchers_cleaner_latency", "dead watcher cleaning latency (ms)"),
    ("prep_processor_queue_time_ms", "time requests wait in the prep processor queue (ms)"),
    ("prep_processor_queue_size", "prep processor queue length"),
    ("prep_process_time", "time spent in the prep processor (ms)"),
    ("close_session_prep_time", "time to prepare a close-session request (ms)"),
    ("requests_in_session_queue", "requests in a session's queue"),
    ("pending_session_queue_size", "sessions with requests pending"),
    ("reads_after_write_in_session_queue", "reads queued right after a write in a session queue"),
    ("reads_issued_from_session_queue", "reads issued from a session queue at once"),
    ("session_queues_drained", "session queues drained per commit processor round"),
    ("time_waiting_empty_pool_in_commit_processor_read_ms", "time the commit processor waited for idle workers (ms)"),
    ("write_batch_time_in_commit_processor", "time spent on a batch of writes in the commit processor (ms)"),
    ("concurrent_request_processing_in_commit_processor", "requests processed at once in the commit processor"),
    ("read_commit_proc_req_queued", "reads queued in the commit processor"),
    ("write_commit_proc_req_queued", "writes queued in the commit processor"),
    ("commit_commit_proc_req_queued", "commits queued in the commit processor"),
    ("read_commit_proc_issued", "reads issued by the commit processor per round"),
    ("write_commit_proc_issued", "writes issued by the commit processor per round"),
    ("read_commitproc_time_ms", "time a read spends in the commit processor (ms)"),
    ("write_commitproc_time_ms", "time a write spends in the commit processor (ms)"),
    ("local_write_committed_time_ms", "commit processor time of committed writes from this server (ms)"),
    ("server_write_committed_time_ms", "commit processor time of committed writes from other servers (ms)"),
    ("commit_process_time", "time to process a commit (ms)"),
    ("om_proposal_process_time_ms", "observer master proposal processing time (ms)"),
    ("om_commit_process_time_ms", "observer master commit processing time (ms)"),
    ("read_final_proc_time_ms", "time a read spends in the final request processor (ms)"),
    ("write_final_proc_time_ms", "time a write spends in the final request processor (ms)"),
    ("proposal_latency", "time from a proposal's creation until it is committed (ms)"),
    ("proposal_ack_creation_latency", "time from a proposal until its acknowledgement is created (ms)"),
    ("commit_propagation_latency", "time for a commit to reach the learners (ms)"),
    ("quorum_ack_latency", "time until a quorum acknowledged a proposal (ms)"),
    ("proposal_process_time", "time to process a proposal (ms)"),
    ("startup_txns_loaded", "transactions replayed at start-up"),
    ("startup_txns_load_time", "time to replay transactions at start-up (ms)"),
    ("startup_snap_load_time", "time to load the snapshot at start-up (ms)"),
    ("sync_processor_queue_and_flush_time_ms", "time from queueing in the sync processor until flushed (ms)"),
    ("sync_processor_queue_size", "sync processor queue length"),
    ("sync_processor_queue_time_ms", "time requests wait in the sync processor queue (ms)"),
    ("sync_processor_queue_flush_time_ms", "time to flush the sync processor queue (ms)"),
    ("sync_process_time", "time to process a request in the sync processor (ms)"),
    ("sync_processor_batch_size", "requests per sync processor flush"),
    ("jvm_pause_time_ms", "JVM pauses seen by the pause monitor (ms)"),
    ("inflight_snap_count", "snapshot syncs to learners in flight"),
    ("inflight_diff_count", "diff syncs to learners in flight"),
    ("netty_queued_buffer_capacity", "Netty queued buffer capacity (bytes)"),
    ("socket_closing_time", "time to close a client socket (ms)"),
    ("unavailable_time", "time this server was unavailable (ms)"),
    ("leader_unavailable_time", "time the leader was unavailable (ms)"),
    ("learner_request_processor_queue_size", "learner request processor queue length"),
    ("request_throttle_queue_time_ms", "time requests wait in the request throttler (ms)"),
];

/// How the mntr key `key` (without `zk_`) is exposed.
pub fn classify(key: &str) -> KeyInfo {
    if let Some((_, t, help)) = PLAIN.iter().find(|(k, _, _)| *k == key) {
        return KeyInfo { name: metric_name(key), metric_type: *t, help: Cow::Borrowed(help), label: None };
    }
    for (stat, t, stat_help) in STATS {
        let Some(rest) = key.strip_prefix(stat).and_then(|r| r.strip_prefix('_')) else { continue };
        if rest.is_empty() {
            continue;
        }
        for (set, label, what) in SETS {
            let Some(part) = rest.strip_suffix(set).and_then(|p| p.strip_suffix('_')) else { continue };
            let valid = !part.is_empty() && (*label != "learner" || part.bytes().all(|b| b.is_ascii_digit()));
            if valid {
                return KeyInfo {
                    name: metric_name(&format!("{stat}_{set}")),
                    metric_type: *t,
                    help: Cow::Owned(format!("{stat_help} of {what}.")),
                    label: Some((label, part.to_owned())),
                };
            }
        }
        let what = SUMMARIES
            .iter()
            .find(|(n, _)| *n == rest)
            .map_or_else(|| Cow::Owned(format!("ZooKeeper's summary {rest}")), |(_, w)| Cow::Borrowed(*w));
        return KeyInfo {
            name: metric_name(key),
            metric_type: *t,
            help: Cow::Owned(format!("{stat_help} of {what}.")),
            label: None,
        };
    }
    KeyInfo {
        name: metric_name(key),
        metric_type: MetricType::Untyped,
        help: Cow::Owned(format!("ZooKeeper's mntr value zk_{key} (not described by this exporter).")),
        label: None,
    }
}

/// `zk_` + the key with every character outside `[a-zA-Z0-9_]` turned into `_`.
pub fn metric_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len() + 3);
    name.push_str("zk_");
    name.extend(key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_win_over_summary_patterns() {
        let k = classify("max_latency");
        assert_eq!((k.name.as_str(), k.metric_type), ("zk_max_latency", G));
        assert_eq!(classify("max_file_descriptor_count").help, "Most file descriptors the ZooKeeper process may open.");
        assert_eq!(classify("packets_received").metric_type, C);
    }

    #[test]
    fn summaries() {
        let k = classify("cnt_fsynctime");
        assert_eq!((k.name.as_str(), k.metric_type, k.label), ("zk_cnt_fsynctime", C, None));
        assert_eq!(k.help, "Number of observations of time to fsync the transaction log (ms).");
        assert_eq!(classify("p999_readlatency").metric_type, G);
        assert_eq!(classify("avg_something_new").help, "Average of ZooKeeper's summary something_new.");
    }

    #[test]
    fn summary_sets_fold_into_a_label() {
        let k = classify("avg_anchors_read_per_namespace");
        assert_eq!(k.name, "zk_avg_read_per_namespace");
        assert_eq!(k.label, Some(("namespace", "anchors".to_owned())));
        let k = classify("sum_my_app_write_per_namespace");
        assert_eq!((k.name.as_str(), k.metric_type), ("zk_sum_write_per_namespace", C));
        assert_eq!(k.label, Some(("namespace", "my_app".to_owned())));
        let k = classify("p95_2_learner_handler_qp_time_ms");
        assert_eq!(k.name, "zk_p95_learner_handler_qp_time_ms");
        assert_eq!(k.label, Some(("learner", "2".to_owned())));
        let k = classify("avg_1_learner_handler_qp_size");
        assert_eq!(k.label, Some(("learner", "1".to_owned())));
        assert_eq!(classify("cnt_3_ack_latency").label, Some(("learner", "3".to_owned())));
        // A plain summary that merely ends like a set is not folded.
        let k = classify("avg_quorum_ack_latency");
        assert_eq!((k.name.as_str(), k.label), ("zk_avg_quorum_ack_latency", None));
        assert_eq!(classify("avg_read_per_namespace").label, None);
    }

    #[test]
    fn unknown_and_odd_keys() {
        let k = classify("brand-new.thing");
        assert_eq!((k.name.as_str(), k.metric_type), ("zk_brand_new_thing", MetricType::Untyped));
        assert_eq!(metric_name("1_x"), "zk_1_x");
        assert!(oxporter_core::model::is_valid_metric_name(&metric_name("ä b\u{0}")));
    }
}
