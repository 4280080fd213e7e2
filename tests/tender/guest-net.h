/* SPDX-License-Identifier: ISC */
/*
 * The stand-in guest's network stack (README.md, "The guest's network"): what a unikernel
 * with an address does on its tap. ARP and ICMP echo for its address, and an echo server
 * on every UDP and TCP port whose replies are "NAME: " followed by what came.
 *
 * It is the guest's part, not the tender's: a real tender only moves frames between the
 * tap and the unikernel. One instance per process, on one tap.
 */
#ifndef ALB_TEST_GUEST_NET_H
#define ALB_TEST_GUEST_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest --name= kept (bytes); a longer one is cut. */
#define GUEST_NET_NAME_MAX 256
/* Connections the TCP echo server keeps at once. */
#define GUEST_NET_TCP_CONNS 64

struct guest_net_config {
	int fd; /* the tap, non-blocking */
	uint8_t mac[6];
	int mtu;
	uint8_t ip[4];
	unsigned prefix;
	const char *name; /* replies are "NAME: " followed by the payload */
};

/* "A.B.C.D/N" (prefix != NULL, N at most 32) or "A.B.C.D" (prefix == NULL). */
bool guest_net_parse_ipv4(const char *s, uint8_t ip[4], unsigned *prefix);

/* Starts the stack (config is copied) and sends a gratuitous ARP. */
void guest_net_start(const struct guest_net_config *config);

/* The tap's fd, to poll for POLLIN; -1 once the tap failed (the stack is then stopped). */
int guest_net_fd(void);

/* Handles the frames waiting on the tap (a bounded number per call). */
void guest_net_input(void);

#endif
