//! The wall clock, read only at the edges: the reader stamps frames with it and the
//! publisher measures latency with it. Stages in between take time from records.

/// Nanoseconds since the Unix epoch (`CLOCK_REALTIME`, through the vDSO: ~20 ns).
#[inline]
pub fn wall_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}
