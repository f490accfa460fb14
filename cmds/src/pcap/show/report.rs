//! What `pcap show --json` prints per frame (one object per line).

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct FrameLine {
    /// The capture file, when `pcap show` was given several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub frame: u64,
    pub ts: String,
    /// Seconds since the first frame shown.
    pub time: f64,
    pub len: u32,
    pub caplen: usize,
    pub layers: Vec<&'static str>,
    /// The layer stack as `pcap show` prints it (`eth/ipv4/tcp`); not in the JSON.
    #[serde(skip)]
    pub stack: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
