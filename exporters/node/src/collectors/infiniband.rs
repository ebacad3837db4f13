//! `infiniband`: InfiniBand and RoCE ports from `/sys/class/infiniband/<device>/ports/<port>`
//! (`node_infiniband_*{device,port}` and `node_infiniband_info`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;
use crate::sysfs::{class_entries, parse_go_int, read_attr, sorted_entries};

/// `(directory, file, metric suffix, multiplier)` of every counter, in node_exporter's order. The data counters
/// count 4-byte words per lane, hence the 4.
const COUNTERS: &[(&str, &str, &str, u64)] = &[
    ("counters_ext", "port_multicast_rcv_packets", "legacy_multicast_packets_received_total", 1),
    ("counters_ext", "port_multicast_xmit_packets", "legacy_multicast_packets_transmitted_total", 1),
    ("counters_ext", "port_rcv_data_64", "legacy_data_received_bytes_total", 4),
    ("counters_ext", "port_rcv_packets_64", "legacy_packets_received_total", 1),
    ("counters_ext", "port_unicast_rcv_packets", "legacy_unicast_packets_received_total", 1),
    ("counters_ext", "port_unicast_xmit_packets", "legacy_unicast_packets_transmitted_total", 1),
    ("counters_ext", "port_xmit_data_64", "legacy_data_transmitted_bytes_total", 4),
    ("counters_ext", "port_xmit_packets_64", "legacy_packets_transmitted_total", 1),
    ("counters", "excessive_buffer_overrun_errors", "excessive_buffer_overrun_errors_total", 1),
    ("counters", "link_downed", "link_downed_total", 1),
    ("counters", "link_error_recovery", "link_error_recovery_total", 1),
    ("counters", "local_link_integrity_errors", "local_link_integrity_errors_total", 1),
    ("counters", "multicast_rcv_packets", "multicast_packets_received_total", 1),
    ("counters", "multicast_xmit_packets", "multicast_packets_transmitted_total", 1),
    ("counters", "port_rcv_constraint_errors", "port_constraint_errors_received_total", 1),
    ("counters", "port_xmit_constraint_errors", "port_constraint_errors_transmitted_total", 1),
    ("counters", "port_rcv_data", "port_data_received_bytes_total", 4),
    ("counters", "port_xmit_data", "port_data_transmitted_bytes_total", 4),
    ("counters", "port_rcv_discards", "port_discards_received_total", 1),
    ("counters", "port_xmit_discards", "port_discards_transmitted_total", 1),
    ("counters", "port_rcv_errors", "port_errors_received_total", 1),
    ("counters", "port_rcv_packets", "port_packets_received_total", 1),
    ("counters", "port_xmit_packets", "port_packets_transmitted_total", 1),
    ("counters", "port_xmit_wait", "port_transmit_wait_total", 1),
    ("counters", "unicast_rcv_packets", "unicast_packets_received_total", 1),
    ("counters", "unicast_xmit_packets", "unicast_packets_transmitted_total", 1),
    ("counters", "port_rcv_remote_physical_errors", "port_receive_remote_physical_errors_total", 1),
    ("counters", "port_rcv_switch_relay_errors", "port_receive_switch_relay_errors_total", 1),
    ("counters", "symbol_error", "symbol_error_total", 1),
    ("counters", "VL15_dropped", "vl15_dropped_total", 1),
    ("hw_counters", "duplicate_request", "duplicate_requests_packets_total", 1),
    ("hw_counters", "implied_nak_seq_err", "implied_nak_seq_errors_total", 1),
    ("hw_counters", "local_ack_timeout_err", "local_ack_timeout_errors_total", 1),
    ("hw_counters", "np_cnp_sent", "np_cnp_packets_sent_total", 1),
    ("hw_counters", "np_ecn_marked_roce_packets", "np_ecn_marked_roce_packets_received_total", 1),
    ("hw_counters", "out_of_buffer", "out_of_buffer_drops_total", 1),
    ("hw_counters", "out_of_sequence", "out_of_sequence_packets_received_total", 1),
    ("hw_counters", "packet_seq_err", "packet_sequence_errors_total", 1),
    ("hw_counters", "req_cqe_error", "req_cqes_errors_total", 1),
    ("hw_counters", "req_cqe_flush_error", "req_cqes_flush_errors_total", 1),
    ("hw_counters", "req_remote_access_errors", "req_remote_access_errors_total", 1),
    ("hw_counters", "req_remote_invalid_request", "req_remote_invalid_request_errors_total", 1),
    ("hw_counters", "resp_cqe_error", "resp_cqes_errors_total", 1),
    ("hw_counters", "resp_cqe_flush_error", "resp_cqes_flush_errors_total", 1),
    ("hw_counters", "resp_local_length_error", "resp_local_length_errors_total", 1),
    ("hw_counters", "resp_remote_access_errors", "resp_remote_access_errors_total", 1),
    ("hw_counters", "rnr_nak_retry_err", "rnr_nak_retry_packets_received_total", 1),
    ("hw_counters", "roce_adp_retrans", "roce_adp_retransmits_total", 1),
    ("hw_counters", "roce_adp_retrans_to", "roce_adp_retransmits_timeout_total", 1),
    ("hw_counters", "roce_slow_restart", "roce_slow_restart_used_total", 1),
    ("hw_counters", "roce_slow_restart_cnps", "roce_slow_restart_cnps_total", 1),
    ("hw_counters", "roce_slow_restart_trans", "roce_slow_restart_total", 1),
    ("hw_counters", "rp_cnp_handled", "rp_cnp_packets_handled_total", 1),
    ("hw_counters", "rp_cnp_ignored", "rp_cnp_ignored_packets_received_total", 1),
    ("hw_counters", "rx_atomic_requests", "rx_atomic_requests_total", 1),
    ("hw_counters", "rx_dct_connect", "rx_dct_connect_requests_total", 1),
    ("hw_counters", "rx_read_requests", "rx_read_requests_total", 1),
    ("hw_counters", "rx_write_requests", "rx_write_requests_total", 1),
    ("hw_counters", "rx_icrc_encapsulated", "rx_icrc_encapsulated_errors_total", 1),
];

/// Metric suffixes that come from the `hw_counters` directory (newer than node_exporter 1.5).
pub const HW_COUNTER_METRICS: &[&str] = &[
    "lifespan_seconds",
    "duplicate_requests_packets_total",
    "implied_nak_seq_errors_total",
    "local_ack_timeout_errors_total",
    "np_cnp_packets_sent_total",
    "np_ecn_marked_roce_packets_received_total",
    "out_of_buffer_drops_total",
    "out_of_sequence_packets_received_total",
    "packet_sequence_errors_total",
    "req_cqes_errors_total",
    "req_cqes_flush_errors_total",
    "req_remote_access_errors_total",
    "req_remote_invalid_request_errors_total",
    "resp_cqes_errors_total",
    "resp_cqes_flush_errors_total",
    "resp_local_length_errors_total",
    "resp_remote_access_errors_total",
    "rnr_nak_retry_packets_received_total",
    "roce_adp_retransmits_total",
    "roce_adp_retransmits_timeout_total",
    "roce_slow_restart_used_total",
    "roce_slow_restart_cnps_total",
    "roce_slow_restart_total",
    "rp_cnp_packets_handled_total",
    "rp_cnp_ignored_packets_received_total",
    "rx_atomic_requests_total",
    "rx_dct_connect_requests_total",
    "rx_read_requests_total",
    "rx_write_requests_total",
    "rx_icrc_encapsulated_errors_total",
];

/// HELP of a metric suffix.
fn help(suffix: &str) -> &'static str {
    match suffix {
        "duplicate_requests_packets_total" => {
            "The number of received packets. A duplicate request is a request that had been previously executed."
        }
        "excessive_buffer_overrun_errors_total" => {
            "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at \
             least one overrun error."
        }
        "implied_nak_seq_errors_total" => {
            "The number of time the requested decided an ACK. with a PSN larger than the expected PSN for an RDMA \
             read or response."
        }
        "legacy_data_received_bytes_total" | "port_data_received_bytes_total" => {
            "Number of data octets received on all links"
        }
        "legacy_data_transmitted_bytes_total" | "port_data_transmitted_bytes_total" => {
            "Number of data octets transmitted on all links"
        }
        "legacy_multicast_packets_received_total" => "Number of multicast packets received",
        "legacy_multicast_packets_transmitted_total" => "Number of multicast packets transmitted",
        "legacy_packets_received_total" | "legacy_packets_transmitted_total" => {
            "Number of data packets received on all links"
        }
        "legacy_unicast_packets_received_total" => "Number of unicast packets received",
        "legacy_unicast_packets_transmitted_total" => "Number of unicast packets transmitted",
        "lifespan_seconds" => {
            "The maximum period in ms which defines the aging of the counter reads. Two consecutive reads within \
             this period might return the same values."
        }
        "link_downed_total" => "Number of times the link failed to recover from an error state and went down",
        "link_error_recovery_total" => "Number of times the link successfully recovered from an error state",
        "local_ack_timeout_errors_total" => {
            "The number of times QP's ack timer expired for RC, XRC, DCT QPs at the sender side. The QP retry limit \
             was not exceed, therefore it is still recoverable error."
        }
        "local_link_integrity_errors_total" => {
            "Number of times that the count of local physical errors exceeded the threshold specified by \
             LocalPhyErrors."
        }
        "multicast_packets_received_total" => "Number of multicast packets received (including errors)",
        "multicast_packets_transmitted_total" => "Number of multicast packets transmitted (including errors)",
        "np_cnp_packets_sent_total" => {
            "The number of CNP packets sent by the Notification Point when it noticed congestion experienced in the \
             RoCEv2 IP header (ECN bits). The counters was added in MLNX_OFED 4.1"
        }
        "np_ecn_marked_roce_packets_received_total" => {
            "The number of RoCEv2 packets received by the notification point which were marked for experiencing the \
             congestion (ECN bits where '11' on the ingress RoCE traffic) . The counters was added in MLNX_OFED 4.1"
        }
        "out_of_buffer_drops_total" => "The number of drops occurred due to lack of WQE for the associated QPs.",
        "out_of_sequence_packets_received_total" => "The number of out of sequence packets received.",
        "packet_sequence_errors_total" => {
            "The number of received NAK sequence error packets. The QP retry limit was not exceeded."
        }
        "physical_state_id" => {
            "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: \
             link up, 6: link error recover, 7: phytest)"
        }
        "port_constraint_errors_received_total" => {
            "Number of packets received on the switch physical port that are discarded"
        }
        "port_constraint_errors_transmitted_total" => "Number of packets not transmitted from the switch physical port",
        "port_discards_received_total" => {
            "Number of inbound packets discarded by the port because the port is down or congested"
        }
        "port_discards_transmitted_total" => {
            "Number of outbound packets discarded by the port because the port is down or congested"
        }
        "port_errors_received_total" => "Number of packets containing an error that were received on this port",
        "port_packets_received_total" => "Number of packets received on all VLs by this port (including errors)",
        "port_packets_transmitted_total" => {
            "Number of packets transmitted on all VLs from this port (including errors)"
        }
        "port_receive_remote_physical_errors_total" => {
            "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port."
        }
        "port_receive_switch_relay_errors_total" => "Number of packets that could not be forwarded by the switch.",
        "port_transmit_wait_total" => {
            "Number of ticks during which the port had data to transmit but no data was sent during the entire tick"
        }
        "rate_bytes_per_second" => "Maximum signal transfer rate",
        "req_cqes_errors_total" => {
            "The number of times requester detected CQEs completed with errors. The counters was added in MLNX_OFED \
             4.1"
        }
        "req_cqes_flush_errors_total" => {
            "The number of times requester detected CQEs completed with flushed errors. The counters was added in \
             MLNX_OFED 4.1"
        }
        "req_remote_access_errors_total" => {
            "The number of times requester detected remote access errors. The counters was added in MLNX_OFED 4.1"
        }
        "req_remote_invalid_request_errors_total" => {
            "The number of times requester detected remote invalid request errors. The counters was added in \
             MLNX_OFED 4.1"
        }
        "resp_cqes_errors_total" => {
            "The number of times responder detected CQEs completed with errors. The counters was added in MLNX_OFED \
             4.1"
        }
        "resp_cqes_flush_errors_total" => {
            "The number of times responder detected CQEs completed with flushed errors. The counters was added in \
             MLNX_OFED 4.1"
        }
        "resp_local_length_errors_total" => {
            "The number of times responder detected local length errors. The counters was added in MLNX_OFED 4.1"
        }
        "resp_remote_access_errors_total" => {
            "The number of times responder detected remote access errors. The counters was added in MLNX_OFED 4.1"
        }
        "rnr_nak_retry_packets_received_total" => {
            "The number of received RNR NAK packets. The QP retry limit was not exceeded."
        }
        "roce_adp_retransmits_timeout_total" => {
            "The number of times RoCE traffic reached timeout due to adaptive retransmission. The counter was added \
             in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"
        }
        "roce_adp_retransmits_total" => {
            "The number of adaptive retransmissions for RoCE traffic. The counter was added in MLNX_OFED rev \
             5.0-1.0.0.0 and kernel v5.6.0"
        }
        "roce_slow_restart_cnps_total" => {
            "The number of times RoCE slow restart generated CNP packets. The counter was added in MLNX_OFED rev \
             5.0-1.0.0.0 and kernel v5.6.0"
        }
        "roce_slow_restart_total" => {
            "The number of times RoCE slow restart changed state to slow restart. The counter was added in MLNX_OFED \
             rev 5.0-1.0.0.0 and kernel v5.6.0"
        }
        "roce_slow_restart_used_total" => {
            "The number of times RoCE slow restart was used. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and \
             kernel v5.6.0"
        }
        "rp_cnp_ignored_packets_received_total" => {
            "The number of CNP packets received and ignored by the Reaction Point HCA. This counter should not raise \
             if RoCE Congestion Control was enabled in the network. If this counter raise, verify that ECN was \
             enabled on the adapter."
        }
        "rp_cnp_packets_handled_total" => {
            "The number of CNP packets handled by the Reaction Point HCA to throttle the transmission rate. The \
             counters was added in MLNX_OFED 4.1"
        }
        "rx_atomic_requests_total" => "The number of received ATOMIC request for the associated QPs.",
        "rx_dct_connect_requests_total" => "The number of received connection requests for the associated DCTs.",
        "rx_icrc_encapsulated_errors_total" => {
            "The number of RoCE packets with ICRC errors. This counter was added in MLNX_OFED 4.4 and kernel 4.19"
        }
        "rx_read_requests_total" => "The number of received READ requests for the associated QPs.",
        "rx_write_requests_total" => "The number of received WRITE requests for the associated QPs.",
        "state_id" => {
            "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)"
        }
        "symbol_error_total" => "Number of minor link errors detected on one or more physical lanes.",
        "unicast_packets_received_total" => "Number of unicast packets received (including errors)",
        "unicast_packets_transmitted_total" => "Number of unicast packets transmitted (including errors)",
        "vl15_dropped_total" => "Number of incoming VL15 packets dropped due to resource limitations.",
        _ => "",
    }
}

/// One port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Port {
    /// The number in the `state` file (`4: ACTIVE` → 4).
    pub state_id: u64,
    /// The number in the `phys_state` file.
    pub phys_state_id: u64,
    /// `rate` in bytes per second.
    pub rate: u64,
    /// `hw_counters/lifespan` in milliseconds.
    pub lifespan_ms: Option<u64>,
    /// Counters by metric suffix (absent ones are not reported).
    pub counters: BTreeMap<&'static str, u64>,
}

/// One device: identity and ports by number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// `board_id`.
    pub board_id: String,
    /// `fw_ver`.
    pub firmware_version: String,
    /// `hca_type`.
    pub hca_type: String,
    /// Ports by number.
    pub ports: BTreeMap<u64, Port>,
}

/// Parses `<id>: <name>` (`state`, `phys_state`).
pub fn parse_state(s: &str) -> Result<u64, CollectError> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [id, _] => {
            id.trim().parse::<u32>().map(u64::from).map_err(|_| CollectError::Parse(format!("invalid state {s:?}")))
        }
        _ => Err(CollectError::Parse(format!("failed to split {s:?} into 'ID: NAME'"))),
    }
}

/// Parses `rate` (`100 Gb/sec (4X EDR)`) into bytes per second, computed as the Go library does (the number as a
/// 32-bit float times 125,000,000).
pub fn parse_rate(s: &str) -> Result<u64, CollectError> {
    let bad = || CollectError::Parse(format!("invalid rate {s:?}"));
    let (num, _) = s.split_once(' ').ok_or_else(bad)?;
    let v: f32 = num.trim().parse().map_err(|_| bad())?;
    Ok((f64::from(v) * 125_000_000.0) as u64)
}

fn read_optional(path: &Path) -> Result<Option<String>, CollectError> {
    match read_attr(path) {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied)
                || matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL)) =>
        {
            Ok(None)
        }
        Err(e) => Err(CollectError::io(path.display(), e)),
    }
}

/// Reads one port directory.
pub fn read_port(dir: &Path) -> Result<Port, CollectError> {
    let req =
        |f: &str| crate::sysfs::read_once(&dir.join(f), 4096).map_err(|e| CollectError::io(dir.join(f).display(), e));
    req("link_layer")?;
    let mut p = Port {
        state_id: parse_state(&req("state")?)?,
        phys_state_id: parse_state(&req("phys_state")?)?,
        rate: parse_rate(&req("rate")?)?,
        ..Port::default()
    };
    for (sub, file, suffix, mult) in COUNTERS {
        let Some(v) = read_optional(&dir.join(sub).join(file))? else { continue };
        match parse_go_int(&v).and_then(|n| u64::try_from(n).ok()) {
            Some(n) => {
                p.counters.insert(suffix, n.wrapping_mul(*mult));
            }
            // Some firmware answers "N/A (no PMA)".
            None if v.contains("N/A (no PMA)") => {}
            None => return Err(CollectError::Parse(format!("{}/{sub}/{file}: invalid value {v:?}", dir.display()))),
        }
    }
    if let Some(v) = read_optional(&dir.join("hw_counters/lifespan"))? {
        p.lifespan_ms = parse_go_int(&v).and_then(|n| u64::try_from(n).ok());
    }
    Ok(p)
}

/// Reads one device directory (`fw_ver` and the ports are required).
pub fn read_device(dir: &Path) -> Result<Device, CollectError> {
    let fw = dir.join("fw_ver");
    let mut d = Device {
        firmware_version: read_attr(&fw).map_err(|e| CollectError::io(fw.display(), e))?,
        board_id: read_optional(&dir.join("board_id"))?.unwrap_or_default(),
        hca_type: read_optional(&dir.join("hca_type"))?.unwrap_or_default(),
        ..Device::default()
    };
    let ports = dir.join("ports");
    for (name, path) in sorted_entries(&ports).map_err(|e| CollectError::io(ports.display(), e))? {
        let n: u64 =
            name.parse::<u32>().map(u64::from).map_err(|_| CollectError::Parse(format!("invalid port {name:?}")))?;
        d.ports.insert(n, read_port(&path)?);
    }
    Ok(d)
}

/// Builds the collector.
pub fn build(args: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(Infiniband { dir: args.sys_path("class/infiniband") }))
}

struct Infiniband {
    dir: PathBuf,
}

impl BlockingCollector for Infiniband {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let entries = class_entries(&self.dir, "infiniband statistics not found")?;
        let mut devices = Vec::new();
        for (name, path) in entries {
            devices.push((
                name,
                read_device(&path)
                    .map_err(|e| CollectError::Other(format!("error obtaining InfiniBand class info: {e}")))?,
            ));
        }
        for (name, d) in &devices {
            out.gauge(
                "node_infiniband_info",
                "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
            )
            .sample(
                &[
                    ("board_id", d.board_id.as_str()),
                    ("device", name.as_str()),
                    ("firmware_version", d.firmware_version.as_str()),
                    ("hca_type", d.hca_type.as_str()),
                ],
                1.0,
            );
            for (num, p) in &d.ports {
                let port = num.to_string();
                let l = [("device", name.as_str()), ("port", port.as_str())];
                let mut gauge = |suffix: &'static str, v: u64| {
                    out.gauge(format!("node_infiniband_{suffix}"), help(suffix)).sample(&l, v as f64);
                };
                gauge("state_id", p.state_id);
                gauge("physical_state_id", p.phys_state_id);
                gauge("rate_bytes_per_second", p.rate);
                if let Some(ms) = p.lifespan_ms {
                    gauge("lifespan_seconds", ms / 1000);
                }
                for (_, _, suffix, _) in COUNTERS {
                    if let Some(v) = p.counters.get(suffix) {
                        out.counter(format!("node_infiniband_{suffix}"), help(suffix)).sample(&l, *v as f64);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::{fixture, garbage, render};

    #[test]
    fn states_and_rates() {
        assert_eq!(parse_state("4: ACTIVE\n").ok(), Some(4));
        assert!(parse_state("ACTIVE").is_err());
        assert!(parse_state("x: y").is_err());
        assert_eq!(parse_rate("100 Gb/sec (4X EDR)").ok(), Some(12_500_000_000));
        assert_eq!(parse_rate("2.5 Gb/sec (1X SDR)").ok(), Some(312_500_000));
        assert!(parse_rate("fast").is_err());
        garbage(b"0123456789: .Gb/sec", "4: ACTIVE", |s| {
            let _ = parse_state(s);
            let _ = parse_rate(s);
        });
    }

    #[test]
    fn fixture_tree() {
        let c = Infiniband { dir: fixture("hardware/sys/class/infiniband") };
        let mut out = Snapshot::new();
        c.collect(&ScrapeContext::with_timeout(std::time::Duration::from_secs(5)), &mut out).expect("collect");
        let text = render(out);
        for line in [
            "node_infiniband_info{board_id=\"SM_1141000001000\",device=\"mlx4_0\",firmware_version=\"2.31.5050\",hca_type=\"MT4099\"} 1",
            "node_infiniband_state_id{device=\"mlx4_0\",port=\"1\"} 4",
            "node_infiniband_physical_state_id{device=\"mlx4_0\",port=\"1\"} 5",
            "node_infiniband_rate_bytes_per_second{device=\"mlx4_0\",port=\"1\"} 5e+09",
            "node_infiniband_port_data_received_bytes_total{device=\"mlx4_0\",port=\"1\"} 8.884894436e+09",
            "node_infiniband_legacy_data_received_bytes_total{device=\"mlx4_0\",port=\"1\"} 8.884894436e+09",
            "node_infiniband_link_downed_total{device=\"mlx4_0\",port=\"1\"} 0",
            "node_infiniband_out_of_buffer_drops_total{device=\"mlx4_0\",port=\"1\"} 7",
            "node_infiniband_lifespan_seconds{device=\"mlx4_0\",port=\"1\"} 0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // "N/A (no PMA)" counters are left out.
        assert!(!text.contains("node_infiniband_vl15_dropped_total"), "{text}");
    }
}
