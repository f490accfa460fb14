//! Two network namespaces joined by a veth pair, the lab most live tests need: `a`
//! (x.y.z.1) and `b` (x.y.z.2), removed with every process the test started in them
//! when the lab is dropped, also when the test fails.

use super::ip;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct NsPair {
    /// Namespace names.
    pub a: String,
    pub b: String,
    /// The veth ends, `va` in `a`, `vb` in `b`.
    pub va: String,
    pub vb: String,
    pub a_addr: String,
    pub b_addr: String,
    /// Killed and reaped on drop, before the namespaces go.
    pub children: Vec<Child>,
}

/// How [`NsPair::new`] sets the link up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Offloads {
    /// As the kernel sets them (a veth aggregates segments into 64 KB skbs).
    Kept,
    /// TSO, GSO and GRO off: MTU-sized segments as on a real link, so a dropped skb
    /// is one segment and a capture sees what a wire would.
    Off,
}

/// Whether the namespaces speak IPv6 (see [`NsPair::ipv4_only`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ipv6 {
    On,
    Off,
}

impl NsPair {
    /// `prefix` names the test file (e.g. `nkwatch`), `tag` (a letter or two) keeps the
    /// labs of tests running side by side apart, `subnet` is the first three octets
    /// (distinct per test, e.g. `10.233.0`). Veth names stay within IFNAMSIZ.
    pub fn new(prefix: &str, tag: &str, subnet: &str, offloads: Offloads) -> NsPair {
        NsPair::build(prefix, tag, subnet, offloads, Ipv6::On)
    }

    /// As [`NsPair::new`], with IPv6 off in both namespaces before the link exists:
    /// its router solicitations and reports come on their own timers, and one caught
    /// by one capture and not another is a difference no test wants.
    pub fn ipv4_only(prefix: &str, tag: &str, subnet: &str, offloads: Offloads) -> NsPair {
        NsPair::build(prefix, tag, subnet, offloads, Ipv6::Off)
    }

    fn build(prefix: &str, tag: &str, subnet: &str, offloads: Offloads, ipv6: Ipv6) -> NsPair {
        let id = std::process::id();
        let short = |end: &str| {
            let mut name = format!("{prefix}{tag}{end}{}", id % 100_000);
            name.truncate(15);
            name
        };
        let lab = NsPair {
            a: format!("{prefix}-{tag}a-{id}"),
            b: format!("{prefix}-{tag}b-{id}"),
            va: short("a"),
            vb: short("b"),
            a_addr: format!("{subnet}.1"),
            b_addr: format!("{subnet}.2"),
            children: Vec::new(),
        };
        ip(&["netns", "add", &lab.a]);
        ip(&["netns", "add", &lab.b]);
        if ipv6 == Ipv6::Off {
            for ns in [&lab.a, &lab.b] {
                let ok = Command::new("ip")
                    .args(["netns", "exec", ns, "sysctl", "-qw"])
                    .args([
                        "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1",
                    ])
                    .status()
                    .expect("sysctl");
                assert!(ok.success(), "sysctl disable_ipv6 in {ns}");
            }
        }
        // Made straight inside the namespaces, never in the shared root one.
        ip(&[
            "link", "add", &lab.va, "netns", &lab.a, "type", "veth", "peer", "name", &lab.vb,
            "netns", &lab.b,
        ]);
        ip(&[
            "-n",
            &lab.a,
            "addr",
            "add",
            &format!("{}/24", lab.a_addr),
            "dev",
            &lab.va,
        ]);
        ip(&[
            "-n",
            &lab.b,
            "addr",
            "add",
            &format!("{}/24", lab.b_addr),
            "dev",
            &lab.vb,
        ]);
        for (ns, dev) in [(&lab.a, &lab.va), (&lab.b, &lab.vb)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            if offloads == Offloads::Off {
                let _ = Command::new("ip")
                    .args(["netns", "exec", ns, "ethtool", "-K", dev])
                    .args(["tso", "off", "gso", "off", "gro", "off"])
                    .output();
            }
        }
        lab
    }

    /// `program` run inside namespace `ns`; `ip netns exec` execs it, so the child's
    /// pid is the program's.
    pub fn exec(&self, ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// Starts a python server in `ns` that prints `ready` once it listens, waits for
    /// that line, and keeps it to be killed on drop.
    pub fn start_ready_server(&mut self, ns: &str, script: &str) {
        self.start_ready_python(ns, &["-c", script]);
    }

    /// tests/lab/download_server.py in `b`: downloads of the size a client asks for
    /// on `tcp_port`, a UDP echo on `udp_port`.
    pub fn start_download_server(&mut self, tcp_port: u16, udp_port: u16) {
        let b = self.b.clone();
        let (tcp, udp) = (tcp_port.to_string(), udp_port.to_string());
        self.start_lab_server(&b, "download_server.py", &[&tcp, &udp]);
    }

    /// The python script tests/lab/`name` in `ns`, with `args`; it prints `ready`
    /// once it listens.
    pub fn start_lab_server(&mut self, ns: &str, name: &str, args: &[&str]) {
        let script = super::lab_script(name);
        let mut all = vec![script.to_str().expect("a UTF-8 path")];
        all.extend_from_slice(args);
        self.start_ready_python(ns, &all);
    }

    fn start_ready_python(&mut self, ns: &str, args: &[&str]) {
        let mut server = self
            .exec(ns, "python3")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start server");
        let mut line = String::new();
        BufReader::new(server.stdout.take().expect("server stdout"))
            .read_line(&mut line)
            .expect("server's first line");
        assert_eq!(line.trim(), "ready");
        self.children.push(server);
    }

    /// SIGINT to every child (tcpdump then flushes and closes its file).
    pub fn interrupt_children(&self) {
        for c in &self.children {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
        }
    }
}

impl Drop for NsPair {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.a]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.b]).status();
    }
}
