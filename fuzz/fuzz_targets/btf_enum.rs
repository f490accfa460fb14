//! The BTF enum reader (`netkit_os::bpf::btf`) that names `netkit drops`' reasons from
//! /sys/kernel/btf/vmlinux: whatever the blob, an error or names, never a panic.
//! Seeds: the .BTF sections of bpf/*.bpf.o (fuzz/make-seeds.py).
#![no_main]
use libfuzzer_sys::fuzz_target;
use netkit_os::bpf::btf::enum_values;

fuzz_target!(|data: &[u8]| {
    let _ = enum_values(data, "skb_drop_reason");
    // An anonymous enum has the empty name: the first one found is read.
    let _ = enum_values(data, "");
});
