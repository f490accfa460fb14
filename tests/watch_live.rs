//! `netkit watch` on live traffic between two namespaces joined by a veth, against
//! `pcap analyze` of a tcpdump capture of the same interface taken at the same time.
//!
//! The server namespace answers WebSocket upgrades by path: `/ok` with a correct 101,
//! `/deny` with 403, `/plain` with 200 (the upgrade ignored), `/silent` never. Its
//! INPUT chain drops 8% of what arrives (iptables `statistic`), so TCP retransmits for
//! real. Each client is its own process, which holds its connection a moment after
//! the answer. The live run must give every upgrade the verdict the file analysis
//! gives it, the same TCP flag counts, and name the client process of every
//! rejected upgrade.
//!
//! Needs root, iproute2, iptables, tcpdump and python3; otherwise says why and skips.
//! Names carry a per-run suffix; a Drop guard removes the namespaces and kills every
//! process started, also after a failed assertion. Every step is bounded in time.

mod common;

use common::pair::{NsPair, Offloads};
use common::skip_reason;
use common::tmux::{tmux, wait_pane, TmuxSession};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One upgrade to PATH; prints "pid local_port", holds the connection 1 s.
const CLIENT: &str = r#"
import os, socket, sys, time
s = socket.create_connection(("10.233.0.2", 8080), timeout=10)
print(os.getpid(), s.getsockname()[1], flush=True)
s.sendall(b"GET " + sys.argv[1].encode() + b" HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          b"Sec-WebSocket-Version: 13\r\n\r\n" + b"x" * 2000)
s.settimeout(3)
try:
    s.recv(4096)
except OSError:
    pass
time.sleep(1)
s.close()
"#;

/// The tests capture and time things: one at a time, so neither starves the other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The two-namespace lab: clients in `a`, the WebSocket server in `b`.
fn new_lab(tag: &str) -> NsPair {
    NsPair::new("nkwatch", tag, "10.233.0", Offloads::Off)
}

fn start_server(lab: &mut NsPair) {
    let b = lab.b.clone();
    lab.start_lab_server(&b, "upgrade_server.py", &["8080", "0.5"]);
}

/// Runs one client in `a` to its end; returns (pid, local port).
fn client(lab: &NsPair, path: &str) -> (i64, u16) {
    let out = lab
        .exec(&lab.a, "python3")
        .args(["-c", CLIENT, path])
        .output()
        .expect("client");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let pid = it.next().and_then(|p| p.parse().ok()).expect("client pid");
    let port = it.next().and_then(|p| p.parse().ok()).expect("client port");
    (pid, port)
}

/// Stops the capture started in `lab` (tcpdump flushes every packet with -U), then
/// analyses its file with `pcap analyze --json` (and `--html` to `html` if given) and
/// removes it.
fn stop_and_analyze(lab: &NsPair, pcap: &std::path::Path, html: Option<&std::path::Path>) -> Value {
    lab.interrupt_children();
    std::thread::sleep(Duration::from_millis(500));
    let mut analyze = common::netkit();
    analyze.args(["pcap", "analyze", "--json"]).arg(pcap);
    if let Some(html) = html {
        analyze.arg("--html").arg(html);
    }
    let file = analyze.output().expect("pcap analyze");
    let _ = std::fs::remove_file(pcap);
    assert!(
        file.status.success(),
        "{}",
        String::from_utf8_lossy(&file.stderr)
    );
    serde_json::from_slice(&file.stdout).expect("pcap analyze --json")
}

/// Milliseconds from `earlier` to `later`, both RFC 3339 UTC with nanoseconds as netkit
/// writes them, on the same day.
fn lateness_ms(later: &str, earlier: &str) -> f64 {
    let secs = |t: &str| -> f64 {
        let clock = &t[11..t.len() - 1];
        let mut it = clock.split(':');
        let h: f64 = it.next().unwrap().parse().unwrap();
        let m: f64 = it.next().unwrap().parse().unwrap();
        let s: f64 = it.next().unwrap().parse().unwrap();
        h * 3600.0 + m * 60.0 + s
    };
    (secs(later) - secs(earlier)) * 1000.0
}

/// The NDJSON objects `watch` printed (its stderr in the message of a bad line).
fn json_lines(watch: &std::process::Output) -> Vec<Value> {
    let text = String::from_utf8_lossy(&watch.stdout);
    common::ndjson(text.lines(), &String::from_utf8_lossy(&watch.stderr))
}

#[test]
fn live_verdicts_flags_and_processes_equal_the_file_analysis() {
    if let Some(why) = skip_reason(&["ip", "iptables", "tcpdump", "python3"]) {
        eprintln!("skipping watch_live: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = new_lab("l");
    let ok = lab
        .exec(&lab.b, "iptables")
        .args([
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "8080",
            "-m",
            "statistic",
        ])
        .args(["--mode", "random", "--probability", "0.08", "-j", "DROP"])
        .status()
        .expect("iptables");
    assert!(ok.success(), "iptables rule");
    start_server(&mut lab);

    let pcap = std::env::temp_dir().join(format!("netkit-watch-{}.pcap", std::process::id()));
    let tcpdump = lab
        .exec(&lab.a, "tcpdump")
        .args(["-i", &lab.va, "-s", "0", "-U", "-w"])
        .arg(&pcap)
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    lab.children.push(tcpdump);
    let evidence = std::env::temp_dir().join(format!("netkit-watch-ev-{}", std::process::id()));
    let live_html = std::env::temp_dir().join(format!("netkit-watch-{}.html", std::process::id()));
    let file_html = live_html.with_extension("file.html");
    let _ = std::fs::remove_dir_all(&evidence);
    let watch = Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(["watch", "--json", "--netns", &lab.a, "-i", &lab.va])
        .args(["--duration", "14", "--summary-every", "2", "--write"])
        .arg(&evidence)
        .arg("--html")
        .arg(&live_html)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netkit watch");
    // Both captures open (tcpdump says so on stderr; watch within a second).
    std::thread::sleep(Duration::from_millis(1500));

    // 24 upgrades, a few at a time, each from its own process.
    let paths = ["/ok", "/deny", "/plain", "/silent"];
    let mut clients: Vec<(String, Child)> = Vec::new();
    let started = Instant::now();
    for i in 0..24 {
        let path = paths[i % paths.len()].to_string();
        let child = lab
            .exec(&lab.a, "python3")
            .args(["-c", CLIENT, &path])
            .stdout(Stdio::piped())
            .spawn()
            .expect("client");
        clients.push((path, child));
        std::thread::sleep(Duration::from_millis(150));
    }
    // port -> (path, pid)
    let mut by_port: BTreeMap<u16, (String, i64)> = BTreeMap::new();
    for (path, child) in clients {
        let out = child.wait_with_output().expect("client");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text.split_whitespace();
        let pid: i64 = it.next().and_then(|p| p.parse().ok()).expect("client pid");
        let port: u16 = it.next().and_then(|p| p.parse().ok()).expect("client port");
        by_port.insert(port, (path, pid));
    }
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "clients too slow: {:?} for 24 (the machine is too loaded for this test)",
        started.elapsed()
    );

    let watch = watch.wait_with_output().expect("watch");
    assert!(
        watch.status.success(),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    let events = json_lines(&watch);
    let file = stop_and_analyze(&lab, &pcap, Some(&file_html));

    // Every upgrade: the same verdict live and from the file.
    let port = |v: &Value| -> u16 {
        let c = v["client"].as_str().unwrap();
        c.rsplit(':').next().unwrap().parse().unwrap()
    };
    let live: BTreeMap<u16, &Value> = events
        .iter()
        .filter(|e| e["event"] == "upgrade")
        .map(|e| (port(e), e))
        .collect();
    let from_file: BTreeMap<u16, &str> = file["websocket"]["upgrades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (port(u), u["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(from_file.len(), 24, "{from_file:?}");
    assert_eq!(
        live.iter()
            .map(|(p, e)| (*p, e["verdict"].as_str().unwrap()))
            .collect::<BTreeMap<_, _>>(),
        from_file
    );
    for (p, e) in &live {
        let (path, pid) = &by_port[p];
        let want = match path.as_str() {
            "/ok" => "accepted",
            "/deny" => "rejected",
            "/plain" => "ignored",
            _ => "unanswered",
        };
        assert_eq!(e["verdict"], want, "{path}: {e}");
        if want == "rejected" {
            assert_eq!(e["process"]["pid"].as_i64(), Some(*pid), "{e}");
            assert_eq!(e["process"]["comm"], "python3");
        }
    }
    // How late each upgrade was reported after its answer was captured (bounded by the
    // ring's 1 ms hand-over, the analysis and the owner lookup).
    let mut late_ms: Vec<f64> = live
        .values()
        .filter_map(|e| Some(lateness_ms(e["ts"].as_str()?, e["response_ts"].as_str()?)))
        .collect();
    late_ms.sort_by(f64::total_cmp);
    assert_eq!(
        late_ms.len(),
        18,
        "every answered upgrade has its answer's time"
    );
    let worst = late_ms[late_ms.len() - 1];
    assert!(
        worst < 1000.0,
        "reported {worst} ms after the answer: {late_ms:?}"
    );
    eprintln!(
        "watch_live: upgrades reported {:.1} ms (median) and {:.1} ms (worst) after their answer",
        late_ms[late_ms.len() / 2],
        worst
    );
    // The failed ones are findings, with the process and the namespace.
    let rejected = events
        .iter()
        .filter(|e| e["event"] == "finding" && e["code"] == "websocket_rejected")
        .count();
    assert_eq!(rejected, 6);

    // --write: a pcapng file per finding, holding its connection, which pcap analyze
    // judges the same way; the finding and the process ride in packet comments.
    let mut files: Vec<_> = std::fs::read_dir(&evidence)
        .expect("evidence dir")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let rejected_files: Vec<_> = files
        .iter()
        .filter(|p| p.to_string_lossy().contains("websocket_rejected"))
        .collect();
    assert_eq!(rejected_files.len(), 6, "{files:?}");
    for f in &rejected_files {
        let out = common::netkit()
            .args(["pcap", "analyze", "--json"])
            .arg(f)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ups = v["websocket"]["upgrades"].as_array().unwrap();
        assert_eq!(ups.len(), 1, "{f:?}: {ups:?}");
        assert_eq!(ups[0]["verdict"], "rejected", "{f:?}");
        assert_eq!(v["capture"]["format"], "pcapng");
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains(&format!("{}/{}", lab.a, lab.va)),
            "interface name"
        );
        assert!(
            text.contains("websocket_rejected") && text.contains("pid "),
            "comment"
        );
    }
    let _ = std::fs::remove_dir_all(&evidence);

    // --html: written on exit, the same findings and stream graphs as the file's page.
    let live_page = std::fs::read_to_string(&live_html).expect("watch --html wrote its page");
    let file_page = std::fs::read_to_string(&file_html).expect("pcap analyze --html");
    let _ = std::fs::remove_file(&live_html);
    let _ = std::fs::remove_file(&file_html);
    // The code of each finding on a page (`<li class="finding ..."> ... <code>CODE</code>`).
    let codes = |page: &str| -> Vec<String> {
        page.split("class=\"finding ")
            .skip(1)
            .map(|f| {
                let text = f.split("<code>").nth(1).unwrap_or_default();
                text.chars().take_while(|c| *c != '<').collect()
            })
            .collect()
    };
    let findings = |page: &str| codes(page).len();
    let graphs = |page: &str| page.matches("<svg").count();
    assert!(findings(&live_page) >= 1, "no finding on watch's page");
    assert_eq!(
        codes(&live_page),
        codes(&file_page),
        "findings on the pages"
    );
    assert_eq!(
        graphs(&live_page),
        graphs(&file_page),
        "graphs on the pages"
    );
    assert!(live_page.contains("websocket_rejected"));
    eprintln!(
        "watch_live: --html page with {} findings and {} graphs, as pcap analyze --html's",
        findings(&live_page),
        graphs(&live_page)
    );

    // The last summary's TCP flags equal the file's.
    let last = events
        .iter()
        .rev()
        .find(|e| e["event"] == "summary")
        .expect("a summary");
    assert_eq!(last["last"], true);
    assert_eq!(last["dropped"]["kernel"], 0);
    assert_eq!(last["tcp"]["flags"], file["tcp"]["flags"]);
    assert_eq!(last["tcp"]["streams"], file["tcp"]["streams"]);
    // tcpdump starts before watch and stops after it: a stray frame outside the
    // traffic (neighbour discovery, an MLD report) may be in one capture only.
    let (live_frames, file_frames) = (
        last["frames"].as_i64().unwrap(),
        file["capture"]["frames"].as_i64().unwrap(),
    );
    assert!(
        (live_frames - file_frames).abs() <= 4,
        "live {live_frames} frames, file {file_frames}"
    );
    eprintln!(
        "watch_live: {} frames, {} retransmissions, verdicts equal on 24 upgrades",
        last["frames"], last["tcp"]["flags"]["retransmission"]
    );
}

#[test]
fn all_netns_picks_up_a_namespace_created_after_the_start() {
    if let Some(why) = skip_reason(&["ip", "python3"]) {
        eprintln!("skipping watch_live: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Every namespace, but only the interface the lab will create: other namespaces
    // on this machine (other tests' labs) are not this test's business.
    let veth = format!("nkwatchna{}", std::process::id() % 100_000);
    let watch = Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(["watch", "--json", "--all-netns", "-i", &veth])
        .args(["--duration", "9", "--summary-every", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netkit watch");
    std::thread::sleep(Duration::from_millis(1500));
    // Created after the start; found within about a second.
    let mut lab = new_lab("n");
    assert_eq!(lab.va, veth);
    start_server(&mut lab);
    std::thread::sleep(Duration::from_millis(2500));
    let (pid, port) = client(&lab, "/deny");
    let watch = watch.wait_with_output().expect("watch");
    let stderr = String::from_utf8_lossy(&watch.stderr);
    assert!(watch.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("namespace {} appeared", lab.a)),
        "{stderr}"
    );
    let events = json_lines(&watch);
    let upgrade = events
        .iter()
        .find(|e| {
            e["event"] == "upgrade"
                && e["netns"] == lab.a.as_str()
                && e["client"]
                    .as_str()
                    .is_some_and(|c| c.ends_with(&format!(":{port}")))
        })
        .unwrap_or_else(|| panic!("no upgrade from {} in {events:?}", lab.a));
    assert_eq!(upgrade["verdict"], "rejected");
    assert_eq!(upgrade["process"]["pid"].as_i64(), Some(pid));
}

/// top --findings: the pane shows the rejected upgrade with the client's process, as
/// watch's line does, and F hides it (the graph comes back).
#[test]
fn top_findings_pane_shows_a_rejected_upgrade_and_f_toggles_it() {
    if let Some(why) = skip_reason(&["ip", "python3", "tmux"]) {
        eprintln!("skipping top --findings: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = new_lab("p");
    start_server(&mut lab);
    let session = format!("nkwf{}", std::process::id());
    let _guard = TmuxSession::start(&session, 160, 30);
    let cmd = format!(
        "{} top --findings --netns {}",
        env!("CARGO_BIN_EXE_netkit"),
        lab.a
    );
    tmux(&["send-keys", "-t", &session, &cmd, "Enter"]);
    let pane = wait_pane(&session, "nothing found yet");
    assert!(pane.contains("(F hides)"), "no findings pane:\n{pane}");

    let (pid, port) = client(&lab, "/deny");
    let pane = wait_pane(&session, "websocket_rejected");
    let line = pane
        .lines()
        .find(|l| l.contains("websocket_rejected"))
        .unwrap_or_else(|| panic!("no rejected upgrade in the pane:\n{pane}"));
    assert!(line.contains(&format!("pid {pid} python3")), "{line}");
    assert!(line.contains(&lab.a), "{line}");
    assert!(pane.contains("1 finding "), "{pane}");
    // The accepted upgrade gets a line of its own, with its client port.
    let (_, ok_port) = client(&lab, "/ok");
    let pane = wait_pane(&session, &format!(":{ok_port} -> 10.233.0.2:8080 accepted"));
    assert!(
        pane.contains(&format!(":{ok_port} -> 10.233.0.2:8080 accepted")),
        "{pane}"
    );
    assert_ne!(port, ok_port);

    tmux(&["send-keys", "-t", &session, "F"]);
    let pane = wait_pane(&session, "last 60 s");
    assert!(
        pane.contains("last 60 s") && !pane.contains("websocket_rejected"),
        "F did not hide the pane:\n{pane}"
    );
    tmux(&["send-keys", "-t", &session, "q"]);
    wait_pane(&session, "READY$");
}

/// HTTP/2 over clear text, live: the RFC 8441 lab's Python h2 client and server
/// (tests/lab/h2_ws_*.py) on the loopback of a namespace, once with prior knowledge
/// and once starting with `Upgrade: h2c`. Each connection carries an extended CONNECT
/// answered 200 and one answered 403; watch must judge all four as `pcap analyze`
/// judges a tcpdump capture of the same loopback, with the HTTP/2 stream and the
/// client's process.
#[test]
fn h2c_extended_connects_are_judged_live_as_in_the_file() {
    if let Some(why) = skip_reason(&["ip", "tcpdump", "python3"]) {
        eprintln!("skipping watch_live h2c: {why}");
        return;
    }
    if !common::python_with("h2", "h2") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = new_lab("h");
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab");
    let port = "18441";
    let pcap = std::env::temp_dir().join(format!("netkit-watch-h2-{}.pcap", std::process::id()));
    let tcpdump = lab
        .exec(&lab.a, "tcpdump")
        .args(["-i", "lo", "-s", "0", "-U", "-w"])
        .arg(&pcap)
        .args(["tcp", "port", port])
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    lab.children.push(tcpdump);
    let watch = Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(["watch", "--json", "--netns", &lab.a, "-i", "lo"])
        .args(["--duration", "8", "--summary-every", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netkit watch");
    std::thread::sleep(Duration::from_millis(1500));

    // run order -> (mode, pid)
    let mut clients: BTreeMap<u16, (&str, i64)> = BTreeMap::new();
    for mode in ["prior-knowledge", "h2c"] {
        let mut server = lab
            .exec(&lab.a, "timeout")
            .arg("10")
            .arg("python3")
            .arg(scripts.join("h2_ws_server.py"))
            .arg(port)
            .stdout(Stdio::null())
            .spawn()
            .expect("h2 server");
        std::thread::sleep(Duration::from_millis(500));
        // The client prints nothing of its port: it is the one connection's, read
        // back from the capture below; `ip netns exec` execs python3, so this pid is
        // the client's.
        let mut client = lab.exec(&lab.a, "python3");
        client
            .arg(scripts.join("h2_ws_client.py"))
            .arg(port)
            .env("NKLAB_HOLD_S", "0.5");
        if mode == "h2c" {
            client.arg("h2c");
        }
        let client = client.stdout(Stdio::piped()).spawn().expect("h2 client");
        let pid = i64::from(client.id());
        let out = client.wait_with_output().expect("h2 client");
        assert!(out.status.success(), "{mode} client failed");
        let _ = server.wait();
        clients.insert(clients.len() as u16, (mode, pid));
    }

    let watch = watch.wait_with_output().expect("watch");
    assert!(
        watch.status.success(),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    let events = json_lines(&watch);
    let file = stop_and_analyze(&lab, &pcap, None);

    // (client, HTTP/2 stream) -> (method, path, status, verdict)
    let key = |u: &Value| {
        (
            u["client"].as_str().unwrap().to_string(),
            u["http2_stream"].as_u64(),
        )
    };
    let what = |u: &Value| {
        format!(
            "{} {} {} {}",
            u["method"], u["path"], u["status"], u["verdict"]
        )
    };
    let live: BTreeMap<_, _> = events
        .iter()
        .filter(|e| e["event"] == "upgrade")
        .map(|e| (key(e), e))
        .collect();
    let from_file: BTreeMap<_, _> = file["websocket"]["upgrades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (key(u), what(u)))
        .collect();
    assert_eq!(from_file.len(), 4, "{from_file:#?}");
    assert_eq!(
        live.iter()
            .map(|(k, e)| (k.clone(), what(e)))
            .collect::<BTreeMap<_, _>>(),
        from_file
    );
    // Prior knowledge: CONNECTs on streams 1 and 3; after the h2c upgrade (stream 1
    // is the upgraded GET) on 3 and 5. So a connection's first CONNECT tells which
    // client (and pid) it was.
    let mut first_stream: BTreeMap<&String, u64> = BTreeMap::new();
    for (client, h2_stream) in live.keys() {
        let s = h2_stream.expect("an HTTP/2 stream");
        let first = first_stream.entry(client).or_insert(s);
        *first = (*first).min(s);
    }
    assert_eq!(first_stream.len(), 2, "two connections: {first_stream:?}");
    for ((client, h2_stream), e) in &live {
        let first = first_stream[client];
        let mode = if first == 1 { "prior-knowledge" } else { "h2c" };
        let pid = clients.values().find(|(m, _)| *m == mode).unwrap().1;
        let (path, status, verdict) = if *h2_stream == Some(first) {
            ("/chat", 200, "accepted")
        } else {
            ("/forbidden", 403, "rejected")
        };
        assert_eq!(e["method"], "CONNECT", "{e}");
        assert_eq!(
            (e["path"].as_str(), e["status"].as_u64()),
            (Some(path), Some(status))
        );
        assert_eq!(e["verdict"], verdict, "{e}");
        assert_eq!(e["process"]["pid"].as_i64(), Some(pid), "{mode}: {e}");
        assert_eq!(e["process"]["comm"], "python3");
    }
    let last = events
        .iter()
        .rev()
        .find(|e| e["event"] == "summary")
        .expect("a summary");
    assert_eq!(last["tcp"]["flags"], file["tcp"]["flags"]);
    assert_eq!(last["websocket"]["accepted"], 2);
    assert_eq!(last["websocket"]["rejected"], 2);
    eprintln!(
        "watch_live h2c: 4 extended CONNECTs judged live as in the file, with their client process"
    );
}
