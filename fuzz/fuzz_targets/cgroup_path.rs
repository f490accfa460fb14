//! `netkit top`'s container naming from cgroup text (`/proc/PID/cgroup` and bare cgroup
//! paths) must never panic, whatever a file or a BPF-reported path holds: ids of any
//! length, stray colons, escapes cut short, non-UTF-8 turned into replacement chars.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_cmds::top::container::{from_cgroup_path, from_proc_cgroup};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let needle = text.lines().next().unwrap_or_default();
    if let Some((c, path)) = from_proc_cgroup(&text) {
        // The path it came from names the same container on its own.
        assert_eq!(from_cgroup_path(&path).as_ref(), Some(&c));
        let _ = c.matches(needle);
        let _ = c.short_id();
    }
    for line in text.lines() {
        if let Some(c) = from_cgroup_path(line) {
            let _ = c.matches(needle);
        }
    }
});
