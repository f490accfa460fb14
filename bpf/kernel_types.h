/* The few kernel structures netkit's BPF programs read, with only the fields they
 * read. preserve_access_index makes every access a CO-RE relocation: the loader
 * rewrites each offset from the running kernel's BTF, so these definitions need not
 * match any kernel's layout, only its field names. Written by hand instead of a
 * generated vmlinux.h (130 000 lines that change with every kernel) so that the
 * committed objects depend on this file alone. */
#ifndef NETKIT_KERNEL_TYPES_H
#define NETKIT_KERNEL_TYPES_H

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct ns_common {
	unsigned int inum;
};

struct net {
	struct ns_common ns;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
};

struct inode {
	unsigned long i_ino;
};

struct file {
	struct inode *f_inode;
};

struct socket {
	struct file *file;
};

struct sock_common {
	unsigned short skc_family;
	volatile unsigned char skc_state;
	possible_net_t skc_net;
};

struct sock {
	struct sock_common __sk_common;
	struct socket *sk_socket;
};

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned int len;
	__be16 protocol;
	__u16 network_header;
	unsigned char *head;
};

#pragma clang attribute pop

#endif
