//! Faults under a running L2 traceroute, in labs of network namespaces this test
//! builds, with the real `netkit l2trace agent` answering for Linux bridges:
//!
//! - a bridge loses a port (its veth deleted) while the agent runs: one clear line
//!   on the agent's stderr, the agent keeps answering for the remaining ports, MACs
//!   that were behind the lost port are "not found" (Cisco's answer for a MAC that is
//!   not in the table), and a port added again is picked up;
//! - a hop in a chain never answers (UDP 2228 dropped by nftables, or its agent
//!   killed): the trace ends within the tracer's retry budget, exits 1, names the
//!   silent hop and keeps the hops it learned.
//!
//! Needs root (namespaces, veths, raw sockets) and `ip`; the nftables part needs
//! `nft`. Without them the tests say so and skip. Every namespace is deleted and every
//! agent killed at the end, also when an assertion fails (the guard's Drop runs while
//! unwinding). All traffic stays inside the namespaces.

mod common;

use netkit_os::netns::{self, Netns};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Agent {
    child: Child,
    /// Every line the agent wrote to stderr so far.
    lines: Arc<Mutex<Vec<String>>>,
}

struct Lab {
    prefix: String,
    net: String,
    namespaces: Vec<String>,
    agents: Vec<(String, Agent)>,
}

fn tool_missing(tool: &str) -> bool {
    Command::new(tool)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
}

fn can_run(test: &str) -> bool {
    if !common::is_root() {
        eprintln!("skipping {test}: needs root (namespaces, veths, raw sockets)");
        return false;
    }
    if tool_missing("ip") {
        eprintln!("skipping {test}: iproute2 (`ip`) is not installed");
        return false;
    }
    true
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

impl Lab {
    fn new(tag: &str, net: &str) -> Lab {
        Lab {
            prefix: format!("l2f{}{tag}", std::process::id()),
            net: net.to_string(),
            namespaces: Vec::new(),
            agents: Vec::new(),
        }
    }

    fn ns(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip").args(args).output().expect("run ip");
        assert!(out.status.success(), "ip {}: {}", args.join(" "), err(&out));
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

    /// A switch: a namespace with bridge br0 holding management address `.1N`.
    fn switch(&mut self, n: u8) {
        let sw = format!("sw{n}");
        self.add_ns(&sw);
        let ns = self.ns(&sw);
        self.ip(&["-n", &ns, "link", "add", "br0", "type", "bridge"]);
        self.ip(&["-n", &ns, "link", "set", "br0", "up"]);
        let addr = format!("{}.1{n}/24", self.net);
        self.ip(&["-n", &ns, "addr", "add", &addr, "dev", "br0"]);
    }

    /// A veth between two namespaces; ends in a switch join its bridge.
    fn link(&self, a: &str, a_if: &str, b: &str, b_if: &str) {
        let (na, nb) = (self.ns(a), self.ns(b));
        self.ip(&[
            "-n", &na, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &nb,
        ]);
        for (short, n, i) in [(a, &na, a_if), (b, &nb, b_if)] {
            if short.starts_with("sw") {
                self.ip(&["-n", n, "link", "set", i, "master", "br0"]);
            }
            self.ip(&["-n", n, "link", "set", i, "up"]);
        }
    }

    fn host_addr(&self, h: &str, last: u8) {
        let ns = self.ns(h);
        let addr = format!("{}.{last}/24", self.net);
        self.ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
    }

    fn mac_of(&self, short: &str, dev: &str) -> String {
        let out = self.exec(short, &["cat", &format!("/sys/class/net/{dev}/address")]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn start_agent(&mut self, sw: &str) {
        let ns = self.ns(sw);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_netkit")])
            .args(["l2trace", "agent", "--bridge", "br0", "--name", sw])
            .args(["--allow", &format!("{}.0/24", self.net)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start agent");
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        self.agents.push((sw.to_string(), Agent { child, lines }));
    }

    fn agent(&mut self, sw: &str) -> &mut Agent {
        &mut self
            .agents
            .iter_mut()
            .find(|(n, _)| n == sw)
            .expect("agent")
            .1
    }

    fn agent_lines(&mut self, sw: &str) -> Vec<String> {
        self.agent(sw).lines.lock().unwrap().clone()
    }

    /// Datagrams to the discard port between hosts, so every bridge learns their MACs
    /// (the sender's ARP broadcast and the target's unicast answer).
    fn populate(&self, pairs: &[(&str, u8)]) {
        for (from, to) in pairs {
            let name = self.ns(from);
            let ns = Netns::at(name.clone(), format!("{}/{name}", netns::NETNS_RUN_DIR))
                .expect("namespace");
            let target: Ipv4Addr = format!("{}.{to}", self.net).parse().expect("address");
            netns::run_in(&ns, move || {
                let sock = UdpSocket::bind("0.0.0.0:0").expect("socket");
                for _ in 0..2 {
                    let _ = sock.send_to(b"learn", (target, 9));
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
            .expect("enter namespace");
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, a) in &mut self.agents {
            let _ = a.child.kill();
            let _ = a.child.wait();
        }
        for n in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

fn cisco(mac: &str) -> String {
    let h: String = mac.chars().filter(|c| *c != ':').collect();
    format!("{}.{}.{}", &h[..4], &h[4..8], &h[8..])
}

/// Repeats `f` until it returns Some or `limit` passes.
fn within<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_agent_survives_its_bridge_losing_a_port() {
    if !can_run("the_agent_survives_its_bridge_losing_a_port") {
        return;
    }
    let mut lab = Lab::new("p", "10.78.0");
    lab.switch(1);
    for h in ["hA", "hB", "hC"] {
        lab.add_ns(h);
    }
    lab.link("sw1", "pa", "hA", "eth0");
    lab.link("sw1", "pb", "hB", "eth0");
    lab.link("sw1", "pc", "hC", "eth0");
    for (h, a) in [("hA", 101), ("hB", 102), ("hC", 103)] {
        lab.host_addr(h, a);
    }
    lab.start_agent("sw1");
    let (ha, hb, hc) = (
        lab.mac_of("hA", "eth0"),
        lab.mac_of("hB", "eth0"),
        lab.mac_of("hC", "eth0"),
    );
    let all = [("hA", 102), ("hA", 103), ("hB", 103)];
    let trace = |lab: &Lab, src: &str, dst: &str| lab.netkit("sw1", &["l2trace", src, dst]);
    let first = within(Duration::from_secs(10), || {
        lab.populate(&all);
        let o = trace(&lab, &ha, &hb);
        o.status.success().then_some(o)
    });
    let first = first.unwrap_or_else(|| {
        let o = trace(&lab, &ha, &hb);
        panic!("no trace through the lab: {}{}", text(&o), err(&o))
    });
    assert!(
        text(&first).contains("1 sw1 (10.78.0.11) : pa => pb"),
        "{}",
        text(&first)
    );
    let o = trace(&lab, &ha, &hc);
    assert!(
        text(&o).contains("1 sw1 (10.78.0.11) : pa => pc"),
        "{}",
        text(&o)
    );

    // Lose port pc: its veth is deleted (and hC's eth0 with it).
    let before = lab.agent_lines("sw1").len();
    let t0 = Instant::now();
    lab.ip(&["-n", &lab.ns("sw1"), "link", "del", "pc"]);
    let said = within(Duration::from_secs(12), || {
        let lines = lab.agent_lines("sw1");
        lines[before..].iter().find(|l| l.contains("pc")).cloned()
    });
    let noticed = t0.elapsed();
    let said = said.unwrap_or_else(|| {
        panic!(
            "the agent said nothing about losing pc: {:?}",
            lab.agent_lines("sw1")
        )
    });
    // Past the agent's next rescan, nothing more than that one line.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(t0.elapsed()));
    let new: Vec<String> = lab.agent_lines("sw1")[before..].to_vec();
    eprintln!("agent noticed the lost port after {noticed:?}: {new:?}");
    assert_eq!(new, vec![said.clone()], "one line about the lost port");
    assert!(
        said.starts_with("netkit l2trace agent: ") && said.contains("br0"),
        "{said}"
    );
    assert!(
        lab.agent("sw1").child.try_wait().unwrap().is_none(),
        "the agent exited"
    );

    // The remaining ports answer as before; hC's MAC is gone from the table.
    lab.populate(&[("hA", 102)]);
    let o = trace(&lab, &ha, &hb);
    assert!(o.status.success(), "{}{}", text(&o), err(&o));
    assert_eq!(text(&o), text(&first));
    let o = trace(&lab, &ha, &hc);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("Error:Destination Mac address not found.\nLayer2 trace aborted."),
        "{}",
        text(&o)
    );
    let o = lab.netkit("sw1", &["l2trace", &hc, &ha, "--json"]);
    let j: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(j["reason"], "source_not_found");

    // A new port (hC cabled again) is picked up at the next rescan.
    let before = lab.agent_lines("sw1").len();
    lab.link("sw1", "pc", "hC", "eth0");
    lab.host_addr("hC", 103);
    let hc = lab.mac_of("hC", "eth0");
    let back = within(Duration::from_secs(12), || {
        lab.populate(&[("hA", 103)]);
        let o = trace(&lab, &ha, &hc);
        o.status.success().then_some(o)
    });
    let back = back.unwrap_or_else(|| {
        let o = trace(&lab, &ha, &hc);
        panic!("the new port is not answered for: {}{}", text(&o), err(&o))
    });
    assert!(
        text(&back).contains("1 sw1 (10.78.0.11) : pa => pc"),
        "{}",
        text(&back)
    );
    let joined = within(Duration::from_secs(7), || {
        let lines = lab.agent_lines("sw1");
        lines[before..].iter().find(|l| l.contains("pc")).cloned()
    });
    assert!(
        joined.is_some(),
        "nothing said about the new port: {:?}",
        lab.agent_lines("sw1")
    );

    // A port that flaps (down, then up) is said once each way and keeps working.
    let before = lab.agent_lines("sw1").len();
    let sw1 = lab.ns("sw1");
    lab.ip(&["-n", &sw1, "link", "set", "pb", "down"]);
    let down = within(Duration::from_secs(7), || {
        let lines = lab.agent_lines("sw1");
        lines[before..].iter().find(|l| l.contains("pb")).cloned()
    });
    assert!(
        down.as_deref().is_some_and(|l| l.contains("down")),
        "{:?}",
        lab.agent_lines("sw1")
    );
    lab.ip(&["-n", &sw1, "link", "set", "pb", "up"]);
    let up = within(Duration::from_secs(7), || {
        let lines = lab.agent_lines("sw1");
        lines[before..]
            .iter()
            .find(|l| l.contains("pb") && l.contains("up again"))
            .cloned()
    });
    assert!(up.is_some(), "{:?}", lab.agent_lines("sw1"));
    // The agent listens on pb again: a newcomer announcing itself there is answered
    // at once (its periodic announcements are 30 s apart).
    let heard = lab.netkit(
        "hB",
        &[
            "neighbors",
            "-i",
            "eth0",
            "--wait",
            "3",
            "--announce",
            "--json",
        ],
    );
    let rows: Value = serde_json::from_slice(&heard.stdout).expect("JSON");
    assert!(
        rows.as_array()
            .is_some_and(|r| r.iter().any(|n| n["device_id"] == "sw1")),
        "hB heard no answer from sw1 after pb came back: {rows}; agent: {:?}",
        lab.agent_lines("sw1")
    );
    let flapped = within(Duration::from_secs(10), || {
        lab.populate(&[("hA", 102)]);
        let o = trace(&lab, &ha, &hb);
        o.status.success().then_some(o)
    });
    assert!(flapped.is_some_and(|o| text(&o) == text(&first)));
    // Two lines about pb (down, up again); the periodic counters line aside.
    assert_eq!(
        lab.agent_lines("sw1")[before..]
            .iter()
            .filter(|l| !l.contains(" queries: "))
            .count(),
        2,
        "{:?}",
        lab.agent_lines("sw1")
    );

    // The whole bridge deleted and built again (a new ifindex): said once each way,
    // and answered for again.
    let before = lab.agent_lines("sw1").len();
    lab.ip(&["-n", &sw1, "link", "del", "br0"]);
    let gone = within(Duration::from_secs(7), || {
        let lines = lab.agent_lines("sw1");
        lines[before..].iter().find(|l| l.contains("br0")).cloned()
    });
    assert!(gone.is_some(), "{:?}", lab.agent_lines("sw1"));
    lab.ip(&["-n", &sw1, "link", "add", "br0", "type", "bridge"]);
    lab.ip(&["-n", &sw1, "addr", "add", "10.78.0.11/24", "dev", "br0"]);
    for p in ["pa", "pb", "pc"] {
        lab.ip(&["-n", &sw1, "link", "set", p, "master", "br0"]);
    }
    lab.ip(&["-n", &sw1, "link", "set", "br0", "up"]);
    let rebuilt = within(Duration::from_secs(12), || {
        lab.populate(&[("hA", 102)]);
        let o = trace(&lab, &ha, &hb);
        o.status.success().then_some(o)
    });
    assert!(
        rebuilt.is_some_and(|o| text(&o) == text(&first)),
        "not answered for after the bridge was rebuilt: {:?}",
        lab.agent_lines("sw1")
    );
    let back = within(Duration::from_secs(7), || {
        let lines = lab.agent_lines("sw1");
        lines[before..]
            .iter()
            .find(|l| l.contains("is back"))
            .cloned()
    });
    assert!(back.is_some(), "{:?}", lab.agent_lines("sw1"));
    assert!(lab.agent("sw1").child.try_wait().unwrap().is_none());
}

#[test]
fn a_hop_that_never_answers_ends_the_trace_in_bounded_time() {
    if !can_run("a_hop_that_never_answers_ends_the_trace_in_bounded_time") {
        return;
    }
    // hA - sw1 - sw2 - sw3 - hB
    let mut lab = Lab::new("s", "10.78.1");
    for n in 1..=3 {
        lab.switch(n);
    }
    lab.add_ns("hA");
    lab.add_ns("hB");
    lab.link("sw1", "s1s2", "sw2", "s2s1");
    lab.link("sw2", "s2s3", "sw3", "s3s2");
    lab.link("sw1", "pa", "hA", "eth0");
    lab.link("sw3", "pb", "hB", "eth0");
    lab.host_addr("hA", 101);
    lab.host_addr("hB", 102);
    for n in 1..=3 {
        lab.start_agent(&format!("sw{n}"));
    }
    let (ha, hb) = (lab.mac_of("hA", "eth0"), lab.mac_of("hB", "eth0"));
    let whole = within(Duration::from_secs(15), || {
        lab.populate(&[("hA", 102), ("hB", 101)]);
        let o = lab.netkit("sw1", &["l2trace", &ha, &hb]);
        o.status.success().then_some(o)
    });
    let whole = whole.unwrap_or_else(|| {
        let o = lab.netkit("sw1", &["l2trace", &ha, &hb]);
        panic!("no trace through the chain: {}{}", text(&o), err(&o))
    });
    assert_eq!(text(&whole).lines().count(), 6, "{}", text(&whole));

    // Silences sw2 one way, traces from sw1 (sw2 is hop 2) and from sw3 (sw2 is on
    // the way to the source), and checks what the user is told: why (`because`), and
    // within the tracer's budget (`limit`).
    let check = |lab: &Lab, how: &str, because: &str, limit: Duration| -> Vec<Duration> {
        let mut took = Vec::new();
        let t0 = Instant::now();
        let o = lab.netkit("sw1", &["l2trace", &ha, &hb]);
        took.push(t0.elapsed());
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{how}: {out}{}", err(&o));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..2],
            [
                format!(
                    "Source {} found on sw1[netkit linux-bridge] (10.78.1.11)",
                    cisco(&ha)
                ),
                "1 sw1 (10.78.1.11) : pa => s1s2".to_string(),
            ],
            "{how}: {out}"
        );
        assert_eq!(
            lines[2],
            format!(
                "Unable to send a l2trace request to 10.78.1.12 (sw2, beyond sw1 port \
                 s1s2): {because}"
            ),
            "{how}: {out}"
        );
        assert_eq!(lines[3..], ["Layer2 trace aborted."], "{how}: {out}");
        // The reason is said once, on standard output (issue 21 item 13).
        let stderr = err(&o);
        assert!(stderr.is_empty(), "{how}: {stderr}");
        let o = lab.netkit("sw1", &["l2trace", &ha, &hb, "--json"]);
        let j: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(j["status"], "aborted");
        assert_eq!(j["reason"], "no_response");
        assert_eq!(j["hops"].as_array().map(Vec::len), Some(1), "{j}");
        assert_eq!(j["hops"][0]["egress"], "s1s2");
        assert_eq!(j["source"]["switch"], "sw1");

        let t0 = Instant::now();
        let o = lab.netkit("sw3", &["l2trace", &ha, &hb]);
        took.push(t0.elapsed());
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{how}: {out}");
        assert_eq!(
            out.lines().next(),
            Some("Source not directly connected, tracing source ....."),
            "{how}: {out}"
        );
        assert!(
            out.contains(&format!(
                "Unable to send a l2trace request to 10.78.1.12 (sw2, the neighbour of sw3 \
                 [10.78.1.13] toward the source): {because}"
            )),
            "{how}: {out}"
        );
        for t in &took {
            assert!(*t < limit, "{how}: took {t:?}");
        }
        took
    };

    if tool_missing("nft") {
        eprintln!("skipping the nftables part: `nft` is not installed");
    } else {
        let sw2 = lab.ns("sw2");
        let o = Command::new("ip")
            .args(["netns", "exec", &sw2, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                if let Some(mut i) = c.stdin.take() {
                    std::io::Write::write_all(
                        &mut i,
                        b"table inet nk_silence {\n chain input {\n  type filter hook input \
                          priority 0; policy accept;\n  udp dport 2228 drop\n }\n}\n",
                    )?;
                }
                c.wait_with_output()
            })
            .expect("nft");
        assert!(o.status.success(), "nft: {}", err(&o));
        // 0.3 + 0.6 + 1.2 s of waiting, plus start-up and the hops that answered.
        let took = check(
            &lab,
            "UDP 2228 dropped on sw2",
            "no reply after 3 tries in 2.1 s",
            Duration::from_secs(4),
        );
        eprintln!("silent hop (dropped by nftables): trace ended after {took:?}");
        let o = Command::new("ip")
            .args(["netns", "exec", &sw2, "nft", "delete table inet nk_silence"])
            .output()
            .expect("nft");
        assert!(o.status.success(), "nft: {}", err(&o));
        let o = lab.netkit("sw1", &["l2trace", &ha, &hb]);
        assert!(o.status.success(), "with sw2 answering again: {}", text(&o));
    }

    // sw2's agent gone: sw1 still has sw2 as its CDP/LLDP neighbour, so the trace
    // asks it, and gets ICMP port unreachable or nothing.
    let a = lab.agent("sw2");
    let _ = a.child.kill();
    let _ = a.child.wait();
    // sw2 answers ICMP port unreachable, which ends the wait at once.
    let took = check(
        &lab,
        "sw2's agent not running",
        "nothing answers on UDP 2228 there (ICMP port unreachable)",
        Duration::from_secs(1),
    );
    eprintln!("silent hop (agent not running): trace ended after {took:?}");
}
