//! A small reader of BTF (the kernel's BPF Type Format, include/uapi/linux/btf.h) that
//! finds one enum's names and values: `netkit drops` names each drop reason from the
//! running kernel's `enum skb_drop_reason` in /sys/kernel/btf/vmlinux, so a kernel
//! that adds or renumbers reasons is read correctly without a table in netkit.
//!
//! Only what is needed to walk the type section is decoded: every kind's size, so a
//! type can be skipped; enums (and enum64s) are read. Input is untrusted as far as
//! this module goes (fuzz/fuzz_targets/btf_enum.rs): any length or offset may be
//! wrong, and every one is checked.

use std::collections::BTreeMap;

const MAGIC: u16 = 0xeb9f;

/// Why a BTF blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfParseError {
    #[error("not BTF (bad magic or header)")]
    BadHeader,
    #[error("BTF is truncated: {0}")]
    Truncated(&'static str),
    #[error("BTF type {index} has unknown kind {kind}")]
    UnknownKind { index: u32, kind: u32 },
    #[error("no enum named {0} in the kernel's BTF")]
    NoSuchEnum(String),
}

/// Little-endian only (the BTF of the running kernel is in its own byte order; the
/// magic read the other way round says it is foreign, and that is refused).
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn str_at(strings: &[u8], off: u32) -> Option<&str> {
    let rest = strings.get(off as usize..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// The values of the enum called `name`, value -> variant name. When several
/// variants share a value the first is kept.
pub fn enum_values(btf: &[u8], name: &str) -> Result<BTreeMap<i64, String>, BtfParseError> {
    if btf.len() < 24 || u16::from_le_bytes([btf[0], btf[1]]) != MAGIC {
        return Err(BtfParseError::BadHeader);
    }
    let hdr_len = u32_at(btf, 4).ok_or(BtfParseError::BadHeader)? as usize;
    let field = |i: usize| u32_at(btf, 8 + 4 * i).map(|v| v as usize);
    let (Some(type_off), Some(type_len), Some(str_off), Some(str_len)) =
        (field(0), field(1), field(2), field(3))
    else {
        return Err(BtfParseError::BadHeader);
    };
    if hdr_len < 24 {
        return Err(BtfParseError::BadHeader);
    }
    let section = |off: usize, len: usize, what| {
        hdr_len
            .checked_add(off)
            .and_then(|start| Some((start, start.checked_add(len)?)))
            .and_then(|(start, end)| btf.get(start..end))
            .ok_or(BtfParseError::Truncated(what))
    };
    let types = section(type_off, type_len, "type section")?;
    let strings = section(str_off, str_len, "string section")?;

    let mut at = 0usize;
    let mut index = 1u32;
    while at < types.len() {
        let truncated = BtfParseError::Truncated("type record");
        let name_off = u32_at(types, at).ok_or(truncated.clone())?;
        let info = u32_at(types, at + 4).ok_or(truncated.clone())?;
        let vlen = (info & 0xffff) as usize;
        let kind = (info >> 24) & 0x1f;
        let kflag = info >> 31 == 1;
        at += 12;
        // The bytes after the 12-byte common part, by kind (btf.h).
        let extra = match kind {
            1 | 14 | 17 => 4,          // INT, VAR, DECL_TAG
            3 => 12,                   // ARRAY
            4 | 5 => vlen * 12,        // STRUCT, UNION
            6 | 13 => vlen * 8,        // ENUM, FUNC_PROTO
            15 | 19 => vlen * 12,      // DATASEC, ENUM64
            2 | 7..=12 | 16 | 18 => 0, // PTR, FWD, TYPEDEF, ..., TYPE_TAG
            _ => return Err(BtfParseError::UnknownKind { index, kind }),
        };
        let body = types.get(at..at + extra).ok_or(truncated)?;
        if (kind == 6 || kind == 19) && str_at(strings, name_off) == Some(name) {
            let signed = kflag;
            let step = if kind == 6 { 8 } else { 12 };
            let mut out = BTreeMap::new();
            for member in body.chunks_exact(step) {
                let Some(variant) = u32_at(member, 0).and_then(|o| str_at(strings, o)) else {
                    continue;
                };
                let lo = u32_at(member, 4).unwrap_or(0);
                let value = if kind == 6 {
                    if signed {
                        i64::from(lo as i32)
                    } else {
                        i64::from(lo)
                    }
                } else {
                    let hi = u32_at(member, 8).unwrap_or(0);
                    ((u64::from(hi) << 32) | u64::from(lo)) as i64
                };
                out.entry(value).or_insert_with(|| variant.to_string());
            }
            return Ok(out);
        }
        at += extra;
        index = index.saturating_add(1);
    }
    Err(BtfParseError::NoSuchEnum(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob with one INT, one STRUCT (one member) and one ENUM, built by hand.
    pub(crate) fn sample() -> Vec<u8> {
        let strings = b"\0int\0s\0m\0reason\0A_ONE\0A_TWO\0";
        let s = |needle: &str| {
            let pos = strings
                .windows(needle.len() + 1)
                .position(|w| &w[..needle.len()] == needle.as_bytes() && w[needle.len()] == 0)
                .unwrap();
            pos as u32
        };
        let mut types = Vec::new();
        let mut push = |v: u32| types.extend_from_slice(&v.to_le_bytes());
        // [1] INT "int" size 4, encoding word
        push(s("int"));
        push(1 << 24);
        push(4);
        push(32);
        // [2] STRUCT "s" vlen 1 size 4, member m type 1 offset 0
        push(s("s"));
        push((4 << 24) | 1);
        push(4);
        push(s("m"));
        push(1);
        push(0);
        // [3] ENUM "reason" vlen 2 size 4
        push(s("reason"));
        push((6 << 24) | 2);
        push(4);
        push(s("A_ONE"));
        push(1);
        push(s("A_TWO"));
        push(2);
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn an_enum_is_found_past_other_kinds() {
        let names = enum_values(&sample(), "reason").unwrap();
        assert_eq!(names.get(&1).map(String::as_str), Some("A_ONE"));
        assert_eq!(names.get(&2).map(String::as_str), Some("A_TWO"));
        assert_eq!(
            enum_values(&sample(), "nope"),
            Err(BtfParseError::NoSuchEnum("nope".into()))
        );
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let blob = sample();
        for cut in 0..blob.len() {
            let _ = enum_values(&blob[..cut], "reason");
        }
        assert_eq!(enum_values(b"\x9f\xeb", "x"), Err(BtfParseError::BadHeader));
        let mut bad_kind = blob.clone();
        bad_kind[24 + 7] = 30; // the INT's kind byte
        assert!(matches!(
            enum_values(&bad_kind, "reason"),
            Err(BtfParseError::UnknownKind { .. })
        ));
    }

    /// The running kernel's own reasons, when it has BTF.
    #[test]
    fn the_running_kernel_names_its_drop_reasons() {
        let Ok(blob) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux");
            return;
        };
        let names = enum_values(&blob, "skb_drop_reason").unwrap();
        assert!(names
            .values()
            .any(|n| n == "SKB_DROP_REASON_NETFILTER_DROP"));
        assert!(names.values().any(|n| n == "SKB_CONSUMED"));
    }
}
