//! The command-line contract: version, usage errors, clear one-line failures, shell
//! completions, and man pages that match the clap tree.

mod common;

use std::path::Path;

/// Text for roff: backslashes and hyphens escaped, no line read as a request.
fn roff_text(line: &str) -> String {
    let t = line.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// One page: clap_mangen's sections, then each `Heading:` block of the command's long
/// help epilogue (netkit::help: EXAMPLES, KEY BINDINGS) as a section of its own, and
/// EXIT STATUS on every page, before VERSION.
fn man_page(cmd: &clap::Command) -> Vec<u8> {
    let epilogue = cmd.get_after_long_help().map(|h| h.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(
        cmd.clone()
            .after_long_help(clap::builder::Resettable::Reset),
    )
    .render(&mut buf)
    .expect("render man page");
    let page = String::from_utf8(buf).expect("utf-8 man page");
    let mut extra = String::new();
    let blocks = epilogue.iter().flat_map(|e| e.split("\n\n"));
    let exit = format!("Exit status:\n{}", netkit::help::EXIT_STATUS);
    for block in blocks
        .filter(|b| !b.starts_with("Exit status:"))
        .chain([exit.as_str()])
    {
        let mut lines = block.lines();
        let heading = lines.next().unwrap_or_default().trim_end_matches(':');
        extra.push_str(&format!(".SH \"{}\"\n.nf\n", heading.to_uppercase()));
        for l in lines {
            extra.push_str(&roff_text(l));
            extra.push('\n');
        }
        extra.push_str(".fi\n");
    }
    let page = match page.find(".SH VERSION") {
        Some(at) => format!("{}{extra}{}", &page[..at], &page[at..]),
        None => format!("{page}{extra}"),
    };
    page.into_bytes()
}

/// Renders one man page per command and subcommand (`netkit.1`, `netkit-pcap.1`,
/// `netkit-pcap-show.1`, ...), as `git`'s pages are split.
fn render_man_pages() -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: clap::Command, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
        let name = if prefix.is_empty() {
            cmd.get_name().to_string()
        } else {
            format!("{prefix}-{}", cmd.get_name())
        };
        let cmd = cmd.name(name.clone());
        out.push((format!("{name}.1"), man_page(&cmd)));
        for sub in cmd.get_subcommands() {
            if sub.get_name() != "help" {
                walk(sub.clone(), &name, out);
            }
        }
    }
    let mut out = Vec::new();
    let mut root = netkit::help::command();
    root.build();
    walk(root, "", &mut out);
    out
}

#[test]
fn man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = render_man_pages();
    if std::env::var_os("NETKIT_BLESS_MAN").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "1") {
                std::fs::remove_file(p).unwrap();
            }
        }
        for (name, body) in &pages {
            std::fs::write(dir.join(name), body).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, body) in &pages {
        match std::fs::read(dir.join(name)) {
            Ok(on_disk) if on_disk == *body => {}
            _ => stale.push(name.clone()),
        }
    }
    let expected: Vec<&String> = pages.iter().map(|(n, _)| n).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let n = entry.unwrap().file_name().to_string_lossy().to_string();
        if n.ends_with(".1") && !expected.contains(&&n) {
            stale.push(format!("{n} (no such command any more)"));
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date: {stale:?}\nregenerate with: NETKIT_BLESS_MAN=1 cargo test --test cli man_pages"
    );
}

/// Issue 21 item 15: every page says its exit statuses, every command that does
/// something has examples, and top's page lists its keys.
#[test]
fn man_pages_have_examples_exit_status_and_top_keys() {
    for (name, body) in render_man_pages() {
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(".SH \"EXIT STATUS\""), "{name}");
        let groups = ["netkit-pcap.1", "netkit-mcast.1", "netkit-ns.1"];
        if !groups.contains(&name.as_str()) {
            assert!(text.contains(".SH \"EXAMPLES\""), "{name} has no EXAMPLES");
        }
        if name == "netkit-top.1" {
            assert!(text.contains(".SH \"KEY BINDINGS\""));
            for (key, _) in netkit_cmds::top::view::tui::KEY_BINDINGS {
                assert!(text.contains(&key.replace('-', "\\-")), "key {key}");
            }
        }
    }
}

#[test]
fn version_and_usage_errors() {
    let out = common::netkit().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("netkit "));
    let out = common::netkit()
        .args(["pcap", "frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn a_file_that_is_not_a_capture_is_one_line_and_exit_1() {
    let out = common::netkit()
        .args(["pcap", "analyze", "Cargo.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("netkit: ") && err.contains("Cargo.toml"),
        "{err}"
    );
    let out = common::netkit()
        .args(["pcap", "show", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

#[test]
fn bad_decode_as_is_a_clear_error() {
    let f = common::fixtures_dir().join("encap/tcpdump__vxlan.pcap");
    let out = common::netkit()
        .args(["pcap", "analyze", "--decode-as", "udp.port=8472:nonsense"])
        .arg(&f)
        .output()
        .unwrap();
    // A usage error, as the README says: exit 2, like clap's own.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown protocol 'nonsense'"), "{err}");
}

/// Arguments clap cannot check itself are usage errors too (exit 2), with one line.
#[test]
fn arguments_clap_cannot_check_exit_2() {
    for args in [
        &["top", "--json", "--interval", "0"][..],
        &[
            "top",
            "--json",
            "--write",
            "/nonexistent/x",
            "--write-seconds",
            "-1",
        ],
        &["route", "--table", "99999999999"],
    ] {
        let out = common::netkit().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "netkit {args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = common::netkit()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("netkit") && text.contains("analyze") && text.contains("decode-as"),
            "{shell} completions lack subcommands/flags"
        );
    }
}

#[test]
fn show_lists_frames_and_json_lines() {
    let f = common::fixtures_dir().join("encap/arkime__gre-erspan-vxlan.pcap");
    let out = common::netkit()
        .args(["pcap", "show", "-c", "2", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["frame"], 1);
    let layers: Vec<&str> = lines[0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        layers.contains(&"gre") && layers.contains(&"vxlan"),
        "{layers:?}"
    );
}

#[test]
fn stdin_is_read_with_dash() {
    use std::io::Write;
    use std::process::Stdio;
    let bytes = std::fs::read(common::fixtures_dir().join("cdp/tcpdump__3560_CDP.pcap")).unwrap();
    let mut child = common::netkit()
        .args(["pcap", "analyze", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // MANIFEST.tsv: 3 frames, all CDP
    assert_eq!(v["protocols"]["cdp"], 3);
    assert_eq!(v["capture"]["file"], "-");
}

#[test]
fn write_streams_keeps_the_failed_upgrade_conversation() {
    let dir = std::env::temp_dir().join(format!("netkit-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_file = dir.join("streams.pcapng");
    let f = common::fixtures_dir().join("lab/upgrade-rejected-403.pcap");
    let out = common::netkit()
        .args(["pcap", "analyze", "--json", "--write-streams"])
        .arg(&out_file)
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The written file holds only stream 8 of the original (the upgrade's connection,
    // 10 frames from its SYN to the last ACK) and analyses to the same verdict.
    let again = common::netkit()
        .args(["pcap", "analyze", "--json"])
        .arg(&out_file)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["capture"]["format"], "pcapng");
    assert_eq!(v["capture"]["frames"], 10);
    assert_eq!(v["tcp"]["streams"], 1);
    assert_eq!(v["websocket"]["upgrades"][0]["verdict"], "rejected");
    assert_eq!(v["websocket"]["upgrades"][0]["status"], 403);
    std::fs::remove_dir_all(&dir).unwrap();
    // Standard input cannot be read twice.
    let out = common::netkit()
        .args(["pcap", "analyze", "--write-streams", "/dev/null", "-"])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// `--list-findings` prints the registry, as text and as JSON, and docs/CLI.md's table
/// of codes (the contract) lists exactly the same codes, severities and sections.
#[test]
fn list_findings_matches_the_contract() {
    let out = common::netkit()
        .args(["pcap", "analyze", "--list-findings", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: Vec<(String, String, String)> = listed
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| {
            let severities: Vec<&str> = e["severities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            assert!(!e["meaning"].as_str().unwrap().is_empty());
            assert!(!e["next"].as_str().unwrap().is_empty());
            (
                e["code"].as_str().unwrap().to_string(),
                severities.join(" or "),
                e["section"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(listed.len() >= 18, "{listed:?}");

    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/CLI.md")).unwrap();
    let documented: Vec<(String, String, String)> = doc
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.strip_prefix("| `")?.split(" | ").collect();
            let [code, severity, section] = cells[..] else {
                return None;
            };
            Some((
                code.trim_end_matches('`').to_string(),
                severity.to_string(),
                section.trim_end_matches(" |").to_string(),
            ))
        })
        .collect();
    assert_eq!(
        documented, listed,
        "docs/CLI.md's findings table is out of date"
    );

    let text = common::netkit()
        .args(["pcap", "analyze", "--list-findings"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    for (code, _, _) in &listed {
        assert!(
            text.contains(&format!("{code}  (")),
            "{code} missing from {text}"
        );
    }
}

/// Issue 21 item 15: bash completes namespace names (`host` and /run/netns) after
/// `--netns`/`-N`, and `completions` says how to install the script (on stderr).
#[test]
fn completions_offer_namespace_names_and_an_install_hint() {
    let out = common::netkit()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let hint = String::from_utf8_lossy(&out.stderr);
    assert!(
        hint.contains("to install: netkit completions bash > "),
        "{hint}"
    );
    let script = std::env::temp_dir().join(format!("nk-compl-{}.bash", std::process::id()));
    std::fs::write(&script, &out.stdout).unwrap();
    // A namespace to be offered, when this run may make one.
    let ns = format!("nkcompl{}", std::process::id());
    let made = common::is_root()
        && std::process::Command::new("ip")
            .args(["netns", "add", &ns])
            .status()
            .is_ok_and(|s| s.success());
    let complete = |words: &str| -> String {
        let cw = words.split_whitespace().count();
        let prev = words.split_whitespace().last().unwrap_or_default();
        // As bash calls it: COMP_* set, and (command, word, previous word) as arguments.
        let prog = format!(
            "source {}; COMP_WORDS=({words} ''); COMP_CWORD={cw}; COMP_LINE='{words} '; \
             COMP_POINT=${{#COMP_LINE}}; _netkit netkit '' {prev}; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "-c", &prog])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let got_n = complete("netkit ss -N");
    let got_top = complete("netkit top --netns");
    if made {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &ns])
            .status();
    }
    let _ = std::fs::remove_file(&script);
    for got in [&got_n, &got_top] {
        let names: Vec<&str> = got.lines().collect();
        assert!(names.contains(&"host"), "{got}");
        if made {
            assert!(names.contains(&ns.as_str()), "{got}");
        }
    }
    for shell in ["zsh", "fish"] {
        let out = common::netkit()
            .args(["completions", shell])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("/run/netns"), "{shell}: no namespace names");
    }
}

/// Issue 21 item 15: counts read right ("1 stream", not "1 streams").
#[test]
fn counts_of_one_are_singular() {
    let f = common::fixtures_dir().join("tcp/arkime__wireshark-retrans.pcap");
    let out = common::netkit()
        .args(["pcap", "analyze"])
        .arg(&f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TCP: 1 stream;"), "{text}");
    let out = common::netkit()
        .args(["mcast", "check", "239.192.1.1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("1 group: "), "{text}");
    assert!(!text.contains("(s)"), "{text}");
}

/// Issue 21 item 8: `top` without a terminal says that --json is the way, at once,
/// in one line (not the OS's "No such device or address").
#[test]
fn top_without_a_terminal_points_to_json() {
    let out = common::netkit()
        .arg("top")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("needs a terminal") && err.contains("netkit top --json"),
        "{err}"
    );
    assert!(!err.contains("No such device"), "{err}");
}
