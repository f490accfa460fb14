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
    /// Records this frame completed, decrypted (`--tls-keylog`); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decrypted: Vec<Decrypted>,
}

/// One TLS record decrypted with `--tls-keylog`, under the frame that completed it.
#[derive(Debug, Clone, Serialize)]
pub struct Decrypted {
    /// `client` or `server` (the TCP analysis's roles of the stream), or `unknown`.
    pub from: &'static str,
    /// Application bytes in the record.
    pub bytes: usize,
    /// Its first line when that is an HTTP/1.x request or status line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}
