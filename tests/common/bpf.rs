//! What BPF objects a process holds and whether the kernel still has them: the
//! kill -9 tests of `drops` and `top` prove nothing outlives netkit.

use std::process::Command;
use std::time::{Duration, Instant};

/// Ids of the BPF objects process `pid` holds by descriptor; `kind` is the fdinfo
/// key: `prog_id`, `link_id` or `map_id`.
pub fn held_ids(pid: u32, kind: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return ids;
    };
    for e in dir.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for l in text.lines() {
            if let Some(v) = l.strip_prefix(&format!("{kind}:")) {
                if let Ok(id) = v.trim().parse() {
                    ids.push(id);
                }
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whether the kernel still has BPF object `id` of `kind` ("prog", "link", "map"):
/// bpftool when installed, else the ids held by any process (a program attached
/// by a link nobody holds would escape that, hence bpftool first).
pub fn kernel_has(kind: &str, id: u64) -> bool {
    if super::have("bpftool") {
        let out = Command::new("bpftool")
            .args(["-j", kind, "show", "id", &id.to_string()])
            .output()
            .expect("bpftool");
        return out.status.success();
    }
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| held_ids(pid, &format!("{kind}_id")).contains(&id))
}

/// Waits (10 s at most) until the kernel has none of `objects` (kind, ids) left,
/// else fails the test naming what is left. The kernel frees programs after an RCU
/// grace period, so a moment after the holder died some may still be there.
pub fn assert_all_freed(objects: &[(&str, &[u64])]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<(&str, u64)> = objects
            .iter()
            .flat_map(|(kind, ids)| ids.iter().map(move |id| (*kind, *id)))
            .filter(|(kind, id)| kernel_has(kind, *id))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left after kill -9: {left:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
