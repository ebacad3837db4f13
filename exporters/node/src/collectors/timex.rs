//! `timex`: the kernel clock discipline state from `adjtimex(2)` (`node_timex_*`): offset, frequency
//! adjustment, error estimates, PPS counters and whether the clock is synchronised.

use oxporter_core::collector::{BuildError, blocking};
use oxporter_core::{BlockingCollector, CollectError, Collector, ScrapeContext, Snapshot};

use crate::args::Args;

/// `adjtimex` returns this state when the clock is not synchronised (`TIME_ERROR`).
const TIME_ERROR: i32 = 5;
/// `STA_NANO`: offsets are in nanoseconds rather than microseconds.
const STA_NANO: i64 = 0x2000;
/// Scaled-ppm fixed point: frequencies are ppm with a 16-bit fraction (see NOTES in adjtimex(2)).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;

/// The fields of `struct timex` node_exporter reports, plus the call's return value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timex {
    /// The clock state `adjtimex` returned (`TIME_OK` … `TIME_ERROR`).
    pub state: i32,
    #[allow(missing_docs)]
    pub offset: i64,
    #[allow(missing_docs)]
    pub freq: i64,
    #[allow(missing_docs)]
    pub maxerror: i64,
    #[allow(missing_docs)]
    pub esterror: i64,
    #[allow(missing_docs)]
    pub status: i64,
    #[allow(missing_docs)]
    pub constant: i64,
    #[allow(missing_docs)]
    pub tick: i64,
    #[allow(missing_docs)]
    pub ppsfreq: i64,
    #[allow(missing_docs)]
    pub jitter: i64,
    #[allow(missing_docs)]
    pub shift: i64,
    #[allow(missing_docs)]
    pub stabil: i64,
    #[allow(missing_docs)]
    pub jitcnt: i64,
    #[allow(missing_docs)]
    pub calcnt: i64,
    #[allow(missing_docs)]
    pub errcnt: i64,
    #[allow(missing_docs)]
    pub stbcnt: i64,
    #[allow(missing_docs)]
    pub tai: i64,
}

/// Reads the clock state without changing it (`modes = 0`).
#[allow(unsafe_code)]
// The fields are `c_long`: i64 here, i32 on 32-bit targets, where the conversions are not useless.
#[allow(clippy::useless_conversion)]
pub fn read_timex() -> std::io::Result<Timex> {
    // SAFETY: `tx` is a zeroed, properly aligned `struct timex` owned by this frame; with `modes == 0` the kernel
    // only writes the current state into it. No pointer outlives the call.
    let (state, tx) = unsafe {
        let mut tx: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut tx);
        (state, tx)
    };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Timex {
        state,
        offset: i64::from(tx.offset),
        freq: i64::from(tx.freq),
        maxerror: i64::from(tx.maxerror),
        esterror: i64::from(tx.esterror),
        status: i64::from(tx.status),
        constant: i64::from(tx.constant),
        tick: i64::from(tx.tick),
        ppsfreq: i64::from(tx.ppsfreq),
        jitter: i64::from(tx.jitter),
        shift: i64::from(tx.shift),
        stabil: i64::from(tx.stabil),
        jitcnt: i64::from(tx.jitcnt),
        calcnt: i64::from(tx.calcnt),
        errcnt: i64::from(tx.errcnt),
        stbcnt: i64::from(tx.stbcnt),
        tai: i64::from(tx.tai),
    })
}

/// Writes the metrics for one reading, scaled as node_exporter scales them.
pub fn emit(out: &mut Snapshot, t: &Timex) {
    let divisor = if t.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let mut gauge = |name: &'static str, help: &'static str, v: f64| {
        out.gauge(name, help).sample(&[], v);
    };
    gauge(
        "node_timex_sync_status",
        "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
        if t.state == TIME_ERROR { 0.0 } else { 1.0 },
    );
    gauge(
        "node_timex_offset_seconds",
        "Time offset in between local system and reference clock.",
        t.offset as f64 / divisor,
    );
    gauge(
        "node_timex_frequency_adjustment_ratio",
        "Local clock frequency adjustment.",
        1.0 + t.freq as f64 / PPM16FRAC,
    );
    gauge("node_timex_maxerror_seconds", "Maximum error in seconds.", t.maxerror as f64 / 1e6);
    gauge("node_timex_estimated_error_seconds", "Estimated error in seconds.", t.esterror as f64 / 1e6);
    gauge("node_timex_status", "Value of the status array bits.", t.status as f64);
    gauge("node_timex_loop_time_constant", "Phase-locked loop time constant.", t.constant as f64);
    gauge("node_timex_tick_seconds", "Seconds between clock ticks.", t.tick as f64 / 1e6);
    gauge("node_timex_pps_frequency_hertz", "Pulse per second frequency.", t.ppsfreq as f64 / PPM16FRAC);
    gauge("node_timex_pps_jitter_seconds", "Pulse per second jitter.", t.jitter as f64 / divisor);
    gauge("node_timex_pps_shift_seconds", "Pulse per second interval duration.", t.shift as f64);
    gauge(
        "node_timex_pps_stability_hertz",
        "Pulse per second stability, average of recent frequency changes.",
        t.stabil as f64 / PPM16FRAC,
    );
    gauge("node_timex_tai_offset_seconds", "International Atomic Time (TAI) offset.", t.tai as f64);
    let mut counter = |name: &'static str, help: &'static str, v: i64| {
        out.counter(name, help).sample(&[], v as f64);
    };
    counter("node_timex_pps_jitter_total", "Pulse per second count of jitter limit exceeded events.", t.jitcnt);
    counter("node_timex_pps_calibration_total", "Pulse per second count of calibration intervals.", t.calcnt);
    counter("node_timex_pps_error_total", "Pulse per second count of calibration errors.", t.errcnt);
    counter(
        "node_timex_pps_stability_exceeded_total",
        "Pulse per second count of stability limit exceeded events.",
        t.stbcnt,
    );
}

/// Builds the collector.
pub fn build(_: &Args) -> Result<Box<dyn Collector>, BuildError> {
    Ok(blocking(TimexCollector))
}

struct TimexCollector;

impl BlockingCollector for TimexCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Snapshot) -> Result<(), CollectError> {
        let t = read_timex().map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => CollectError::NoData(format!("adjtimex not permitted: {e}")),
            _ => CollectError::io("adjtimex", e),
        })?;
        emit(out, &t);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testing::render;

    #[test]
    fn scales_like_node_exporter() {
        let t = Timex {
            state: TIME_ERROR,
            offset: 1_500_000,
            freq: 65536 * 10,
            maxerror: 16_000_000,
            esterror: 16_000_000,
            status: 0x2001,
            constant: 7,
            tick: 10_000,
            tai: 37,
            stbcnt: 3,
            ..Timex::default()
        };
        let mut out = Snapshot::new();
        emit(&mut out, &t);
        let text = render(out);
        for line in [
            "node_timex_sync_status 0",
            "node_timex_offset_seconds 0.0015",
            "node_timex_frequency_adjustment_ratio 1.00001",
            "node_timex_maxerror_seconds 16",
            "node_timex_status 8193",
            "node_timex_tick_seconds 0.01",
            "node_timex_tai_offset_seconds 37",
            "# TYPE node_timex_pps_stability_exceeded_total counter",
            "node_timex_pps_stability_exceeded_total 3",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn reads_this_host() {
        let t = read_timex().expect("adjtimex works unprivileged in read-only mode");
        assert!(t.tick > 0);
    }
}
