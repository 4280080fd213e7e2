/* SPDX-License-Identifier: ISC */
/*
 * Published ports for albatrossd: DNAT rules in the nftables table "ip albatross"
 * (through libnftables, never the nft program), conntrack cleanup (libnl-nf) and the
 * ip_forward check. Not exported. docs/nftables.md describes the table.
 */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <albatross/ctx.h>

#include "util-private.h" /* alb_ctx, cleanup helpers */

/* One published port: DNAT of proto host_addr:host_port to dest_addr:dest_port.
 * Addresses are IPv4 in network byte order (struct in_addr s_addr); host_addr 0: any
 * local address (`fib daddr type local`). Ports are in host byte order, 1..65535.
 * proto: IPPROTO_TCP or IPPROTO_UDP. owner: a comment put on the rule (the service
 * name, e.g. "alice:web"), 1 to ALB_NFT_OWNER_MAX bytes of [A-Za-z0-9:._-]. */
struct alb_nft_port {
	int proto;
	uint32_t host_addr;
	uint16_t host_port;
	uint32_t dest_addr;
	uint16_t dest_port;
	const char *owner;
};

#define ALB_NFT_TABLE	  "albatross" /* table ip albatross: the only one we touch */
#define ALB_NFT_OWNER_MAX 128
/* At most this many ports in one alb_nft_apply() (and read back by alb_nft_list()). */
#define ALB_NFT_PORTS_MAX 65536

/* Replaces the whole content of table ip albatross with DNAT rules for ports, in ONE
 * nftables transaction (one batch: all or nothing; on failure the previous rules stay).
 * n == 0 leaves the table with its chains and no rule. The table holds: a nat prerouting
 * chain (priority dstnat) and a nat output chain (priority -100, so that connections made
 * from the host itself to a local address reach the unikernel too) with the DNAT rules,
 * e.g. `meta l4proto tcp ip daddr H tcp dport 8080 dnat ip to 10.0.0.5:80 comment "a:w"`
 * (`fib daddr type local` instead of `ip daddr H` for host_addr 0).
 * -EINVAL for an invalid port (nothing is changed then), -EEXIST if two ports take the
 * same proto and host port on the same address (or one on any address), -EPERM without
 * CAP_NET_ADMIN. 0, or -errno with the reason (libnftables' error text) in ctx. */
int alb_nft_apply(alb_ctx *ctx, const struct alb_nft_port *ports, size_t n);

/* Deletes table ip albatross if it is there. 0 (also when it was not there), -errno. */
int alb_nft_remove(alb_ctx *ctx);

/* Reads back the DNAT rules of table ip albatross (for tests and for the daemon to compare
 * at start): *ret is an array of n entries (those of the prerouting chain, in order),
 * owner strings owned by the array; freed with alb_nft_ports_free(). -ENOENT if there is
 * no such table; -EBADMSG if the table holds anything alb_nft_apply() does not make
 * (another chain, a rule of another form, an output chain that differs from prerouting):
 * the daemon applies its rules again then. */
int alb_nft_list(alb_ctx *ctx, struct alb_nft_port **ret, size_t *ret_n);
void alb_nft_ports_free(struct alb_nft_port *ports, size_t n);

/* Deletes the conntrack entries of proto whose NATed destination is dest_addr (the reply
 * direction's source is dest_addr), so that the next packets of those flows are NATed again
 * by the current rules. proto 0: every protocol. Returns the number of entries deleted (>= 0)
 * or -errno. */
int alb_conntrack_forget(alb_ctx *ctx, int proto, uint32_t dest_addr);

/* 1 if net.ipv4.ip_forward is on in this network namespace, 0 if off, -errno if it cannot be
 * read. */
int alb_ip_forward_enabled(void);
