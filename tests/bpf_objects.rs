//! The committed BPF objects (bpf/*.bpf.o, embedded in netkit) are what their sources
//! compile to: bpf/build.sh rebuilds them into a scratch directory and each must be
//! byte-identical to the committed one. Only meaningful with the compiler that made
//! them (bpf/TOOLCHAIN's first line): another clang version makes other code, so the
//! test then says so and skips; without clang it skips too. bpf/build.sh is
//! deterministic (no paths or times in the objects): the same clang gives the same
//! bytes on any machine.

use std::path::Path;
use std::process::Command;

#[test]
fn committed_bpf_objects_match_their_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bpf = root.join("bpf");
    let Ok(version) = Command::new("clang").arg("--version").output() else {
        eprintln!("skipping bpf_objects: clang is not installed (bpf/build.sh needs it)");
        return;
    };
    let version = String::from_utf8_lossy(&version.stdout);
    let version = version.lines().next().unwrap_or("").trim().to_string();
    let recorded = std::fs::read_to_string(bpf.join("TOOLCHAIN")).expect("bpf/TOOLCHAIN");
    let recorded = recorded.lines().next().unwrap_or("").trim().to_string();
    if version != recorded {
        eprintln!(
            "skipping bpf_objects: the objects were built with `{recorded}`, this is \
             `{version}`; run bpf/build.sh and commit if the sources changed"
        );
        return;
    }
    if !Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        eprintln!("skipping bpf_objects: libbpf-dev (bpf_helpers.h) is not installed");
        return;
    }
    let scratch = std::env::temp_dir().join(format!("netkit-bpf-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(bpf.join("build.sh"))
        .arg(&scratch)
        .output()
        .expect("bpf/build.sh");
    assert!(
        out.status.success(),
        "bpf/build.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut checked = 0;
    for entry in std::fs::read_dir(&bpf).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".bpf.c") {
            continue;
        }
        let obj = name.replace(".bpf.c", ".bpf.o");
        let committed = std::fs::read(bpf.join(&obj))
            .unwrap_or_else(|e| panic!("bpf/{obj} is not committed: {e}"));
        let rebuilt = std::fs::read(scratch.join(&obj)).expect("rebuilt object");
        assert!(
            committed == rebuilt,
            "bpf/{obj} does not match bpf/{name}: run bpf/build.sh and commit the object"
        );
        checked += 1;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(checked > 0, "no bpf/*.bpf.c found");
    eprintln!("bpf_objects: {checked} object(s) match their sources");
}
