//! The TLS lab (issue 17), built live by the test (root only): the clear-text HAProxy
//! lab's topology (tests/lab/haproxy-websocket.sh: client, proxy and server
//! namespaces joined by veths, offloads off, 3% random loss on the proxy's inbound
//! side with `iptables -m statistic`), but HAProxy terminates TLS with a self-signed
//! certificate openssl makes at test time, in front of the same WebSocket echo server
//! (tests/lab/ws_server.py). Per case, with tcpdump on the client's veth:
//! a python `websockets` client upgrades over wss:// (tests/lab/wss_lab_client.py,
//! ssl.SSLContext.keylog_filename) while curl makes background requests over https://
//! (SSLKEYLOGFILE, one key log per curl). Modes as in the clear-text lab: reject
//! (`http-request deny deny_status 403`), silent (`http-request silent-drop`) and ok
//! (passed to the echo server), each over TLS 1.2 and TLS 1.3 (HAProxy's
//! ssl-min-ver/ssl-max-ver, and the clients' own limits). Five more cases force one
//! TLS 1.2 AES-CBC suite each (HAProxy's bind `ciphers`, the clients' cipher lists):
//! ECDHE_RSA and ECDHE_ECDSA (an ECDSA certificate made the same way) and RSA key
//! exchange, HMAC-SHA1/256/384, with encrypt-then-MAC (OpenSSL's default) or without
//! (the python client's SSL_OP_NO_ENCRYPT_THEN_MAC, an OPENSSL_CONF for curl), each
//! checked like the others plus its suite, and tshark's view of each ServerHello's
//! encrypt_then_mac extension.
//!
//! Checked on every capture:
//! - with the key logs (`--tls-keylog`, once per file): the upgrade's verdict is the
//!   clear-text lab's for the mode (rejected / unanswered / accepted, 8 messages and
//!   close 1000), its finding comes first at error severity, every TLS connection is
//!   decrypted with no authentication failure and no session lacks keys;
//! - against `tshark -o tls.keylog_file:F` on the same frames: the upgrade's request
//!   frame and stream, its Upgrade header, the answer's status (and frame for the 101),
//!   and every decrypted HTTP request and status line `pcap show --tls-keylog` prints;
//! - without the key log: no upgrade is seen, and the tls section's hello frames,
//!   versions, SNI, ALPN and alerts equal tshark's fields (tests/common/tls_fields.rs);
//!   every connection has the forced version.
//!
//! Namespaces are named nk17l-*, removed on Drop (also when the test fails).

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NS_CLI: &str = "nk17l-cli";
const NS_PX: &str = "nk17l-px";
const NS_SRV: &str = "nk17l-srv";
const PROXY: &str = "10.117.1.1";
/// The python with the `websockets` package (Debian's python3-websockets); a pyenv
/// python first on the PATH may lack it.
const PYTHON: &str = "/usr/bin/python3";
/// Drop probability on the proxy's inbound side, as in the clear-text lab.
const LOSS: &str = "0.03";
const MAX_ATTEMPTS: usize = 4;

/// Kills the processes the lab started and removes its namespaces (with them the
/// veths, rules and sockets) and scratch directory, also when the test fails.
struct Lab {
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [NS_CLI, NS_PX, NS_SRV] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if std::env::var_os("NK17L_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("lab_tls: keeping {}", self.dir.display());
        }
    }
}

fn sh(ns: &str, cmd: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", cmd])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{ns}: {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn spawn_in(ns: &str, cmd: &str, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", &format!("exec {cmd}")])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Reject,
    Silent,
    Ok,
}

struct Case {
    mode: Mode,
    tls: &'static str,
    port: u16,
    /// A TLS 1.2 CBC case: the OpenSSL name of the one suite HAProxy and the clients
    /// allow, its IANA name (what the tls section reports), whether the clients offer
    /// encrypt-then-MAC (RFC 7366, OpenSSL's default) and whether HAProxy serves the
    /// ECDSA certificate.
    cbc: Option<Cbc>,
}

#[derive(Clone, Copy)]
struct Cbc {
    openssl: &'static str,
    iana: &'static str,
    etm: bool,
    ecdsa: bool,
}

impl Case {
    fn name(&self) -> String {
        match &self.cbc {
            None => format!("{:?}-tls{}", self.mode, self.tls).to_lowercase(),
            Some(c) => format!(
                "{:?}-{}-{}",
                self.mode,
                c.openssl,
                if c.etm { "etm" } else { "mte" }
            )
            .to_lowercase(),
        }
    }
    /// What the client's log says when the recording shows the case's story (the
    /// random loss can, rarely, change it: then the case is recorded again).
    fn expect(&self) -> &'static str {
        match self.mode {
            Mode::Reject => "upgrade answer: 403",
            // Silence until the client gives up, or (see wss_lab_client.py) an RST.
            Mode::Silent => "no answer",
            Mode::Ok => "closed: 1000",
        }
    }
    /// The clear-text lab's verdict and first finding for the same mode.
    fn verdict(&self) -> (&'static str, Option<&'static str>) {
        match self.mode {
            Mode::Reject => ("rejected", Some("websocket_rejected")),
            Mode::Silent => ("unanswered", Some("websocket_unanswered")),
            Mode::Ok => ("accepted", None),
        }
    }
}

const CASES: [Case; 11] = [
    Case {
        mode: Mode::Reject,
        tls: "1.2",
        port: 8412,
        cbc: None,
    },
    Case {
        mode: Mode::Reject,
        tls: "1.3",
        port: 8413,
        cbc: None,
    },
    Case {
        mode: Mode::Silent,
        tls: "1.2",
        port: 8422,
        cbc: None,
    },
    Case {
        mode: Mode::Silent,
        tls: "1.3",
        port: 8423,
        cbc: None,
    },
    Case {
        mode: Mode::Ok,
        tls: "1.2",
        port: 8432,
        cbc: None,
    },
    Case {
        mode: Mode::Ok,
        tls: "1.3",
        port: 8433,
        cbc: None,
    },
    Case {
        mode: Mode::Ok,
        tls: "1.2",
        port: 8442,
        cbc: Some(Cbc {
            openssl: "ECDHE-RSA-AES128-SHA",
            iana: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            etm: true,
            ecdsa: false,
        }),
    },
    Case {
        mode: Mode::Ok,
        tls: "1.2",
        port: 8443,
        cbc: Some(Cbc {
            openssl: "ECDHE-RSA-AES256-SHA384",
            iana: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
            etm: false,
            ecdsa: false,
        }),
    },
    Case {
        mode: Mode::Reject,
        tls: "1.2",
        port: 8444,
        cbc: Some(Cbc {
            openssl: "ECDHE-ECDSA-AES128-SHA256",
            iana: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
            etm: false,
            ecdsa: true,
        }),
    },
    Case {
        mode: Mode::Ok,
        tls: "1.2",
        port: 8445,
        cbc: Some(Cbc {
            openssl: "ECDHE-ECDSA-AES256-SHA",
            iana: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            etm: true,
            ecdsa: true,
        }),
    },
    Case {
        mode: Mode::Silent,
        tls: "1.2",
        port: 8446,
        cbc: Some(Cbc {
            openssl: "AES256-SHA",
            iana: "TLS_RSA_WITH_AES_256_CBC_SHA",
            etm: true,
            ecdsa: false,
        }),
    },
];

fn haproxy_cfg(dir: &Path) -> String {
    let mut cfg = String::from(
        "global\n    maxconn 512\n\ndefaults\n    mode http\n    option http-keep-alive\n\
         \x20   timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
         \x20   timeout http-request 5s\n    timeout tunnel 30s\n\n\
         backend ws_echo\n    server echo 10.117.2.2:9000\n\n",
    );
    for c in &CASES {
        let v = if c.tls == "1.2" { "TLSv1.2" } else { "TLSv1.3" };
        let (pem, ciphers) = match &c.cbc {
            None => (dir.join("lab.pem"), String::new()),
            Some(cbc) => (
                dir.join(if cbc.ecdsa { "lab-ec.pem" } else { "lab.pem" }),
                format!(" ciphers {}", cbc.openssl),
            ),
        };
        cfg += &format!(
            "frontend {}\n    bind {PROXY}:{} ssl crt {} alpn http/1.1 ssl-min-ver {v} ssl-max-ver {v}{ciphers}\n",
            c.name(),
            c.port,
            pem.display()
        );
        cfg += "    acl is_socket path /socket\n";
        match c.mode {
            Mode::Reject => cfg += "    http-request deny deny_status 403 if is_socket\n",
            Mode::Silent => cfg += "    http-request silent-drop if is_socket\n",
            Mode::Ok => {}
        }
        cfg += "    default_backend ws_echo\n\n";
    }
    cfg
}

fn build(here: &Path) -> Lab {
    // Leftovers of a run that was killed before its Drop.
    for ns in [NS_CLI, NS_PX, NS_SRV] {
        let _ = Command::new("ip")
            .args(["netns", "del", ns])
            .stderr(Stdio::null())
            .status();
    }
    let dir = std::env::temp_dir().join(format!("nk17l-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut lab = Lab {
        dir: dir.clone(),
        children: Vec::new(),
    };
    for ns in [NS_CLI, NS_PX, NS_SRV] {
        common::ip(&["netns", "add", ns]);
        sh(ns, "ip link set lo up");
    }
    common::ip(&[
        "link", "add", "nk17l-c0", "netns", NS_CLI, "type", "veth", "peer", "name", "nk17l-p0",
        "netns", NS_PX,
    ]);
    common::ip(&[
        "link", "add", "nk17l-p1", "netns", NS_PX, "type", "veth", "peer", "name", "nk17l-s0",
        "netns", NS_SRV,
    ]);
    for (ns, dev, addr) in [
        (NS_CLI, "nk17l-c0", "10.117.1.2/24"),
        (NS_PX, "nk17l-p0", "10.117.1.1/24"),
        (NS_PX, "nk17l-p1", "10.117.2.1/24"),
        (NS_SRV, "nk17l-s0", "10.117.2.2/24"),
    ] {
        // Offloads off, as in the clear-text lab: MTU-sized segments in the capture.
        sh(
            ns,
            &format!(
                "ip addr add {addr} dev {dev} && ip link set {dev} up && \
                 (ethtool -K {dev} tso off gso off gro off >/dev/null 2>&1 || true)"
            ),
        );
    }
    sh(
        NS_PX,
        &format!(
            "iptables -A INPUT -i nk17l-p0 -m statistic --mode random --probability {LOSS} -j DROP"
        ),
    );
    // The certificate: made now, valid for lab.example (the SNI and Host the clients use).
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=lab.example"])
        .args(["-addext", "subjectAltName=DNS:lab.example"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "openssl req");
    let pem = std::fs::read_to_string(dir.join("cert.pem")).unwrap()
        + &std::fs::read_to_string(dir.join("key.pem")).unwrap();
    std::fs::write(dir.join("lab.pem"), pem).unwrap();
    // An ECDSA (P-256) certificate for the ECDHE_ECDSA CBC cases.
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args(["-subj", "/CN=lab.example"])
        .args(["-addext", "subjectAltName=DNS:lab.example"])
        .arg("-keyout")
        .arg(dir.join("ec-key.pem"))
        .arg("-out")
        .arg(dir.join("ec-cert.pem"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "openssl req (ECDSA)");
    let pem = std::fs::read_to_string(dir.join("ec-cert.pem")).unwrap()
        + &std::fs::read_to_string(dir.join("ec-key.pem")).unwrap();
    std::fs::write(dir.join("lab-ec.pem"), pem).unwrap();
    // curl has no switch for encrypt-then-MAC: an OpenSSL configuration its library
    // loads (OPENSSL_CONF) turns the option off for the CBC cases that want MAC-then-
    // encrypt.
    std::fs::write(
        dir.join("no-etm.cnf"),
        "openssl_conf = nk_lab\n[nk_lab]\nssl_conf = nk_ssl\n[nk_ssl]\n\
         system_default = nk_no_etm\n[nk_no_etm]\nOptions = -EncryptThenMac\n",
    )
    .unwrap();
    std::fs::write(dir.join("haproxy.cfg"), haproxy_cfg(&dir)).unwrap();
    std::fs::write(dir.join("body"), vec![b'u'; 10_000]).unwrap();

    let server = spawn_in(
        NS_SRV,
        &format!(
            "{PYTHON} {} --port 9000",
            here.join("ws_server.py").display()
        ),
        &dir.join("server.log"),
    );
    lab.children.push(server);
    let haproxy = spawn_in(
        NS_PX,
        &format!("haproxy -db -f {}", dir.join("haproxy.cfg").display()),
        &dir.join("haproxy.log"),
    );
    lab.children.push(haproxy);
    // Bounded wait until HAProxy and the backend accept connections.
    let probe = format!(
        "{PYTHON} -c \"import socket; socket.create_connection(('{PROXY}', 8433), 1).close()\""
    );
    let backend = format!(
        "{PYTHON} -c \"import socket; socket.create_connection(('10.117.2.2', 9000), 1).close()\""
    );
    let up = |ns: &str, cmd: &str| {
        Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", cmd])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let t0 = Instant::now();
    while !(up(NS_CLI, &probe) && up(NS_PX, &backend)) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "HAProxy or the echo server did not come up: {}",
            std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    lab
}

/// A recording: the capture, the key logs (websockets client first, then one per
/// curl) and the client's log.
struct Recording {
    pcap: PathBuf,
    keys: Vec<PathBuf>,
    /// All key logs in one file, for tshark (which takes one).
    all_keys: PathBuf,
    client_log: String,
    /// HTTP status codes the curls printed (one per request answered).
    curl_answers: usize,
}

fn record(lab: &mut Lab, here: &Path, case: &Case, attempt: usize) -> Recording {
    let name = format!("{}-{attempt}", case.name());
    let d = lab.dir.clone();
    let pcap = d.join(format!("{name}.pcap"));
    let dump_log = d.join(format!("{name}.tcpdump.log"));
    let dump = spawn_in(
        NS_CLI,
        &format!(
            "tcpdump -i nk17l-c0 -s 0 --immediate-mode -U -Z root -w {} 'tcp port {}'",
            pcap.display(),
            case.port
        ),
        &dump_log,
    );
    // Held by the lab until stopped, so a failing assertion still ends it.
    lab.children.push(dump);
    let t0 = Instant::now();
    while !std::fs::read_to_string(&dump_log)
        .unwrap_or_default()
        .contains("listening on")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "tcpdump did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Background https requests on keep-alive connections, as the clear-text lab's
    // client makes: 3 curls downloading /data twice, 2 uploading 10 kB twice.
    let mut tls_flags = format!("--tlsv{0} --tls-max {0}", case.tls);
    let mut env = String::new();
    if let Some(cbc) = &case.cbc {
        tls_flags += &format!(" --ciphers {}", cbc.openssl);
        if !cbc.etm {
            env = format!("OPENSSL_CONF={} ", d.join("no-etm.cnf").display());
        }
    }
    let url = format!("https://lab.example:{}", case.port);
    let resolve = format!("--resolve lab.example:{}:{PROXY}", case.port);
    let mut keys = vec![d.join(format!("{name}.ws.keys"))];
    let mut curls = Vec::new();
    for i in 0..5 {
        let k = d.join(format!("{name}.curl{i}.keys"));
        let what = if i < 3 {
            format!("{url}/data {url}/data")
        } else {
            format!(
                "--data-binary @{0} {url}/upload/{i} --data-binary @{0} {url}/upload/{i}b",
                d.join("body").display()
            )
        };
        curls.push(spawn_in(
            NS_CLI,
            &format!(
                "env {env}SSLKEYLOGFILE={} timeout 30 curl -sk --http1.1 {tls_flags} {resolve} \
                 -o /dev/null -o /dev/null -w '%{{http_code}}\\n' {what}",
                k.display()
            ),
            &d.join(format!("{name}.curl{i}.log")),
        ));
        keys.push(k);
    }
    std::thread::sleep(Duration::from_millis(150));
    let mut client = Command::new("ip");
    client
        .args(["netns", "exec", NS_CLI, "timeout", "40", PYTHON])
        .arg(here.join("wss_lab_client.py"))
        .args(["--host", PROXY, "--port", &case.port.to_string()])
        .arg("--keylog")
        .arg(&keys[0])
        .args(["--tls", case.tls, "--answer-timeout", "4"]);
    if let Some(cbc) = &case.cbc {
        client.args(["--ciphers", cbc.openssl]);
        if !cbc.etm {
            client.arg("--no-etm");
        }
    }
    let client = client.output().unwrap();
    for mut c in curls {
        let _ = c.wait();
    }
    // Let the last FIN or RST reach the capture before stopping it.
    std::thread::sleep(Duration::from_secs(1));
    let mut dump = lab.children.pop().unwrap();
    terminate(&dump);
    let _ = dump.wait();
    let mut all = Vec::new();
    for k in &keys {
        all.extend(std::fs::read(k).unwrap_or_default());
    }
    let curl_answers = (0..5)
        .map(|i| {
            std::fs::read_to_string(d.join(format!("{name}.curl{i}.log")))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.len() == 3 && l.bytes().all(|b| b.is_ascii_digit()) && *l != "000")
                .count()
        })
        .sum();
    let all_keys = d.join(format!("{name}.keys"));
    std::fs::write(&all_keys, all).unwrap();
    Recording {
        pcap,
        keys,
        all_keys,
        curl_answers,
        client_log: String::from_utf8_lossy(&client.stdout).into_owned()
            + &String::from_utf8_lossy(&client.stderr),
    }
}

/// SIGTERM through kill(1): tcpdump then flushes and closes its file (the test
/// crate has no `unsafe` and no libc).
fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

fn tshark_fields(
    pcap: &Path,
    keys: Option<&Path>,
    filter: &str,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap);
    if let Some(k) = keys {
        cmd.arg("-o")
            .arg(format!("tls.keylog_file:{}", k.display()));
    }
    cmd.args(["-Y", filter, "-T", "fields", "-E", "occurrence=f"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn analyze(pcap: &Path, keys: &[PathBuf]) -> Value {
    let mut cmd = common::netkit();
    cmd.args(["pcap", "analyze", "--json", "--frames"]);
    for k in keys {
        cmd.arg("--tls-keylog").arg(k);
    }
    let out = cmd.arg(pcap).output().unwrap();
    assert!(
        out.status.success(),
        "pcap analyze {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The 3% random loss can lose one segment several times in a row: the stream
/// stalls on its retransmission timer, a `tcp_rto_backoff` error as real as the
/// upgrade's, and findings of one severity are ranked by their first frame. That
/// changes the story the case records (as a lost answer does, see `expect`), so the
/// case is recorded again: the stall's summary when such an error comes before the
/// case's own finding.
fn stalled_before_the_upgrade(case: &Case, rec: &Recording) -> Option<String> {
    let (_, Some(code)) = case.verdict() else {
        return None;
    };
    let report = analyze(&rec.pcap, &rec.keys);
    let findings = report["findings"].as_array()?;
    let own = findings.iter().position(|f| f["code"] == code)?;
    findings[..own]
        .iter()
        .find(|f| f["code"] == "tcp_rto_backoff" && f["severity"] == "error")
        .map(|f| f["summary"].as_str().unwrap_or_default().to_string())
}

/// Figures for the closing line.
#[derive(Default)]
struct Tally {
    captures: usize,
    tls_connections: usize,
    retransmissions: u64,
    http_lines: usize,
    /// Streams on which tshark stopped decrypting.
    tshark_gave_up: usize,
    fields: common::tls_fields::Tally,
    /// TLS 1.2 CBC sessions decrypted with 0 failures, by MAC order.
    cbc_etm_sessions: usize,
    cbc_mte_sessions: usize,
}

fn check(case: &Case, rec: &Recording, tally: &mut Tally) {
    let name = case.name();
    let (verdict, finding) = case.verdict();
    let report = analyze(&rec.pcap, &rec.keys);

    // With the key logs: the clear-text lab's verdict.
    let ups = report["websocket"]["upgrades"].as_array().unwrap();
    assert_eq!(ups.len(), 1, "{name}: upgrades {ups:?}");
    let up = &ups[0];
    assert_eq!(up["verdict"], verdict, "{name}: verdict");
    assert_eq!(up["path"], "/socket", "{name}");
    assert_eq!(up["host"], format!("lab.example:{}", case.port), "{name}");
    let findings = report["findings"].as_array().unwrap();
    match finding {
        Some(code) => {
            let first = &findings[0];
            assert_eq!(
                (first["code"].as_str(), first["severity"].as_str()),
                (Some(code), Some("error")),
                "{name}: findings[0] is {first}"
            );
            assert_eq!(first["stream"], up["stream"], "{name}: finding stream");
        }
        None => {
            let errors: Vec<&Value> = findings
                .iter()
                .filter(|f| f["severity"] == "error")
                .collect();
            assert!(errors.is_empty(), "{name}: error findings {errors:?}");
            assert_eq!(up["messages"], 8, "{name}: text messages");
            assert_eq!(up["close_code"], 1000, "{name}: close code");
        }
    }
    let tls = &report["tls"];
    let conns = tls["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 6, "{name}: 5 curl connections and the upgrade");
    assert_eq!(tls["sessions_without_keys"], 0, "{name}: {tls}");
    for c in conns {
        assert_eq!(c["decrypted"], true, "{name}: {c}");
        assert_eq!(c["decryption_failures"], 0, "{name}: {c}");
        assert_eq!(c["version"], format!("TLS {}", case.tls), "{name}: {c}");
        if let Some(cbc) = &case.cbc {
            assert_eq!(c["cipher_suite"], cbc.iana, "{name}: {c}");
        }
    }
    if let Some(cbc) = &case.cbc {
        // tshark says whether each ServerHello agreed to encrypt-then-MAC (extension
        // 22): the case's order of MAC and encryption is the one decrypted.
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&rec.pcap)
            .args(["-Y", "tls.handshake.type == 2", "-T", "fields"])
            .args(["-E", "occurrence=a", "-E", "aggregator=,"])
            .args(["-e", "tls.handshake.extension.type"])
            .output()
            .expect("run tshark");
        let hellos: Vec<Vec<String>> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| vec![l.to_string()])
            .collect();
        // tshark may miss a hello behind a lost segment; those it decodes must agree.
        assert!(!hellos.is_empty(), "{name}: tshark decoded no ServerHello");
        for h in &hellos {
            let etm = h[0].split(',').any(|t| t == "22");
            assert_eq!(etm, cbc.etm, "{name}: ServerHello extensions {h:?}");
        }
        if cbc.etm {
            tally.cbc_etm_sessions += conns.len();
        } else {
            tally.cbc_mte_sessions += conns.len();
        }
    }
    tally.tls_connections += conns.len();
    tally.retransmissions += report["tcp"]["flags"]["retransmission"]
        .as_u64()
        .unwrap_or(0);

    // tshark with the same keys, on the same frames.
    let http = tshark_fields(
        &rec.pcap,
        Some(&rec.all_keys),
        "http",
        &[
            "frame.number",
            "tcp.stream",
            "http.request.method",
            "http.request.uri",
            "http.response.code",
            "http.upgrade",
            "http.request_in",
        ],
    );
    let req = http
        .iter()
        .find(|r| r.get(3).map(String::as_str) == Some("/socket"))
        .unwrap_or_else(|| panic!("{name}: tshark decrypted no /socket request: {http:?}"));
    assert_eq!(
        up["request_frame"].to_string(),
        req[0],
        "{name}: request frame"
    );
    assert_eq!(up["stream"].to_string(), req[1], "{name}: stream");
    assert_eq!(req[5], "websocket", "{name}: tshark's Upgrade header");
    let answer = http
        .iter()
        .find(|r| r.get(6).map(String::as_str) == Some(req[0].as_str()));
    match (case.mode, answer) {
        (Mode::Silent, None) => assert!(up["status"].is_null(), "{name}"),
        (Mode::Silent, Some(a)) => panic!("{name}: tshark saw an answer {a:?}"),
        (_, None) => panic!("{name}: tshark decrypted no answer to the upgrade"),
        (_, Some(a)) => {
            assert_eq!(up["status"].to_string(), a[4], "{name}: status");
            let ours = up["response_frame"].as_u64().unwrap();
            let theirs: u64 = a[0].parse().unwrap();
            if a[4] == "101" {
                assert_eq!(ours, theirs, "{name}: response frame");
                assert_eq!(a[5], "websocket", "{name}: 101's Upgrade header");
            } else {
                // tshark names the frame completing the body, netkit the head's.
                assert!(
                    ours <= theirs,
                    "{name}: head in {ours}, body ends in {theirs}"
                );
            }
        }
    }
    let (matched, gave_up) = check_show(&name, case, rec, &http);
    tally.http_lines += matched;
    tally.tshark_gave_up += gave_up;

    // Without keys: no upgrade, and the tls fields equal tshark's.
    let plain = analyze(&rec.pcap, &[]);
    assert_eq!(
        plain["websocket"]["upgrades"].as_array().unwrap().len(),
        0,
        "{name}: an upgrade seen without keys"
    );
    assert!(
        plain["tls"]["sessions_without_keys"].is_null()
            || plain["tls"]["sessions_without_keys"] == 6
    );
    let before = tally.fields.streams;
    common::tls_fields::compare(&rec.pcap, &mut tally.fields);
    assert_eq!(tally.fields.streams - before, 6, "{name}: streams compared");
    tally.captures += 1;
}

/// `pcap show --tls-keylog`'s decrypted HTTP start lines against tshark's HTTP
/// frames with the same keys, TCP stream by stream: the same lines, each on tshark's
/// frame or, for a message with a body in later records (a POST, a 403 with its page),
/// before it (netkit shows the line on the frame completing the head's record, tshark
/// the message on the frame completing the body).
///
/// tshark 4.0 stops decrypting a stream after some retransmissions that overlap
/// records ("New fragment overlaps old data"): on such a stream, and only on a stream
/// tshark flags with a retransmission, its lines may be fewer than netkit's, but must
/// all be among them. netkit's own count is then checked against the clients: 11
/// requests (5 curls x 2 and the upgrade) and one answer per status the curls
/// printed, plus the upgrade's. Returns (lines equal tshark's, streams where tshark
/// gave up).
fn check_show(name: &str, case: &Case, rec: &Recording, http: &[Vec<String>]) -> (usize, usize) {
    let mut cmd = common::netkit();
    cmd.args(["pcap", "show", "--json"]);
    for k in &rec.keys {
        cmd.arg("--tls-keylog").arg(k);
    }
    let out = cmd.arg(&rec.pcap).output().unwrap();
    assert!(
        out.status.success(),
        "{name}: pcap show: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{name}: pcap show warned: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stream_of: BTreeMap<u64, String> =
        tshark_fields(&rec.pcap, None, "tcp", &["frame.number", "tcp.stream"])
            .into_iter()
            .map(|r| (r[0].parse().unwrap(), r[1].clone()))
            .collect();
    // stream -> (start line, frame), in frame order. Status lines are cut after the
    // code, as tshark's field has them (the reason phrase is the server's).
    let mut ours: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    let (mut requests, mut answers) = (0, 0);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let frame = v["frame"].as_u64().unwrap();
        for d in v["decrypted"].as_array().into_iter().flatten() {
            let Some(l) = d["line"].as_str() else {
                continue;
            };
            let l = if l.starts_with("HTTP/") {
                answers += 1;
                l.split(' ').take(2).collect::<Vec<_>>().join(" ")
            } else {
                requests += 1;
                l.to_string()
            };
            ours.entry(stream_of[&frame].clone())
                .or_default()
                .push((l, frame));
        }
    }
    let upgrade_answered = usize::from(case.mode != Mode::Silent);
    assert_eq!(requests, 11, "{name}: decrypted requests {ours:?}");
    assert_eq!(
        answers,
        rec.curl_answers + upgrade_answered,
        "{name}: decrypted answers, against the clients' {ours:?}"
    );
    let mut theirs: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for r in http {
        let line = if !r[2].is_empty() {
            format!("{} {} HTTP/1.1", r[2], r[3])
        } else {
            format!("HTTP/1.1 {}", r[4])
        };
        theirs
            .entry(r[1].clone())
            .or_default()
            .push((line, r[0].parse().unwrap()));
    }
    let (mut matched, mut gave_up) = (0, 0);
    for (stream, o) in &ours {
        let t = theirs.get(stream).cloned().unwrap_or_default();
        let same_lines = o.iter().map(|x| &x.0).eq(t.iter().map(|x| &x.0));
        if same_lines {
            for ((line, a), (_, b)) in o.iter().zip(&t) {
                let exact = line.starts_with("GET ") || line == "HTTP/1.1 101";
                assert!(
                    if exact { a == b } else { a <= b },
                    "{name} stream {stream}: {line:?} netkit frame {a}, tshark {b}"
                );
            }
            matched += t.len();
            continue;
        }
        let flagged = tshark_fields(
            &rec.pcap,
            None,
            &format!("tcp.stream == {stream} && tcp.analysis.retransmission"),
            &["frame.number"],
        );
        let mut rest: Vec<&String> = o.iter().map(|x| &x.0).collect();
        let subset = t
            .iter()
            .all(|(l, _)| match rest.iter().position(|x| *x == l) {
                Some(i) => {
                    rest.remove(i);
                    true
                }
                None => false,
            });
        assert!(
            t.len() < o.len() && subset && !flagged.is_empty(),
            "{name} stream {stream}: netkit {o:?}, tshark {t:?}"
        );
        eprintln!(
            "lab_tls: {name} stream {stream}: tshark decrypted {} of netkit's {} HTTP messages \
             (it flags retransmissions in frames {flagged:?})",
            t.len(),
            o.len()
        );
        matched += t.len();
        gave_up += 1;
    }
    assert!(
        theirs.keys().all(|s| ours.contains_key(s)),
        "{name}: tshark has HTTP on streams netkit shows none: {theirs:?} vs {ours:?}"
    );
    (matched, gave_up)
}

#[test]
fn tls_lab_verdicts_and_fields_equal_the_clear_text_lab_and_tshark() {
    if let Some(why) = common::skip_reason(&[
        "haproxy", "tcpdump", "tshark", "curl", "openssl", "iptables", "ethtool",
    ]) {
        eprintln!("skipping lab_tls: {why}");
        return;
    }
    let has_websockets = Command::new(PYTHON)
        .args(["-c", "import websockets"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_websockets {
        eprintln!("skipping lab_tls: {PYTHON} lacks the websockets package (python3-websockets)");
        return;
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab");
    let mut lab = build(&here);
    let mut tally = Tally::default();
    for case in &CASES {
        let mut done = false;
        for attempt in 1..=MAX_ATTEMPTS {
            let rec = record(&mut lab, &here, case, attempt);
            if !rec.client_log.contains(case.expect()) || rec.curl_answers != 10 {
                eprintln!(
                    "lab_tls: {} attempt {attempt}: client log lacks {:?} or the curls got {} \
                     answers of 10, recording again:\n{}",
                    case.name(),
                    case.expect(),
                    rec.curl_answers,
                    rec.client_log
                );
                continue;
            }
            if let Some(stall) = stalled_before_the_upgrade(case, &rec) {
                eprintln!(
                    "lab_tls: {} attempt {attempt}: the random loss stalled a connection on its \
                     retransmission timer before the upgrade's answer (an error, ranked first \
                     by time), recording again: {stall}",
                    case.name()
                );
                continue;
            }
            check(case, &rec, &mut tally);
            done = true;
            break;
        }
        assert!(
            done,
            "{}: no recording with the expected outcome",
            case.name()
        );
    }
    eprintln!(
        "lab_tls: CBC suites: {} encrypt-then-MAC and {} MAC-then-encrypt sessions decrypted \
         with 0 failures",
        tally.cbc_etm_sessions, tally.cbc_mte_sessions
    );
    eprintln!(
        "lab_tls: {} captures, {} TLS connections decrypted with 0 failures, {} retransmissions; \
         {} decrypted HTTP start lines equal tshark's ({} streams where tshark stopped \
         decrypting after a retransmission); without keys {} streams equal tshark's \
         (versions {}, SNI {}, ALPN names {}, alerts {})",
        tally.captures,
        tally.tls_connections,
        tally.retransmissions,
        tally.http_lines,
        tally.tshark_gave_up,
        tally.fields.streams,
        tally.fields.versions,
        tally.fields.sni,
        tally.fields.alpn,
        tally.fields.alerts
    );
    assert!(
        tally.retransmissions > 0,
        "the random loss made no retransmission at all"
    );
}
