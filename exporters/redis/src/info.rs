//! `INFO ALL` parsing and the table of which INFO field becomes which metric, as redis_exporter 1.45 maps them
//! (names, and gauge or counter).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use crate::resp::parse_go_float;

/// One `key:value` line of an INFO reply with the section it appeared in, borrowed from the reply text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// Section name from the last `# Section` header (`Server`, `Replication`, …), empty before any header.
    pub section: &'a str,
    /// The key.
    pub key: &'a str,
    /// The value, unparsed.
    pub value: &'a str,
}

/// A parsed INFO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info<'a> {
    /// Every field in reply order.
    pub fields: Vec<Field<'a>>,
}

/// INFO replies larger than this are cut: real ones are a few tens of KiB even with thousands of commands.
pub const MAX_INFO_LEN: usize = 16 * 1024 * 1024;

/// Parses an INFO reply. Tolerates `\n` or `\r\n`, blank lines, lines without a colon and any garbage: such
/// lines are skipped, never an error. Nothing is copied: the fields point into `text`.
pub fn parse(text: &str) -> Info<'_> {
    let text = if text.len() > MAX_INFO_LEN {
        // Cut at a character boundary at or below the limit.
        let mut end = MAX_INFO_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    } else {
        text
    };
    let mut section = "";
    // A Redis 7 INFO ALL has a few hundred fields.
    let mut fields = Vec::with_capacity(text.len() / 24);
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("# ") {
            section = name.trim();
            continue;
        }
        if line.len() < 2 {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        fields.push(Field { section, key, value });
    }
    Info { fields }
}

impl<'a> Info<'a> {
    /// The value of the first field called `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.fields.iter().find(|f| f.key == key).map(|f| f.value)
    }

    /// The fields of one section.
    pub fn section<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Field<'a>> + 's {
        self.fields.iter().filter(move |f| f.section == name)
    }

    /// Whether the server runs in cluster mode.
    pub fn cluster_enabled(&self) -> bool {
        self.get("cluster_enabled") == Some("1")
    }
}

/// How redis_exporter turns a field value into a number: `ok`/`true` are 1, `err`/`fail`/`false` are 0, anything
/// else must parse as a float.
pub fn parse_value(v: &str) -> Option<f64> {
    match v {
        "ok" | "true" => Some(1.0),
        "err" | "fail" | "false" => Some(0.0),
        _ => parse_go_float(v),
    }
}

/// INFO fields exported as gauges: `(INFO field, metric name without namespace)`.
pub const GAUGES: &[(&str, &str)] = &[
    // Server
    ("uptime_in_seconds", "uptime_in_seconds"),
    ("process_id", "process_id"),
    ("io_threads_active", "io_threads_active"),
    // Clients
    ("connected_clients", "connected_clients"),
    ("blocked_clients", "blocked_clients"),
    ("tracking_clients", "tracking_clients"),
    ("clients_in_timeout_table", "clients_in_timeout_table"),
    ("client_longest_output_list", "client_longest_output_list"),
    ("client_biggest_input_buf", "client_biggest_input_buf"),
    ("client_recent_max_output_buffer", "client_recent_max_output_buffer_bytes"),
    ("client_recent_max_input_buffer", "client_recent_max_input_buffer_bytes"),
    // Memory
    ("allocator_active", "allocator_active_bytes"),
    ("allocator_allocated", "allocator_allocated_bytes"),
    ("allocator_resident", "allocator_resident_bytes"),
    ("allocator_frag_ratio", "allocator_frag_ratio"),
    ("allocator_frag_bytes", "allocator_frag_bytes"),
    ("allocator_rss_ratio", "allocator_rss_ratio"),
    ("allocator_rss_bytes", "allocator_rss_bytes"),
    ("used_memory", "memory_used_bytes"),
    ("used_memory_rss", "memory_used_rss_bytes"),
    ("used_memory_peak", "memory_used_peak_bytes"),
    ("used_memory_lua", "memory_used_lua_bytes"),
    ("used_memory_overhead", "memory_used_overhead_bytes"),
    ("used_memory_startup", "memory_used_startup_bytes"),
    ("used_memory_dataset", "memory_used_dataset_bytes"),
    ("used_memory_scripts", "memory_used_scripts_bytes"),
    ("number_of_cached_scripts", "number_of_cached_scripts"),
    ("maxmemory", "memory_max_bytes"),
    ("maxmemory_reservation", "memory_max_reservation_bytes"),
    ("maxmemory_desired_reservation", "memory_max_reservation_desired_bytes"),
    ("maxfragmentationmemory_reservation", "memory_max_fragmentation_reservation_bytes"),
    ("maxfragmentationmemory_desired_reservation", "memory_max_fragmentation_reservation_desired_bytes"),
    ("mem_fragmentation_ratio", "mem_fragmentation_ratio"),
    ("mem_fragmentation_bytes", "mem_fragmentation_bytes"),
    ("mem_clients_slaves", "mem_clients_slaves"),
    ("mem_clients_normal", "mem_clients_normal"),
    ("expired_stale_perc", "expired_stale_percentage"),
    ("mem_not_counted_for_evict", "mem_not_counted_for_eviction_bytes"),
    ("lazyfree_pending_objects", "lazyfree_pending_objects"),
    ("active_defrag_running", "active_defrag_running"),
    ("migrate_cached_sockets", "migrate_cached_sockets_total"),
    ("active_defrag_hits", "defrag_hits"),
    ("active_defrag_misses", "defrag_misses"),
    ("active_defrag_key_hits", "defrag_key_hits"),
    ("active_defrag_key_misses", "defrag_key_misses"),
    ("expired_time_cap_reached_count", "expired_time_cap_reached_total"),
    // Persistence
    ("loading", "loading_dump_file"),
    ("rdb_changes_since_last_save", "rdb_changes_since_last_save"),
    ("rdb_bgsave_in_progress", "rdb_bgsave_in_progress"),
    ("rdb_last_save_time", "rdb_last_save_timestamp_seconds"),
    ("rdb_last_bgsave_status", "rdb_last_bgsave_status"),
    ("rdb_last_bgsave_time_sec", "rdb_last_bgsave_duration_sec"),
    ("rdb_current_bgsave_time_sec", "rdb_current_bgsave_duration_sec"),
    ("rdb_last_cow_size", "rdb_last_cow_size_bytes"),
    ("aof_enabled", "aof_enabled"),
    ("aof_rewrite_in_progress", "aof_rewrite_in_progress"),
    ("aof_rewrite_scheduled", "aof_rewrite_scheduled"),
    ("aof_last_rewrite_time_sec", "aof_last_rewrite_duration_sec"),
    ("aof_current_rewrite_time_sec", "aof_current_rewrite_duration_sec"),
    ("aof_last_cow_size", "aof_last_cow_size_bytes"),
    ("aof_current_size", "aof_current_size_bytes"),
    ("aof_base_size", "aof_base_size_bytes"),
    ("aof_pending_rewrite", "aof_pending_rewrite"),
    ("aof_buffer_length", "aof_buffer_length"),
    ("aof_rewrite_buffer_length", "aof_rewrite_buffer_length"),
    ("aof_pending_bio_fsync", "aof_pending_bio_fsync"),
    ("aof_delayed_fsync", "aof_delayed_fsync"),
    ("aof_last_bgrewrite_status", "aof_last_bgrewrite_status"),
    ("aof_last_write_status", "aof_last_write_status"),
    ("module_fork_in_progress", "module_fork_in_progress"),
    ("module_fork_last_cow_size", "module_fork_last_cow_size"),
    // Stats
    ("pubsub_channels", "pubsub_channels"),
    ("pubsub_patterns", "pubsub_patterns"),
    ("latest_fork_usec", "latest_fork_usec"),
    ("tracking_total_keys", "tracking_total_keys"),
    ("tracking_total_items", "tracking_total_items"),
    ("tracking_total_prefixes", "tracking_total_prefixes"),
    // Replication
    ("connected_slaves", "connected_slaves"),
    ("repl_backlog_size", "replication_backlog_bytes"),
    ("repl_backlog_active", "repl_backlog_is_active"),
    ("repl_backlog_first_byte_offset", "repl_backlog_first_byte_offset"),
    ("repl_backlog_histlen", "repl_backlog_history_bytes"),
    ("master_repl_offset", "master_repl_offset"),
    ("second_repl_offset", "second_repl_offset"),
    ("slave_expires_tracked_keys", "slave_expires_tracked_keys"),
    ("slave_priority", "slave_priority"),
    ("sync_full", "replica_resyncs_full"),
    ("sync_partial_ok", "replica_partial_resync_accepted"),
    ("sync_partial_err", "replica_partial_resync_denied"),
    // Cluster
    ("cluster_stats_messages_sent", "cluster_messages_sent_total"),
    ("cluster_stats_messages_received", "cluster_messages_received_total"),
    // Tile38
    ("tile38_aof_size", "tile38_aof_size_bytes"),
    ("tile38_avg_point_size", "tile38_avg_item_size_bytes"),
    ("tile38_sys_cpus", "tile38_cpus_total"),
    ("tile38_heap_released_bytes", "tile38_heap_released_bytes"),
    ("tile38_heap_alloc_bytes", "tile38_heap_size_bytes"),
    ("tile38_http_transport", "tile38_http_transport"),
    ("tile38_in_memory_size", "tile38_in_memory_size_bytes"),
    ("tile38_max_heap_size", "tile38_max_heap_size_bytes"),
    ("tile38_alloc_bytes", "tile38_mem_alloc_bytes"),
    ("tile38_num_collections", "tile38_num_collections_total"),
    ("tile38_num_hooks", "tile38_num_hooks_total"),
    ("tile38_num_objects", "tile38_num_objects_total"),
    ("tile38_num_points", "tile38_num_points_total"),
    ("tile38_pointer_size", "tile38_pointer_size_bytes"),
    ("tile38_read_only", "tile38_read_only"),
    ("tile38_go_threads", "tile38_threads_total"),
    ("tile38_go_goroutines", "tile38_go_goroutines_total"),
    ("tile38_last_gc_time_seconds", "tile38_last_gc_time_seconds"),
    ("tile38_next_gc_bytes", "tile38_next_gc_bytes"),
    // KeyDB
    ("server_threads", "server_threads_total"),
    ("long_lock_waits", "long_lock_waits_total"),
    ("current_client_thread", "current_client_thread"),
];

/// INFO fields exported as counters.
pub const COUNTERS: &[(&str, &str)] = &[
    ("total_connections_received", "connections_received_total"),
    ("total_commands_processed", "commands_processed_total"),
    ("rejected_connections", "rejected_connections_total"),
    ("total_net_input_bytes", "net_input_bytes_total"),
    ("total_net_output_bytes", "net_output_bytes_total"),
    ("expired_keys", "expired_keys_total"),
    ("evicted_keys", "evicted_keys_total"),
    ("keyspace_hits", "keyspace_hits_total"),
    ("keyspace_misses", "keyspace_misses_total"),
    ("used_cpu_sys", "cpu_sys_seconds_total"),
    ("used_cpu_user", "cpu_user_seconds_total"),
    ("used_cpu_sys_children", "cpu_sys_children_seconds_total"),
    ("used_cpu_user_children", "cpu_user_children_seconds_total"),
    ("used_cpu_sys_main_thread", "cpu_sys_main_thread_seconds_total"),
    ("used_cpu_user_main_thread", "cpu_user_main_thread_seconds_total"),
    ("unexpected_error_replies", "unexpected_error_replies"),
    ("total_error_replies", "total_error_replies"),
    ("dump_payload_sanitizations", "dump_payload_sanitizations"),
    ("total_reads_processed", "total_reads_processed"),
    ("total_writes_processed", "total_writes_processed"),
    ("io_threaded_reads_processed", "io_threaded_reads_processed"),
    ("io_threaded_writes_processed", "io_threaded_writes_processed"),
    // KeyDB
    ("cached_keys", "cached_keys_total"),
    ("storage_provider_read_hits", "storage_provider_read_hits"),
    ("storage_provider_read_misses", "storage_provider_read_misses"),
];

/// `--include-system-metrics` adds this gauge.
pub const SYSTEM_GAUGES: &[(&str, &str)] = &[("total_system_memory", "total_system_memory_bytes")];

/// Whether a mapped metric is a gauge or a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A gauge.
    Gauge,
    /// A counter.
    Counter,
}

/// A mapped field's metric, with its full name and HELP text made once.
#[derive(Debug)]
struct Entry {
    /// `redis_<name>`.
    full: String,
    /// `<name> metric`, redis_exporter's HELP text for these.
    help: String,
    kind: Kind,
    /// Only with `--include-system-metrics`.
    system: bool,
}

static MAP: LazyLock<HashMap<&'static str, Entry>> = LazyLock::new(|| {
    let entry = |name: &str, kind, system| Entry {
        full: format!("redis_{name}"),
        help: format!("{name} metric"),
        kind,
        system,
    };
    let mut m = HashMap::new();
    m.extend(GAUGES.iter().map(|(k, v)| (*k, entry(v, Kind::Gauge, false))));
    m.extend(COUNTERS.iter().map(|(k, v)| (*k, entry(v, Kind::Counter, false))));
    m.extend(SYSTEM_GAUGES.iter().map(|(k, v)| (*k, entry(v, Kind::Gauge, true))));
    // Reported in seconds, as redis_exporter does.
    m.insert("latest_fork_usec", entry("latest_fork_seconds", Kind::Gauge, false));
    m
});

/// What a field becomes: metric name (with the `redis_` namespace) and HELP text, type, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// Metric name with the namespace (`redis_memory_used_bytes`).
    pub name: Cow<'static, str>,
    /// HELP text (`memory_used_bytes metric`).
    pub help: Cow<'static, str>,
    /// Gauge or counter.
    pub kind: Kind,
    /// The value.
    pub value: f64,
}

/// Maps one INFO field the way redis_exporter's generic path does: fields in the tables, plus any `cluster_*`
/// field under its own (sanitised) name as a gauge. `None` for fields it ignores or cannot parse. Names of table
/// fields are static: mapping allocates nothing.
pub fn map_field(key: &str, value: &str, include_system: bool) -> Option<Mapped> {
    let (name, help, kind) = match MAP.get(key) {
        Some(e) if e.system && !include_system => return None,
        Some(e) => (Cow::Borrowed(e.full.as_str()), Cow::Borrowed(e.help.as_str()), e.kind),
        None if key.starts_with("cluster_") => {
            let short = oxporter_core::model::sanitize_name(key);
            (Cow::Owned(format!("redis_{short}")), Cow::Owned(format!("{short} metric")), Kind::Gauge)
        }
        None => return None,
    };
    let mut value = parse_value(value)?;
    if key == "latest_fork_usec" {
        value /= 1e6;
    }
    Some(Mapped { name, help, kind, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_and_tolerates_junk() {
        let info = parse("# Server\r\nredis_version:7.0.15\r\n\r\nnot a field\r\n# Stats\nkeyspace_hits:3\nx:\n:y\n");
        assert_eq!(info.get("redis_version"), Some("7.0.15"));
        assert_eq!(info.section("Stats").count(), 3);
        assert_eq!(info.fields[1], Field { section: "Stats", key: "keyspace_hits", value: "3" });
    }

    #[test]
    fn maps_like_redis_exporter() {
        let m = map_field("used_memory", "1024", false).expect("mapped");
        assert_eq!(
            (m.name.as_ref(), m.help.as_ref(), m.kind, m.value),
            ("redis_memory_used_bytes", "memory_used_bytes metric", Kind::Gauge, 1024.0)
        );
        let m = map_field("keyspace_hits", "3", false).expect("mapped");
        assert_eq!((m.name.as_ref(), m.kind), ("redis_keyspace_hits_total", Kind::Counter));
        let m = map_field("latest_fork_usec", "2500", false).expect("mapped");
        assert_eq!((m.name.as_ref(), m.value), ("redis_latest_fork_seconds", 0.0025));
        assert_eq!(map_field("rdb_last_bgsave_status", "ok", false).map(|m| m.value), Some(1.0));
        assert_eq!(map_field("aof_last_write_status", "err", false).map(|m| m.value), Some(0.0));
        assert_eq!(map_field("cluster_state", "fail", false).map(|m| m.value), Some(0.0));
        assert_eq!(map_field("cluster_enabled", "0", false).map(|m| m.name), Some("redis_cluster_enabled".into()));
        assert_eq!(map_field("redis_version", "7.0.15", false), None);
        assert_eq!(map_field("used_memory", "lots", false), None);
        assert_eq!(map_field("total_system_memory", "1", false), None);
        assert!(map_field("total_system_memory", "1", true).is_some());
    }

    #[test]
    fn tables_have_no_duplicates() {
        let mut seen = std::collections::HashSet::new();
        for (k, _) in GAUGES.iter().chain(COUNTERS) {
            assert!(seen.insert(*k), "{k} listed twice");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 7u64;
        let alphabet = "#: \r\nab_01.é\u{0}cluster_db";
        let chars: Vec<char> = alphabet.chars().collect();
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(seed % 60) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.push(chars[(seed >> 33) as usize % chars.len()]);
            }
            let info = parse(&s);
            for f in &info.fields {
                let _ = map_field(f.key, f.value, true);
            }
        }
    }
}
