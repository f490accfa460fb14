// SPDX-License-Identifier: GPL-2.0 OR MIT
/* netkit drops: every skb the kernel frees as a drop (tracepoint skb:kfree_skb, as a
 * BTF tracepoint so the drop reason comes typed), counted in the kernel by
 * (netns, interface, reason, protocol, 5-tuple, socket inode). Userspace reads and
 * clears the counts once per interval.
 *
 * Double-buffered: `control[0]` says which of drops_a / drops_b this program writes;
 * userspace flips it, lets in-flight runs finish, then reads and empties the other.
 * The running totals in `stats` are kept per buffer too, chosen by the same read of
 * the selector as the map, so a drop is in the totals of the interval whose map
 * holds it. So an interval's counts are exact and the maps never need a racy delete
 * of a key the program is still incrementing. */
#include <linux/bpf.h>
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by the loader before loading. */
/* enum skb_drop_reason's SKB_CONSUMED in the running kernel (read from its BTF):
 * a normal free, never counted. */
const volatile __u32 consumed_reason = 1;
/* Events per second per CPU that are parsed in full; above it only 1 in
 * sample_every is, counted sample_every times (0: no budget). */
const volatile __u64 budget_per_sec = 0;
const volatile __u32 sample_every = 16;

struct drop_key {
	__u64 netns;    /* namespace inode */
	__u64 sock_ino; /* the local socket's inode, 0 when none */
	__u32 ifindex;
	__u32 reason;
	__u16 l3proto;  /* ethertype, host order */
	__u8 l4proto;   /* IP protocol number, 0 when not parsed */
	__u8 family;    /* 4, 6, or 0 when not IP */
	__u16 sport;    /* host order */
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct drop_val {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct drop_key);
	__type(value, struct drop_val);
} drops_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct drop_key);
	__type(value, struct drop_val);
} drops_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} control SEC(".maps");

/* Running totals per CPU, never reset: userspace takes differences. Slot
 * buffer * STAT_MAX + stat, buffer being the map (0: drops_a, 1: drops_b) the same
 * event was counted in. */
enum {
	STAT_SEEN = 0,     /* drops seen (after SKB_CONSUMED is excluded) */
	STAT_OVERFLOW = 1, /* drops not counted in a key because the map was full */
	STAT_SAMPLED = 2,  /* drops not parsed (over budget), stood for by a sampled one */
	STAT_MAX = 3,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct window {
	__u64 start_ns;
	__u64 events;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct window);
} budget SEC(".maps");

static __always_inline void stat_add(__u32 buffer, __u32 which, __u64 n)
{
	__u32 slot = buffer * STAT_MAX + which;
	__u64 *v = bpf_map_lookup_elem(&stats, &slot);
	if (v)
		*v += n;
}

/* How many drops this event stands for: 1, sample_every when it is the sampled one
 * of an over-budget window, 0 when it is skipped. */
static __always_inline __u64 weight(void)
{
	__u32 zero = 0;
	struct window *w;
	__u64 now;

	if (budget_per_sec == 0)
		return 1;
	w = bpf_map_lookup_elem(&budget, &zero);
	if (!w)
		return 1;
	now = bpf_ktime_get_ns();
	if (now - w->start_ns > 1000000000ULL) {
		w->start_ns = now;
		w->events = 0;
	}
	w->events++;
	if (w->events <= budget_per_sec)
		return 1;
	if (sample_every > 1 && (w->events % sample_every) != 0)
		return 0;
	return sample_every > 1 ? sample_every : 1;
}

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD

static __always_inline void read_ports(struct drop_key *key, unsigned char *l4)
{
	__u16 ports[2];

	if (key->l4proto != IPPROTO_TCP_ && key->l4proto != IPPROTO_UDP_)
		return;
	if (bpf_probe_read_kernel(ports, sizeof(ports), l4) == 0) {
		key->sport = bpf_ntohs(ports[0]);
		key->dport = bpf_ntohs(ports[1]);
	}
}

/* The IP header at skb->head + network_header, when the stack has set one. */
static __always_inline void read_flow(struct drop_key *key, struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	unsigned char *l3;
	__u8 first;

	/* (u16)~0: no network header yet (dropped before the IP layer saw it). */
	if (!head || nh == 0xffff)
		return;
	l3 = head + nh;
	if (bpf_probe_read_kernel(&first, 1, l3))
		return;
	if (key->l3proto == ETH_P_IP_ && (first >> 4) == 4) {
		__u8 hdr[20];
		__u32 ihl = (first & 0x0f) * 4;

		if (ihl < 20 || bpf_probe_read_kernel(hdr, sizeof(hdr), l3))
			return;
		key->family = 4;
		key->l4proto = hdr[9];
		__builtin_memcpy(key->saddr, &hdr[12], 4);
		__builtin_memcpy(key->daddr, &hdr[16], 4);
		/* Fragments after the first carry no ports. */
		if ((((__u16)hdr[6] << 8) | hdr[7]) & 0x1fff)
			return;
		read_ports(key, l3 + ihl);
	} else if (key->l3proto == ETH_P_IPV6_ && (first >> 4) == 6) {
		__u8 hdr[40];

		if (bpf_probe_read_kernel(hdr, sizeof(hdr), l3))
			return;
		key->family = 6;
		/* Only a transport header straight after the fixed one is parsed;
		 * behind extension headers the flow stays unknown. */
		key->l4proto = hdr[6];
		__builtin_memcpy(key->saddr, &hdr[8], 16);
		__builtin_memcpy(key->daddr, &hdr[24], 16);
		read_ports(key, l3 + 40);
	}
}

/* The socket's inode when `sk` is a full socket with a file (not a request or
 * timewait minisock, whose layout ends before sk_socket). */
static __always_inline __u64 socket_inode(struct sock *sk)
{
	unsigned char state = BPF_CORE_READ(sk, __sk_common.skc_state);

	/* TCP_TIME_WAIT, TCP_NEW_SYN_RECV */
	if (state == 6 || state == 12)
		return 0;
	return BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

/* Inlined once per map: the verifier wants one map per call site. */
static __always_inline void count(void *map, __u32 buffer, struct drop_key *key, __u64 w,
				  __u32 len)
{
	struct drop_val *val, init;
	long err;

	val = bpf_map_lookup_elem(map, key);
	if (val) {
		val->packets += w;
		val->bytes += (__u64)len * w;
		return;
	}
	init.packets = w;
	init.bytes = (__u64)len * w;
	err = bpf_map_update_elem(map, key, &init, BPF_NOEXIST);
	if (err == -17) {
		/* EEXIST: another CPU added the key since the lookup; this CPU's
		 * slot in it starts at zero. */
		val = bpf_map_lookup_elem(map, key);
		if (val) {
			val->packets += w;
			val->bytes += init.bytes;
		}
	} else if (err) {
		/* The map is full: counted, and shown as overflow. */
		stat_add(buffer, STAT_OVERFLOW, w);
	}
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(netkit_kfree_skb, struct sk_buff *skb, void *location, __u32 reason,
	     struct sock *rx_sk)
{
	struct drop_key key;
	struct net_device *dev;
	struct sock *sk;
	__u32 zero = 0, *active, buffer;
	__u64 w;

	if (reason == consumed_reason)
		return 0;
	/* Read once: the totals and the map of one event must be the same buffer's. */
	active = bpf_map_lookup_elem(&control, &zero);
	buffer = (active && *active) ? 1 : 0;
	w = weight();
	if (w == 0) {
		stat_add(buffer, STAT_SAMPLED, 1);
		return 0;
	}
	stat_add(buffer, STAT_SEEN, w);

	__builtin_memset(&key, 0, sizeof(key));
	key.reason = reason;
	key.l3proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	sk = rx_sk ? rx_sk : BPF_CORE_READ(skb, sk);
	dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		key.ifindex = BPF_CORE_READ(dev, ifindex);
		key.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	}
	if (sk) {
		if (!key.netns)
			key.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		key.sock_ino = socket_inode(sk);
	}
	read_flow(&key, skb);

	if (buffer)
		count(&drops_b, 1, &key, w, BPF_CORE_READ(skb, len));
	else
		count(&drops_a, 0, &key, w, BPF_CORE_READ(skb, len));
	return 0;
}
