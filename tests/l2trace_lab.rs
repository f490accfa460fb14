//! `netkit l2trace` and `netkit neighbors` end to end, in a lab of network namespaces
//! this test builds: four Linux-bridge "switches" in a chain, each with a management
//! address on its bridge and the real `netkit l2trace agent` running in it, and hosts
//! on both ends plus a third host beside the first:
//!
//! ```text
//!   hA ─┐
//!       sw1 ── sw2 ── sw3 ── sw4 ── hB
//!   hC ─┘
//! ```
//!
//! Needs root (namespaces, veths, raw sockets), `ip` and `nft`; without them it says
//! so and skips. Every namespace (and with it every veth and bridge) is deleted and
//! every agent killed at the end, also when an assertion fails: the guard's Drop runs
//! during unwinding. All traffic stays inside the namespaces.

mod common;

use netkit_os::netns::{self, Netns};
use serde_json::Value;
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NET: &str = "10.77.0";

struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    agents: Vec<Child>,
}

impl Lab {
    fn ns(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    fn ip(&self, args: &[&str]) {
        common::ip(args);
    }

    fn exec(&self, short: &str, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(short)])
            .args(cmd)
            .output()
            .expect("run ip netns exec")
    }

    fn netkit(&self, short: &str, args: &[&str]) -> Output {
        let mut cmd = vec![env!("CARGO_BIN_EXE_netkit")];
        cmd.extend_from_slice(args);
        self.exec(short, &cmd)
    }

    fn add_ns(&mut self, short: &str) {
        let name = self.ns(short);
        self.ip(&["netns", "add", &name]);
        self.namespaces.push(name.clone());
        self.ip(&["-n", &name, "link", "set", "lo", "up"]);
    }

    /// A veth between two namespaces, named `a_if` in `a` and `b_if` in `b`.
    fn link(&self, a: &str, a_if: &str, b: &str, b_if: &str) {
        let (na, nb) = (self.ns(a), self.ns(b));
        self.ip(&[
            "-n", &na, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &nb,
        ]);
        for (n, i) in [(&na, a_if), (&nb, b_if)] {
            self.ip(&["-n", n, "link", "set", i, "up"]);
            if n.ends_with("sw1") || n.ends_with("sw2") || n.ends_with("sw3") || n.ends_with("sw4")
            {
                self.ip(&["-n", n, "link", "set", i, "master", "br0"]);
            }
        }
    }

    fn mac_of(&self, short: &str, dev: &str) -> String {
        let out = self.exec(short, &["cat", &format!("/sys/class/net/{dev}/address")]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn netns(&self, short: &str) -> Netns {
        let name = self.ns(short);
        Netns::at(name.clone(), format!("{}/{name}", netns::NETNS_RUN_DIR)).expect("namespace")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for a in &mut self.agents {
            let _ = a.kill();
            let _ = a.wait();
        }
        for n in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

fn can_run() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root".into());
    }
    for tool in ["ip", "nft"] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !ok {
            return Err(format!("`{tool}` is not installed"));
        }
    }
    Ok(())
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn cisco(mac: &str) -> String {
    let h: String = mac.chars().filter(|c| *c != ':').collect();
    format!("{}.{}.{}", &h[..4], &h[4..8], &h[8..])
}

fn build() -> Lab {
    let mut lab = Lab {
        prefix: format!("l2t{}", std::process::id()),
        namespaces: Vec::new(),
        agents: Vec::new(),
    };
    for n in 1..=4 {
        let sw = format!("sw{n}");
        lab.add_ns(&sw);
        let ns = lab.ns(&sw);
        lab.ip(&["-n", &ns, "link", "add", "br0", "type", "bridge"]);
        lab.ip(&["-n", &ns, "link", "set", "br0", "up"]);
        lab.ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{NET}.1{n}/24"),
            "dev",
            "br0",
        ]);
    }
    for h in ["hA", "hB", "hC"] {
        lab.add_ns(h);
    }
    lab.link("sw1", "s1s2", "sw2", "s2s1");
    lab.link("sw2", "s2s3", "sw3", "s3s2");
    lab.link("sw3", "s3s4", "sw4", "s4s3");
    lab.link("sw1", "s1ha", "hA", "eth0");
    lab.link("sw1", "s1hc", "hC", "eth0");
    lab.link("sw4", "s4hb", "hB", "eth0");
    for (h, a) in [("hA", 101), ("hB", 102), ("hC", 103)] {
        let ns = lab.ns(h);
        lab.ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{NET}.{a}/24"),
            "dev",
            "eth0",
        ]);
    }
    for n in 1..=4 {
        let ns = lab.ns(&format!("sw{n}"));
        let agent = Command::new("ip")
            .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_netkit")])
            .args(["l2trace", "agent", "--bridge", "br0", "--name"])
            .arg(format!("sw{n}"))
            .args(["--allow", &format!("{NET}.0/24")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start agent");
        lab.agents.push(agent);
    }
    lab
}

/// Traffic between the hosts so that every bridge learns every host MAC: a datagram
/// to the discard port makes the sender ARP (a broadcast every bridge learns from)
/// and the target answer (a unicast learned along the path). No ping needed.
fn populate(lab: &Lab) {
    for (from, to) in [("hA", 102), ("hC", 102), ("hA", 103), ("hB", 101)] {
        netns::run_in(&lab.netns(from), move || {
            let sock = UdpSocket::bind("0.0.0.0:0").expect("socket");
            let to = Ipv4Addr::new(10, 77, 0, to);
            let _ = sock.send_to(b"learn", (to, 9));
            std::thread::sleep(Duration::from_millis(50));
            let _ = sock.send_to(b"learn", (to, 9));
        })
        .expect("enter namespace");
    }
}

/// Random datagrams to the agent's port, from inside `from`: pure noise, and noise
/// behind a plausible header (so the parser gets past the first bytes).
fn flood(lab: &Lab, from: &str, target: Ipv4Addr, count: usize) {
    netns::run_in(&lab.netns(from), move || {
        let sock = UdpSocket::bind("0.0.0.0:0").expect("socket");
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..count {
            let len = (next() % 600) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 && d.len() >= 5 {
                d[0] = 1 + (next() % 2) as u8;
                d[1] = 1;
                d[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            }
            let _ = sock.send_to(&d, (target, 2228));
            if i % 500 == 0 {
                // Let the agent drain its socket buffer: we test that it survives
                // noise, not the kernel's queue length.
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    })
    .expect("enter namespace");
}

#[test]
fn four_switch_lab() {
    if let Err(why) = can_run() {
        eprintln!("skipping the l2trace lab: {why}");
        return;
    }
    let lab = build();
    let (ha, hb, hc) = (
        lab.mac_of("hA", "eth0"),
        lab.mac_of("hB", "eth0"),
        lab.mac_of("hC", "eth0"),
    );
    populate(&lab);

    // The agents learn their neighbours within a second or two (they answer a
    // newcomer at once); until then traces stop early.
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        populate(&lab);
        let out = lab.netkit("sw1", &["l2trace", &ha, &hb]);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let t = text(&first);
    assert!(
        first.status.success(),
        "trace failed:\n{t}{}",
        String::from_utf8_lossy(&first.stderr)
    );

    // 1. Trace by MAC from the first switch: every hop with both ports.
    let want = [
        format!(
            "Source {} found on sw1[netkit linux-bridge] ({NET}.11)",
            cisco(&ha)
        ),
        format!("1 sw1 ({NET}.11) : s1ha => s1s2"),
        format!("2 sw2 ({NET}.12) : s2s1 => s2s3"),
        format!("3 sw3 ({NET}.13) : s3s2 => s3s4"),
        format!("4 sw4 ({NET}.14) : s4s3 => s4hb"),
        format!(
            "Destination {} found on sw4[netkit linux-bridge] ({NET}.14)",
            cisco(&hb)
        ),
        "Layer 2 trace completed".to_string(),
    ];
    assert_eq!(t.lines().collect::<Vec<_>>(), want, "full output:\n{t}");

    // The four-switch trace time, whole process included (start-up, 5 requests).
    let mut times = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let out = lab.netkit("sw1", &["l2trace", &ha, &hb]);
        times.push(t0.elapsed());
        assert!(out.status.success());
    }
    times.sort();
    eprintln!(
        "four-switch trace: min {:?}, median {:?}, max {:?}",
        times[0], times[2], times[4]
    );
    assert!(
        times[2] < Duration::from_millis(200),
        "median {:?}",
        times[2]
    );

    // 2. Trace by IP from a host, through a switch given with --via, as JSON.
    let out = lab.netkit(
        "hA",
        &[
            "l2trace",
            &format!("{NET}.101"),
            &format!("{NET}.102"),
            "--via",
            &format!("{NET}.11"),
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(j["status"], "completed");
    assert_eq!(j["source"]["mac"], ha.as_str());
    assert_eq!(j["source"]["switch"], "sw1");
    assert_eq!(j["source"]["port"], "s1ha");
    assert_eq!(j["destination"]["mac"], hb.as_str());
    assert_eq!(j["destination"]["switch"], "sw4");
    assert_eq!(j["destination"]["port"], "s4hb");
    let hops = j["hops"].as_array().expect("hops");
    assert_eq!(hops.len(), 4);
    assert_eq!(hops[1]["switch"], "sw2");
    assert_eq!(hops[1]["mgmt_ip"], format!("{NET}.12"));
    assert_eq!(hops[1]["platform"], "netkit linux-bridge");
    assert_eq!(hops[1]["ingress"], "s2s1");
    assert_eq!(hops[1]["egress"], "s2s3");

    // 2b. From a plain host without --via: the switch is found as the CDP/LLDP
    // neighbour on the host's uplink (a TTL-0 solicitation makes the agent answer).
    let t0 = Instant::now();
    let out = lab.netkit(
        "hB",
        &["l2trace", &format!("{NET}.102"), &format!("{NET}.101")],
    );
    let took = t0.elapsed();
    let t = text(&out);
    assert!(
        out.status.success(),
        "{t}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "Translating IP to mac .....");
    assert_eq!(
        lines[3],
        format!(
            "Source {} found on sw4[netkit linux-bridge] ({NET}.14)",
            cisco(&hb)
        )
    );
    assert_eq!(lines[4], format!("1 sw4 ({NET}.14) : s4hb => s4s3"));
    assert_eq!(lines[7], format!("4 sw1 ({NET}.11) : s1s2 => s1ha"));
    eprintln!("trace from a host, switch found by CDP/LLDP: {took:?}");

    // 3. Off-path: from the last switch, between the two hosts on the first.
    let out = lab.netkit("sw4", &["l2trace", &hc, &ha]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        "Source not directly connected, tracing source ....."
    );
    assert_eq!(
        lines[1],
        format!(
            "Source {} found on sw1[netkit linux-bridge] ({NET}.11)",
            cisco(&hc)
        )
    );
    assert_eq!(lines[2], format!("1 sw1 ({NET}.11) : s1hc => s1ha"));
    assert_eq!(lines.last(), Some(&"Layer 2 trace completed"));

    // 4. An unknown MAC: Cisco's abort, exit status 1.
    let out = lab.netkit("sw1", &["l2trace", &ha, "0200.dead.beef"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("Error:Destination Mac address not found.\nLayer2 trace aborted."),
        "{t}"
    );
    assert!(
        out.stderr.is_empty(),
        "the abort was said twice: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A VLAN the switch does not have: Cisco's words, then why.
    let out = lab.netkit("sw1", &["l2trace", &ha, &hb, "--vlan", "20"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "Failed to get any layer2 path information from sw1 [{NET}.11]: VLAN 20 does \
             not exist on it.\nLayer2 trace aborted."
        )),
        "{t}"
    );
    let out = lab.netkit("sw1", &["l2trace", "0200.dead.beef", &ha, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let j: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(j["status"], "aborted");
    assert_eq!(j["reason"], "source_not_found");

    // 5. Thousands of random datagrams at two agents; they keep answering.
    flood(&lab, "hB", Ipv4Addr::new(10, 77, 0, 14), 5000);
    flood(&lab, "hA", Ipv4Addr::new(10, 77, 0, 11), 5000);
    let out = lab.netkit("sw1", &["l2trace", &ha, &hb]);
    assert!(out.status.success(), "after the flood:\n{}", text(&out));
    assert_eq!(text(&out).lines().count(), want.len());

    // 6. neighbors on a middle switch sees both neighbours, by CDP and by LLDP.
    let out = lab.netkit(
        "sw2",
        &[
            "neighbors",
            "-i",
            "s2s1",
            "-i",
            "s2s3",
            "--wait",
            "3",
            "--announce",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut seen: Vec<(String, String, String, String)> = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["interface"].as_str().unwrap_or("").to_string(),
                r["protocol"].as_str().unwrap_or("").to_string(),
                r["device_id"].as_str().unwrap_or("").to_string(),
                r["mgmt_ip"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    seen.sort();
    let row = |i: &str, p: &str, d: &str, ip: &str| {
        (
            i.to_string(),
            p.to_string(),
            d.to_string(),
            format!("{NET}.{ip}"),
        )
    };
    assert_eq!(
        seen,
        vec![
            row("s2s1", "cdp", "sw1", "11"),
            row("s2s1", "lldp", "sw1", "11"),
            row("s2s3", "cdp", "sw3", "13"),
            row("s2s3", "lldp", "sw3", "13"),
        ],
        "neighbors said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The listener withdrew its own announcement: traces are not confused by it.
    let out = lab.netkit("sw1", &["l2trace", &ha, &hb]);
    assert!(out.status.success(), "after neighbors:\n{}", text(&out));
}
