// SPDX-License-Identifier: GPL-2.0 OR MIT
/* netkit top: who owns each socket, and its bytes, recorded in the kernel.
 *
 * Attached at the root of the cgroup2 hierarchy, so every process on the machine, in
 * every network namespace, passes through these hooks:
 * - sock_create, connect4/6, sendmsg4/6 (UDP), post_bind4/6 run in the calling
 *   process: they record (or refresh) the socket's owner in `owners`, keyed by
 *   socket cookie: pid/tgid, comm, uid, cgroup id, netns cookie, what is known of the
 *   5-tuple. Refreshed at connect and send because a socket may be passed on (fork,
 *   SCM_RIGHTS) after it was created.
 * - sockops, passive established: an accepted socket was not created by any process
 *   (no sock_create); it is recorded with its tuple and the owner of the socket bound
 *   to its port (post_bind records those in `bound`), or with pid 0 when that bind
 *   came before netkit started: userspace then finds its process the old way
 *   (sock_diag + /proc).
 * - sockops, active established: a connected socket's record gets its whole tuple
 *   (connect only knew the remote end), so its owner can be found by the addresses
 *   seen on the wire (netkit watch).
 * - sock_release marks the record closed. Nothing is deleted in the kernel: a
 *   record stays until userspace has read it (it deletes closed records it read),
 *   so a process that lived one millisecond is still named. Both maps are LRU and
 *   bounded; what the LRU evicts is counted in userspace from `stats` (inserts here,
 *   deletions there, entries left).
 * - cgroup_skb ingress/egress count bytes (IP length) and packets per (socket
 *   cookie, netns cookie, device, flow) in `traffic`: no packet is copied to
 *   userspace. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define OWNER_CLOSED 1  /* sock_release ran */
#define OWNER_PASSIVE 2 /* an accepted socket: no process known (pid 0) */
#define OWNER_LISTENER 4 /* an accepted socket named after its listener's binder */

struct sock_owner {
	__u64 netns_cookie;
	__u64 cgroup_id;
	__u32 pid;  /* tgid: the process */
	__u32 tid;  /* the thread that last used the socket */
	__u32 uid;
	__u32 flags;
	__u8 family; /* 4 or 6, 0 when not known */
	__u8 proto;  /* IPPROTO_* */
	__u16 lport; /* host order, 0 when not known */
	__u16 rport;
	__u16 pad;
	__u8 laddr[16]; /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	char comm[16];
};

struct flow_key {
	__u64 cookie;       /* socket cookie */
	__u64 netns_cookie;
	__u32 ifindex;      /* the device (userspace adds its link header length) */
	__u8 family;        /* 4 or 6 */
	__u8 proto;
	__u16 lport;        /* host order; the local end */
	__u16 rport;
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
	__u32 pad2;
};

struct flow_counts {
	__u64 tx_bytes;
	__u64 tx_packets;
	__u64 rx_bytes;
	__u64 rx_packets;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sock_owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_counts);
} traffic SEC(".maps");

/* The network namespaces netkit watches (netns cookie -> 1), filled by userspace:
 * sockets of other namespaces are neither recorded nor counted, so the maps hold
 * only what is read and the programs return at once for the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} watched SEC(".maps");

static __always_inline int is_watched(__u64 netns_cookie)
{
	return bpf_map_lookup_elem(&watched, &netns_cookie) != 0;
}

/* The owner of each socket bound to a port, by (netns cookie, protocol, port): an
 * accepted socket is named after the process that bound its listener (the one that
 * accepts, but for servers that bind in one process and accept in others). */
struct bound_key {
	__u64 netns_cookie;
	__u16 port;
	__u8 proto;
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct bound_key);
	__type(value, struct sock_owner);
} bound SEC(".maps");

/* Running totals per CPU, never reset: userspace takes differences. */
enum {
	STAT_OWNER_INSERTS = 0,
	STAT_FLOW_INSERTS = 1,
	STAT_NOT_IP = 2,      /* packets of a socket that were not IPv4/IPv6 */
	STAT_INSERT_FAILED = 3,
	STAT_MAX = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_add(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);
	if (v)
		*v += 1;
}

/* The record of socket `cookie`, made when missing. NULL when the map refused. */
static __always_inline struct sock_owner *owner_of(__u64 cookie)
{
	struct sock_owner *o = bpf_map_lookup_elem(&owners, &cookie);
	struct sock_owner init;

	if (o)
		return o;
	__builtin_memset(&init, 0, sizeof(init));
	if (bpf_map_update_elem(&owners, &cookie, &init, BPF_NOEXIST) == 0)
		stat_add(STAT_OWNER_INSERTS);
	o = bpf_map_lookup_elem(&owners, &cookie);
	if (!o)
		stat_add(STAT_INSERT_FAILED);
	return o;
}

/* The calling process, written into `o` (process context only). */
static __always_inline void set_process(struct sock_owner *o)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	o->pid = pid_tgid >> 32;
	o->tid = (__u32)pid_tgid;
	o->uid = (__u32)bpf_get_current_uid_gid();
	o->cgroup_id = bpf_get_current_cgroup_id();
	o->flags &= ~OWNER_PASSIVE;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

/* Four 32-bit context words one by one: the verifier refuses the 64-bit loads
 * the compiler would merge them into. */
static __always_inline void ctx_ip6(__u8 *dst, const __u32 *words)
{
	__u32 w[4];

	w[0] = *(volatile const __u32 *)&words[0];
	w[1] = *(volatile const __u32 *)&words[1];
	w[2] = *(volatile const __u32 *)&words[2];
	w[3] = *(volatile const __u32 *)&words[3];
	__builtin_memcpy(dst, w, 16);
}

/* sock_create, post_bind: a struct bpf_sock. `bound_family` is 0 (sock_create), 4 or 6
 * (post_bind4/6, each of which may read only its own family's address fields). */
static __always_inline void record_sock(struct bpf_sock *sk, int bound_family)
{
	__u64 netns = bpf_get_netns_cookie(sk);
	struct sock_owner *o;

	if (!is_watched(netns))
		return;
	o = owner_of(bpf_get_socket_cookie(sk));
	if (!o)
		return;
	set_process(o);
	o->netns_cookie = netns;
	o->proto = sk->protocol;
	if (sk->family == 2 /* AF_INET */)
		o->family = 4;
	else if (sk->family == 10 /* AF_INET6 */)
		o->family = 6;
	if (!bound_family)
		return;
	o->lport = sk->src_port;
	if (o->lport) {
		struct bound_key bk;

		__builtin_memset(&bk, 0, sizeof(bk));
		bk.netns_cookie = o->netns_cookie;
		bk.port = o->lport;
		bk.proto = o->proto;
		bpf_map_update_elem(&bound, &bk, o, BPF_ANY);
	}
	if (bound_family == 4) {
		__u32 a = sk->src_ip4;
		__builtin_memcpy(o->laddr, &a, 4);
	} else {
		ctx_ip6(o->laddr, sk->src_ip6);
	}
}

SEC("cgroup/sock_create")
int netkit_sock_create(struct bpf_sock *sk)
{
	record_sock(sk, 0);
	return 1;
}

SEC("cgroup/post_bind4")
int netkit_post_bind4(struct bpf_sock *sk)
{
	record_sock(sk, 4);
	return 1;
}

SEC("cgroup/post_bind6")
int netkit_post_bind6(struct bpf_sock *sk)
{
	record_sock(sk, 6);
	return 1;
}

SEC("cgroup/sock_release")
int netkit_sock_release(struct bpf_sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct sock_owner *o = bpf_map_lookup_elem(&owners, &cookie);

	if (!o)
		return 1;
	o->flags |= OWNER_CLOSED;
	/* A bound socket closing takes its port's entry along (when the entry is still
	 * its process's), so a later server on the port is not named after it. */
	if (o->lport && !(o->flags & (OWNER_PASSIVE | OWNER_LISTENER))) {
		struct bound_key bk;
		struct sock_owner *b;

		__builtin_memset(&bk, 0, sizeof(bk));
		bk.netns_cookie = o->netns_cookie;
		bk.port = o->lport;
		bk.proto = o->proto;
		b = bpf_map_lookup_elem(&bound, &bk);
		if (b && b->pid == o->pid)
			bpf_map_delete_elem(&bound, &bk);
	}
	return 1;
}

/* connect4/6, sendmsg4/6: the destination the process asked for. */
static __always_inline void record_addr(struct bpf_sock_addr *ctx, int v6)
{
	__u64 netns = bpf_get_netns_cookie(ctx);
	struct sock_owner *o;

	if (!is_watched(netns))
		return;
	o = owner_of(bpf_get_socket_cookie(ctx));
	if (!o)
		return;
	set_process(o);
	o->netns_cookie = netns;
	o->proto = ctx->protocol;
	o->family = v6 ? 6 : 4;
	o->rport = bpf_ntohs((__u16)ctx->user_port);
	if (v6) {
		ctx_ip6(o->raddr, ctx->user_ip6);
	} else {
		__u32 a = ctx->user_ip4;
		__builtin_memcpy(o->raddr, &a, 4);
	}
}

SEC("cgroup/connect4")
int netkit_connect4(struct bpf_sock_addr *ctx)
{
	record_addr(ctx, 0);
	return 1;
}

SEC("cgroup/connect6")
int netkit_connect6(struct bpf_sock_addr *ctx)
{
	record_addr(ctx, 1);
	return 1;
}

SEC("cgroup/sendmsg4")
int netkit_sendmsg4(struct bpf_sock_addr *ctx)
{
	record_addr(ctx, 0);
	return 1;
}

SEC("cgroup/sendmsg6")
int netkit_sendmsg6(struct bpf_sock_addr *ctx)
{
	record_addr(ctx, 1);
	return 1;
}

/* An established TCP connection: runs in softirq, so no process; its tuple and
 * namespace. Accepted (passive): named after its listener's binder. Connected
 * (active): the process was recorded at sock_create/connect, which did not know the
 * local port yet; the whole tuple written here is what lets `netkit watch` find a
 * client's owner by the addresses it captured, after the client is gone. */
SEC("sockops")
int netkit_sockops(struct bpf_sock_ops *ctx)
{
	struct sock_owner *o;
	__u64 cookie, netns;
	int passive = ctx->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB;

	if (!passive && ctx->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	netns = bpf_get_netns_cookie(ctx);
	if (!is_watched(netns))
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	o = owner_of(cookie);
	if (!o)
		return 1;
	o->netns_cookie = netns;
	o->proto = 6;
	o->lport = ctx->local_port;
	/* A connected socket older than netkit: no process known (userspace looks it
	 * up the old way). */
	if (!passive && o->pid == 0)
		o->flags |= OWNER_PASSIVE;
	if (passive && o->pid == 0) {
		struct bound_key bk;
		struct sock_owner *l;

		__builtin_memset(&bk, 0, sizeof(bk));
		bk.netns_cookie = o->netns_cookie;
		bk.port = o->lport;
		bk.proto = 6;
		l = bpf_map_lookup_elem(&bound, &bk);
		if (l) {
			o->pid = l->pid;
			o->tid = l->tid;
			o->uid = l->uid;
			o->cgroup_id = l->cgroup_id;
			__builtin_memcpy(o->comm, l->comm, sizeof(o->comm));
			o->flags |= OWNER_LISTENER;
		} else {
			o->flags |= OWNER_PASSIVE;
		}
	}
	o->rport = bpf_ntohl(ctx->remote_port);
	if (ctx->family == 2) {
		__u32 l = ctx->local_ip4, r = ctx->remote_ip4;
		o->family = 4;
		__builtin_memcpy(o->laddr, &l, 4);
		__builtin_memcpy(o->raddr, &r, 4);
	} else {
		o->family = 6;
		ctx_ip6(o->laddr, ctx->local_ip6);
		ctx_ip6(o->raddr, ctx->remote_ip6);
	}
	return 1;
}

/* The flow of an IP packet at the cgroup hook (data starts at the IP header),
 * oriented so `l*` is this host's end. 0 when it is not IP. */
static __always_inline int parse_flow(struct __sk_buff *skb, struct flow_key *k, int egress,
				      __u32 *hdr_len)
{
	__u8 hdr[40];
	__u16 ports[2] = {0, 0};
	__u32 l4off;
	__u8 *src, *dst;

	if (bpf_skb_load_bytes(skb, 0, hdr, 20))
		return 0;
	if ((hdr[0] >> 4) == 4) {
		k->family = 4;
		k->proto = hdr[9];
		l4off = (hdr[0] & 0x0f) * 4;
		src = &hdr[12];
		dst = &hdr[16];
		__builtin_memcpy(egress ? k->laddr : k->raddr, src, 4);
		__builtin_memcpy(egress ? k->raddr : k->laddr, dst, 4);
		/* A later fragment carries no ports. */
		if ((((__u16)hdr[6] << 8) | hdr[7]) & 0x1fff)
			return 1;
	} else if ((hdr[0] >> 4) == 6) {
		if (bpf_skb_load_bytes(skb, 0, hdr, 40))
			return 0;
		k->family = 6;
		/* Only a transport header straight after the fixed one is read. */
		k->proto = hdr[6];
		l4off = 40;
		__builtin_memcpy(egress ? k->laddr : k->raddr, &hdr[8], 16);
		__builtin_memcpy(egress ? k->raddr : k->laddr, &hdr[24], 16);
	} else {
		return 0;
	}
	/* TCP, UDP, UDP-Lite, SCTP: ports first. ICMP echo: the identifier, as both
	 * "ports" (top's flow key for ping sockets). */
	*hdr_len = l4off;
	if (k->proto == 6 || k->proto == 17 || k->proto == 136 || k->proto == 132) {
		if (bpf_skb_load_bytes(skb, l4off, ports, 4) == 0) {
			k->lport = bpf_ntohs(egress ? ports[0] : ports[1]);
			k->rport = bpf_ntohs(egress ? ports[1] : ports[0]);
		}
		if (k->proto == 6) {
			__u8 doff;

			if (bpf_skb_load_bytes(skb, l4off + 12, &doff, 1) == 0)
				*hdr_len = l4off + (doff >> 4) * 4;
		} else if (k->proto == 17) {
			*hdr_len = l4off + 8;
		}
	} else if (k->proto == 1 || k->proto == 58) {
		if (bpf_skb_load_bytes(skb, l4off + 4, ports, 2) == 0) {
			k->lport = bpf_ntohs(ports[0]);
			k->rport = k->lport;
		}
	}
	return 1;
}

static __always_inline void count(struct __sk_buff *skb, int egress)
{
	struct flow_key k;
	struct flow_counts *c, init;

	__u32 hdr_len = 0, segs, bytes;

	__builtin_memset(&k, 0, sizeof(k));
	k.netns_cookie = bpf_get_netns_cookie(skb);
	if (!is_watched(k.netns_cookie))
		return;
	k.cookie = bpf_get_socket_cookie(skb);
	if (!k.cookie)
		return;
	if (!parse_flow(skb, &k, egress, &hdr_len)) {
		stat_add(STAT_NOT_IP);
		return;
	}
	k.ifindex = skb->ifindex;
	/* A GSO (egress) or GRO (ingress) packet stands for gso_segs packets on the
	 * wire, each with its own IP and transport headers. */
	segs = skb->gso_segs;
	if (segs < 1)
		segs = 1;
	bytes = skb->len + (segs - 1) * hdr_len;
	c = bpf_map_lookup_elem(&traffic, &k);
	if (!c) {
		__builtin_memset(&init, 0, sizeof(init));
		if (bpf_map_update_elem(&traffic, &k, &init, BPF_NOEXIST) == 0)
			stat_add(STAT_FLOW_INSERTS);
		c = bpf_map_lookup_elem(&traffic, &k);
		if (!c) {
			stat_add(STAT_INSERT_FAILED);
			return;
		}
	}
	if (egress) {
		__sync_fetch_and_add(&c->tx_bytes, bytes);
		__sync_fetch_and_add(&c->tx_packets, segs);
	} else {
		__sync_fetch_and_add(&c->rx_bytes, bytes);
		__sync_fetch_and_add(&c->rx_packets, segs);
	}
}

SEC("cgroup_skb/egress")
int netkit_egress(struct __sk_buff *skb)
{
	count(skb, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int netkit_ingress(struct __sk_buff *skb)
{
	count(skb, 0);
	return 1;
}
