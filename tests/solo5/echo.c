/* SPDX-License-Identifier: ISC */
/*
 * echo: a host on the network device "service" that answers ARP requests and
 * ICMP echo requests (ping) for its address, MirageOS style:
 *   --ipv4=A.B.C.D/NN         its address (needed)
 *   --ipv4-gateway=A.B.C.D    accepted and ignored
 * It announces itself with a gratuitous ARP and prints a line for every answer.
 */
#include "util.h"

#define ETH_HLEN      14
#define ETHERTYPE_IP  0x0800
#define ETHERTYPE_ARP 0x0806

static uint8_t mac[6];
static uint8_t ip[4];
static solo5_handle_t net;
static uint8_t frame[2048];

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The Internet checksum (RFC 1071) of n bytes. */
static uint16_t checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	for (; n > 1; n -= 2, p += 2)
		sum += get16(p);
	if (n)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static bool parse_ipv4(const char *s, size_t n, uint8_t out[4], uint64_t *prefix)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		size_t start = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		uint64_t v;
		if (!parse_uint(s + start, i - start, 255, &v))
			return false;
		out[part] = (uint8_t)v;
		char sep = part < 3 ? '.' : (prefix ? '/' : 0);
		if (sep) {
			if (i >= n || s[i] != sep)
				return false;
			i++;
		}
	}
	if (prefix)
		return parse_uint(s + i, n - i, 32, prefix);
	return i == n;
}

static void send_frame(size_t len, const char *what)
{
	if (solo5_net_write(net, frame, len) != SOLO5_R_OK)
		say("echo: could not send %s\n", what);
}

static void gratuitous_arp(void)
{
	uint8_t *a = frame + ETH_HLEN;
	memset(frame, 0xff, 6);
	memcpy(frame + 6, mac, 6);
	put16(frame + 12, ETHERTYPE_ARP);
	put16(a, 1);
	put16(a + 2, ETHERTYPE_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, ip, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, ip, 4);
	send_frame(ETH_HLEN + 28, "the gratuitous ARP");
}

static void arp(size_t len)
{
	uint8_t *a = frame + ETH_HLEN;
	if (len < ETH_HLEN + 28 || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IP || a[4] != 6 ||
	    a[5] != 4 || get16(a + 6) != 1 || memcmp(a + 24, ip, 4) != 0)
		return;
	/* the request becomes the reply, to its sender */
	memcpy(frame, a + 8, 6);
	memcpy(frame + 6, mac, 6);
	put16(a + 6, 2);
	memcpy(a + 18, a + 8, 10); /* sender MAC and IP become the target's */
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, ip, 4);
	send_frame(ETH_HLEN + 28, "an ARP reply");
	say("echo: ARP reply to %u.%u.%u.%u\n", a[24], a[25], a[26], a[27]);
}

static void icmp(size_t len)
{
	uint8_t *h = frame + ETH_HLEN;
	if (len < ETH_HLEN + 20 || h[0] >> 4 != 4)
		return;
	size_t hlen = (size_t)(h[0] & 15) * 4, total = get16(h + 2);
	if (hlen < 20 || total < hlen + 8 || ETH_HLEN + total > len || h[9] != 1 ||
	    memcmp(h + 16, ip, 4) != 0 || (get16(h + 6) & 0x3fff) != 0)
		return;
	uint8_t *m = h + hlen;
	if (m[0] != 8 || m[1] != 0)
		return;
	memcpy(frame, frame + 6, 6);
	memcpy(frame + 6, mac, 6);
	memcpy(h + 16, h + 12, 4);
	memcpy(h + 12, ip, 4);
	h[8] = 64;
	put16(h + 10, 0);
	put16(h + 10, checksum(h, hlen));
	m[0] = 0;
	put16(m + 2, 0);
	put16(m + 2, checksum(m, total - hlen));
	send_frame(ETH_HLEN + total, "an echo reply");
	say("echo: ICMP echo reply to %u.%u.%u.%u, id %u, sequence %u\n", h[16], h[17], h[18],
	    h[19], get16(m + 4), get16(m + 6));
}

int solo5_app_main(const struct solo5_start_info *si)
{
	const char *cursor = si->cmdline, *w, *v;
	size_t len, vlen;
	uint64_t prefix = 0;
	uint8_t gateway[4];
	bool have_ip = false;
	struct solo5_net_info info;

	say("echo: command line: '%s'\n", si->cmdline);
	while ((w = next_word(&cursor, &len))) {
		if (option(w, len, "--ipv4=", &v, &vlen)) {
			if (!parse_ipv4(v, vlen, ip, &prefix))
				bad_argument("echo", w, len);
			have_ip = true;
		} else if (option(w, len, "--ipv4-gateway=", &v, &vlen)) {
			if (!parse_ipv4(v, vlen, gateway, NULL))
				bad_argument("echo", w, len);
		} else {
			bad_argument("echo", w, len);
		}
	}
	if (!have_ip) {
		say("echo: --ipv4=A.B.C.D/NN is needed\n");
		solo5_exit(EXIT_BAD_ARGUMENT);
	}
	if (solo5_net_acquire("service", &net, &info) != SOLO5_R_OK) {
		say("echo: could not acquire the network device 'service'\n");
		solo5_exit(1);
	}
	if (info.mtu + ETH_HLEN > sizeof frame) {
		say("echo: MTU %lu is too large\n", (unsigned long)info.mtu);
		solo5_exit(1);
	}
	memcpy(mac, info.mac_address, 6);
	say("echo: service %02x:%02x:%02x:%02x:%02x:%02x, MTU %lu, address %u.%u.%u.%u/%u\n",
	    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], (unsigned long)info.mtu, ip[0], ip[1],
	    ip[2], ip[3], (unsigned)prefix);
	gratuitous_arp();
	for (;;) {
		solo5_handle_set_t ready = 0;
		solo5_yield(solo5_clock_monotonic() + 1000000000ULL, &ready);
		if (!(ready & 1ULL << net))
			continue;
		for (;;) {
			solo5_result_t r = solo5_net_read(net, frame, sizeof frame, &len);
			if (r == SOLO5_R_AGAIN)
				break;
			if (r != SOLO5_R_OK) {
				say("echo: read error\n");
				solo5_exit(1);
			}
			if (len < ETH_HLEN)
				continue;
			if (memcmp(frame, mac, 6) != 0 && !(frame[0] & 1))
				continue; /* neither for us nor broadcast or multicast */
			if (get16(frame + 12) == ETHERTYPE_ARP)
				arp(len);
			else if (get16(frame + 12) == ETHERTYPE_IP)
				icmp(len);
		}
	}
}
