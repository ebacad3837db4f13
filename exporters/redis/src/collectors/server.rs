//! `server`: `redis_instance_info`, `redis_slave_info` and `redis_start_time_seconds`.

use oxporter_core::Snapshot;

use super::Input;

/// Writes the instance's identity.
pub fn extract(input: &Input<'_>, out: &mut Snapshot) {
    let info = input.info;
    let get = |k: &str| info.get(k).unwrap_or_default();
    if let Some(uptime) =
        info.section("Server").find(|f| f.key == "uptime_in_seconds").and_then(|f| f.value.parse::<f64>().ok())
    {
        out.gauge("redis_start_time_seconds", "Start time of the Redis instance since unix epoch in seconds.")
            .sample(&[], input.now.floor() - uptime);
    }
    // Label names in the order Go's client writes them (sorted).
    out.gauge("redis_instance_info", "Information about the Redis instance").sample(
        &[
            ("maxmemory_policy", get("maxmemory_policy")),
            ("os", get("os")),
            ("process_id", get("process_id")),
            ("redis_build_id", get("redis_build_id")),
            ("redis_mode", get("redis_mode")),
            ("redis_version", get("redis_version")),
            ("role", get("role")),
            ("run_id", get("run_id")),
            ("tcp_port", get("tcp_port")),
        ],
        1.0,
    );
    if get("role") == "slave" {
        out.gauge("redis_slave_info", "Information about the Redis slave").sample(
            &[
                ("master_host", get("master_host")),
                ("master_port", get("master_port")),
                ("read_only", get("slave_read_only")),
            ],
            1.0,
        );
    }
}
