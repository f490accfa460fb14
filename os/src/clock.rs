//! The two clocks the engines are given (they never read one themselves): a monotonic
//! one for rates and ages, and the wall clock for timestamps people read.

/// Nanoseconds on the monotonic clock the live engine runs on.
pub fn monotonic_ns() -> i64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    // Offset by a day so that second 0 is never confused with "no data yet".
    i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX) + 86_400 * 1_000_000_000
}

/// Nanoseconds since the Unix epoch.
pub fn unix_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
