use super::*;
use crate::output::Term;
use std::net::Ipv4Addr;

fn names() -> Names {
    let mut n = Names::default();
    n.netns.insert(100, "nk-recv".into());
    n.ifnames.insert((100, 2), "veth0".into());
    n.reasons.insert(1, "SKB_CONSUMED".into());
    n.reasons.insert(2, "SKB_DROP_REASON_NOT_SPECIFIED".into());
    n.reasons
        .insert(12, "SKB_DROP_REASON_NETFILTER_DROP".into());
    n.owners.insert(
        77,
        vec![Owner {
            pid: 4242,
            comm: "iperf3".into(),
        }],
    );
    n
}

fn record(reason: u32, packets: u64, sock_inode: u64) -> DropRecord {
    DropRecord {
        netns: 100,
        ifindex: 2,
        reason,
        l3proto: 0x0800,
        flow: Some(Flow {
            proto: 6,
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            dst: Ipv4Addr::new(10, 0, 0, 2).into(),
            sport: 40000,
            dport: 5201,
        }),
        sock_inode,
        packets,
        bytes: packets * 1500,
    }
}

const BUDGET: Budget = Budget {
    per_cpu_per_sec: 0,
    sample_every: 16,
    max_keys: 4096,
};

#[test]
fn rows_are_named_and_biggest_first_with_interval_counts_and_totals() {
    let mut drops = Drops::new(BUDGET);
    let names = names();
    let first = Interval {
        records: vec![record(2, 3, 0), record(12, 40, 77)],
        counts: ProbeCounts {
            seen: 43,
            ..Default::default()
        },
        elapsed_ns: 2_000_000_000,
    };
    let r = drops.interval(0, &first, &names, &|_| true);
    assert_eq!(r.rows.len(), 2);
    assert_eq!(r.rows[0].reason, "NETFILTER_DROP");
    assert_eq!(r.rows[0].netns, "nk-recv");
    assert_eq!(r.rows[0].ifname, "veth0");
    assert_eq!(r.rows[0].protocol, "TCP");
    assert_eq!(r.rows[0].process.as_ref().unwrap().pid, 4242);
    assert_eq!(r.rows[0].rate, 20.0);
    assert_eq!(r.rows[1].reason, "NOT_SPECIFIED");
    // The next interval reports its own counts; totals run on.
    let second = Interval {
        records: vec![record(12, 5, 77)],
        counts: ProbeCounts {
            seen: 5,
            ..Default::default()
        },
        elapsed_ns: 1_000_000_000,
    };
    let r = drops.interval(1, &second, &Names::default(), &|_| true);
    assert_eq!(r.rows[0].count, 5);
    assert_eq!(r.rows[0].total, 45);
    // The process stays named after it is gone from /proc.
    assert_eq!(r.rows[0].process.as_ref().unwrap().comm, "iperf3");
    // Unknown names stay numbers, never guessed.
    assert_eq!(r.rows[0].reason, "reason 12");
    assert_eq!(r.rows[0].netns, "netns:[100]");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["rows"][0]["count"], 5);
    assert_eq!(json["rows"][0]["flow"]["dport"], 5201);
    assert_eq!(json["probe"]["total_seen"], 48);
}

#[test]
fn overflow_and_sampling_are_said_under_the_table() {
    let mut drops = Drops::new(Budget {
        per_cpu_per_sec: 1000,
        ..BUDGET
    });
    let interval = Interval {
        records: vec![record(12, 1, 0)],
        counts: ProbeCounts {
            seen: 10,
            overflow: 9,
            sampled_out: 30,
        },
        elapsed_ns: 1_000_000_000,
    };
    let r = drops.interval(0, &interval, &names(), &|_| true);
    let text = view::render(&r, &Term::default(), 50);
    assert!(text.contains("9 drops not in the table"), "{text}");
    assert!(text.contains("1 in 16"), "{text}");
    assert!(text.contains("10.0.0.1:40000 > 10.0.0.2:5201"), "{text}");
}

#[test]
fn the_filter_keeps_only_wanted_records() {
    let mut drops = Drops::new(BUDGET);
    let interval = Interval {
        records: vec![
            record(12, 1, 0),
            DropRecord {
                ifindex: 9,
                ..record(12, 2, 0)
            },
        ],
        counts: ProbeCounts::default(),
        elapsed_ns: 1_000_000_000,
    };
    let r = drops.interval(0, &interval, &names(), &|r| r.ifindex == 9);
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.rows[0].ifname, "if9");
}
