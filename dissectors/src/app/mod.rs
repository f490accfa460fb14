//! Application and control payloads identified by the frame dissector.

pub mod http;

use crate::frame::{AppProto, Layer};

/// The census key for an application layer.
pub fn census_name(proto: AppProto, _data: &[u8]) -> &'static str {
    proto.name()
}

/// One-line description of an application layer.
pub fn summarize(layer: &Layer<'_>) -> String {
    match layer {
        Layer::App { proto, data, .. } => {
            format!("{} ({} bytes)", proto.name().to_uppercase(), data.len())
        }
        other => other.name().to_string(),
    }
}
