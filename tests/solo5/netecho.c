/* SPDX-License-Identifier: ISC */
/*
 * netecho: a host on the network device "service" that echoes, as the test tender's guest
 * does (tests/tender/README.md, "The guest's network"):
 *   --ipv4=A.B.C.D/NN         its address (needed)
 *   --ipv4-gateway=A.B.C.D    accepted and ignored (replies go to the MAC a request came from)
 *   --name=TEXT               the prefix of its echoes (default netecho, at most 64 bytes)
 * It answers ARP requests and ICMP echo requests for its address, and sends every UDP
 * datagram back to its sender as "TEXT: " followed by the payload, on any port. It
 * announces itself with a gratuitous ARP and prints a line for every UDP echo.
 */
#include "util.h"

#define ETH_HLEN      14
#define IP_HLEN	      20
#define UDP_HLEN      8
#define ETHERTYPE_IP  0x0800
#define ETHERTYPE_ARP 0x0806
#define NAME_MAX_LEN  64

static uint8_t mac[6];
static uint8_t ip[4];
static size_t mtu;
static char prefix[NAME_MAX_LEN + 2];
static size_t prefix_len;
static uint16_t ip_id;
static solo5_handle_t net;
static uint8_t frame[2048];
static uint8_t reply[2048];

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The Internet checksum (RFC 1071): a running sum, then folded and complemented. */
static uint32_t sum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (; n > 1; n -= 2, p += 2)
		sum += get16(p);
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t sum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The UDP pseudo-header's sum. */
static uint32_t sum_pseudo(const uint8_t *src, const uint8_t *dst, size_t len)
{
	uint8_t ph[12];
	memcpy(ph, src, 4);
	memcpy(ph + 4, dst, 4);
	ph[8] = 0;
	ph[9] = 17;
	put16(ph + 10, (uint16_t)len);
	return sum_add(0, ph, sizeof ph);
}

static bool parse_ipv4(const char *s, size_t n, uint8_t out[4], uint64_t *pfx)
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
		char sep = part < 3 ? '.' : (pfx ? '/' : 0);
		if (sep) {
			if (i >= n || s[i] != sep)
				return false;
			i++;
		}
	}
	if (pfx)
		return parse_uint(s + i, n - i, 32, pfx);
	return i == n;
}

static void send_reply(size_t len, const char *what)
{
	if (solo5_net_write(net, reply, len) != SOLO5_R_OK)
		say("netecho: could not send %s\n", what);
}

/* Ethernet and IPv4 headers in reply[] for plen bytes of payload; the frame's length. */
static size_t ip_header(const uint8_t *dst_mac, const uint8_t *dst, uint8_t proto, size_t plen)
{
	uint8_t *h = reply + ETH_HLEN;
	memcpy(reply, dst_mac, 6);
	memcpy(reply + 6, mac, 6);
	put16(reply + 12, ETHERTYPE_IP);
	h[0] = 0x45;
	h[1] = 0;
	put16(h + 2, (uint16_t)(IP_HLEN + plen));
	put16(h + 4, ip_id++);
	put16(h + 6, 0x4000);
	h[8] = 64;
	h[9] = proto;
	put16(h + 10, 0);
	memcpy(h + 12, ip, 4);
	memcpy(h + 16, dst, 4);
	put16(h + 10, sum_fold(sum_add(0, h, IP_HLEN)));
	return ETH_HLEN + IP_HLEN + plen;
}

static void arp_send(uint16_t op, const uint8_t *eth_dst, const uint8_t *tha, const uint8_t *tpa)
{
	uint8_t *a = reply + ETH_HLEN;
	memcpy(reply, eth_dst, 6);
	memcpy(reply + 6, mac, 6);
	put16(reply + 12, ETHERTYPE_ARP);
	put16(a, 1);
	put16(a + 2, ETHERTYPE_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, ip, 4);
	memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
	send_reply(ETH_HLEN + 28, op == 1 ? "the gratuitous ARP" : "an ARP reply");
}

static void arp(size_t len)
{
	const uint8_t *a = frame + ETH_HLEN;
	if (len < ETH_HLEN + 28 || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IP || a[4] != 6 ||
	    a[5] != 4 || get16(a + 6) != 1 || memcmp(a + 24, ip, 4) != 0)
		return;
	arp_send(2, frame + 6, a + 8, a + 14);
}

static void icmp(const uint8_t *src, const uint8_t *p, size_t n)
{
	if (n < 8 || p[0] != 8 || p[1] != 0 || sum_fold(sum_add(0, p, n)) != 0 || IP_HLEN + n > mtu)
		return;
	uint8_t *m = reply + ETH_HLEN + IP_HLEN;
	memcpy(m, p, n);
	m[0] = 0;
	put16(m + 2, 0);
	put16(m + 2, sum_fold(sum_add(0, m, n)));
	send_reply(ip_header(frame + 6, src, 1, n), "an echo reply");
}

static void udp(const uint8_t *src, const uint8_t *p, size_t n)
{
	if (n < UDP_HLEN)
		return;
	size_t ulen = get16(p + 4);
	if (ulen < UDP_HLEN || ulen > n)
		return;
	if (get16(p + 6) != 0 && sum_fold(sum_add(sum_pseudo(src, ip, ulen), p, ulen)) != 0)
		return;
	size_t dlen = ulen - UDP_HLEN, room = mtu - IP_HLEN - UDP_HLEN;
	if (prefix_len + dlen > room) /* cut to what fits in one packet */
		dlen = room - prefix_len;
	uint8_t *u = reply + ETH_HLEN + IP_HLEN;
	size_t rlen = UDP_HLEN + prefix_len + dlen;
	put16(u, get16(p + 2));
	put16(u + 2, get16(p));
	put16(u + 4, (uint16_t)rlen);
	put16(u + 6, 0);
	memcpy(u + UDP_HLEN, prefix, prefix_len);
	memcpy(u + UDP_HLEN + prefix_len, p + UDP_HLEN, dlen);
	size_t flen = ip_header(frame + 6, src, 17, rlen);
	uint16_t sum = sum_fold(sum_add(sum_pseudo(ip, src, rlen), u, rlen));
	put16(u + 6, sum ? sum : 0xffff);
	send_reply(flen, "a UDP echo");
	say("netecho: UDP echo to %u.%u.%u.%u:%u, %u bytes\n", src[0], src[1], src[2], src[3],
	    (unsigned)get16(p), (unsigned)(ulen - UDP_HLEN));
}

static void ipv4(size_t len)
{
	const uint8_t *h = frame + ETH_HLEN;
	if (len < ETH_HLEN + IP_HLEN || h[0] >> 4 != 4 || memcmp(frame, mac, 6) != 0)
		return;
	size_t hlen = (size_t)(h[0] & 15) * 4, total = get16(h + 2);
	if (hlen < IP_HLEN || total < hlen || ETH_HLEN + total > len ||
	    sum_fold(sum_add(0, h, hlen)) != 0 || (get16(h + 6) & 0x3fff) != 0 ||
	    memcmp(h + 16, ip, 4) != 0)
		return;
	if (h[9] == 1)
		icmp(h + 12, h + hlen, total - hlen);
	else if (h[9] == 17)
		udp(h + 12, h + hlen, total - hlen);
}

int solo5_app_main(const struct solo5_start_info *si)
{
	static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t none[6];
	const char *cursor = si->cmdline, *w, *v, *name = "netecho";
	size_t len, vlen, name_len = 7;
	uint64_t pfx = 0;
	uint8_t gateway[4];
	bool have_ip = false;
	struct solo5_net_info info;

	say("netecho: command line: '%s'\n", si->cmdline);
	while ((w = next_word(&cursor, &len))) {
		if (option(w, len, "--ipv4=", &v, &vlen)) {
			if (!parse_ipv4(v, vlen, ip, &pfx))
				bad_argument("netecho", w, len);
			have_ip = true;
		} else if (option(w, len, "--ipv4-gateway=", &v, &vlen)) {
			if (!parse_ipv4(v, vlen, gateway, NULL))
				bad_argument("netecho", w, len);
		} else if (option(w, len, "--name=", &v, &vlen)) {
			name = v;
			name_len = vlen < NAME_MAX_LEN ? vlen : NAME_MAX_LEN;
		} else {
			bad_argument("netecho", w, len);
		}
	}
	if (!have_ip) {
		say("netecho: --ipv4=A.B.C.D/NN is needed\n");
		solo5_exit(EXIT_BAD_ARGUMENT);
	}
	memcpy(prefix, name, name_len);
	memcpy(prefix + name_len, ": ", 2);
	prefix_len = name_len + 2;
	if (solo5_net_acquire("service", &net, &info) != SOLO5_R_OK) {
		say("netecho: could not acquire the network device 'service'\n");
		solo5_exit(1);
	}
	if (info.mtu + ETH_HLEN > sizeof frame || info.mtu < IP_HLEN + UDP_HLEN + sizeof prefix) {
		say("netecho: MTU %lu is out of range\n", (unsigned long)info.mtu);
		solo5_exit(1);
	}
	mtu = info.mtu;
	memcpy(mac, info.mac_address, 6);
	say("netecho: service %02x:%02x:%02x:%02x:%02x:%02x, MTU %lu, address %u.%u.%u.%u/%u, "
	    "name %.*s\n",
	    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], (unsigned long)mtu, ip[0], ip[1], ip[2],
	    ip[3], (unsigned)pfx, (int)name_len, name);
	arp_send(1, broadcast, none, ip);
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
				say("netecho: read error\n");
				solo5_exit(1);
			}
			if (len < ETH_HLEN)
				continue;
			if (memcmp(frame, mac, 6) != 0 && !(frame[0] & 1))
				continue; /* neither for us nor broadcast or multicast */
			if (get16(frame + 12) == ETHERTYPE_ARP)
				arp(len);
			else if (get16(frame + 12) == ETHERTYPE_IP)
				ipv4(len);
		}
	}
}
