/* SPDX-License-Identifier: ISC */
/*
 * The stand-in guest's network stack (guest-net.h, README.md): Ethernet, ARP, IPv4 without
 * fragments or options on output, ICMP echo, and echo servers on every UDP and TCP port.
 *
 * Replies go to the MAC address the request came from: no ARP cache, no routing. TCP is the
 * passive side only, without retransmission (it runs on a local bridge): SYN is answered
 * with SYN-ACK (with an MSS option), every segment that brings new data in order is echoed
 * at once, a FIN is answered with FIN-ACK, a RST ends the connection. Segments out of order
 * are answered with an ACK of what came so far and dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "guest-net.h"

#define ETH_HLEN      14
#define ETH_ALEN      6
#define ETHERTYPE_IP  0x0800
#define ETHERTYPE_ARP 0x0806
#define IP_HLEN	      20
#define UDP_HLEN      8
#define TCP_HLEN      20
#define PROTO_ICMP    1
#define PROTO_TCP     6
#define PROTO_UDP     17

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

#define TCP_WINDOW	 65535
#define TCP_DEFAULT_MSS	 536
#define TCP_MIN_MSS	 64
#define IP_PACKET_MAX	 65535
#define FRAMES_PER_INPUT 256
#define PREFIX_MAX	 (GUEST_NET_NAME_MAX + 2)

enum tcp_state { TCP_FREE, TCP_SYN_RCVD, TCP_ESTABLISHED, TCP_LAST_ACK };

struct tcp_conn {
	enum tcp_state state;
	uint8_t peer_mac[ETH_ALEN];
	uint8_t peer_ip[4];
	uint16_t peer_port, port;
	uint32_t irs;	  /* the peer's initial sequence number */
	uint32_t snd_nxt; /* our next sequence number */
	uint32_t rcv_nxt; /* the next one we expect */
	uint16_t peer_mss;
	uint64_t used; /* when last used, for eviction */
};

static struct {
	bool on;
	int fd;
	uint8_t mac[ETH_ALEN];
	size_t mtu;
	uint8_t ip[4];
	char prefix[PREFIX_MAX + 1]; /* "NAME: " */
	size_t prefix_len;
	uint16_t ip_id;
	uint64_t clock;
	struct tcp_conn conns[GUEST_NET_TCP_CONNS];
} net = {.fd = -1};

/* Received frames, built replies, and an echo's payload (prefix and data). */
static uint8_t rx[ETH_HLEN + IP_PACKET_MAX];
static uint8_t tx[ETH_HLEN + IP_PACKET_MAX];
static uint8_t echo[PREFIX_MAX + IP_PACKET_MAX];

/* --- helpers ------------------------------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* a comes before b, modulo 2^32 */
static bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* The Internet checksum (RFC 1071): sums of 16-bit words, folded and complemented. At most
 * 128 kB per sum, so 32 bits do not overflow. */
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

/* The sum of the pseudo-header of UDP and TCP. */
static uint32_t sum_pseudo(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, size_t len)
{
	uint8_t ph[12];
	memcpy(ph, src, 4);
	memcpy(ph + 4, dst, 4);
	ph[8] = 0;
	ph[9] = proto;
	put16(ph + 10, (uint16_t)len);
	return sum_add(0, ph, sizeof(ph));
}

bool guest_net_parse_ipv4(const char *s, uint8_t ip[4], unsigned *prefix)
{
	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;
		for (; *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
			v = v * 10 + (unsigned)(*s - '0');
		if (digits == 0 || v > 255)
			return false;
		ip[part] = (uint8_t)v;
		if (part < 3 && *s++ != '.')
			return false;
	}
	if (!prefix)
		return *s == '\0';
	if (*s++ != '/')
		return false;
	unsigned v = 0, digits = 0;
	for (; *s >= '0' && *s <= '9' && digits < 2; s++, digits++)
		v = v * 10 + (unsigned)(*s - '0');
	if (digits == 0 || v > 32 || *s != '\0')
		return false;
	*prefix = v;
	return true;
}

/* --- output -------------------------------------------------------------------------------- */

/* Sends tx[0..len): a full tap queue loses the frame, as a real link would. */
static void send_frame(size_t len)
{
	if (net.fd < 0)
		return;
	ssize_t r = write(net.fd, tx, len);
	(void)r;
}

static void eth_header(const uint8_t dst[ETH_ALEN], uint16_t type)
{
	memcpy(tx, dst, ETH_ALEN);
	memcpy(tx + ETH_ALEN, net.mac, ETH_ALEN);
	put16(tx + 12, type);
}

/* Ethernet and IPv4 headers for plen bytes of payload, which the caller puts at
 * tx + ETH_HLEN + IP_HLEN; returns the frame's length. */
static size_t ip_header(const uint8_t mac[ETH_ALEN], const uint8_t dst[4], uint8_t proto,
			size_t plen)
{
	uint8_t *h = tx + ETH_HLEN;
	eth_header(mac, ETHERTYPE_IP);
	h[0] = 0x45;
	h[1] = 0;
	put16(h + 2, (uint16_t)(IP_HLEN + plen));
	put16(h + 4, net.ip_id++);
	put16(h + 6, 0x4000); /* don't fragment */
	h[8] = 64;
	h[9] = proto;
	put16(h + 10, 0);
	memcpy(h + 12, net.ip, 4);
	memcpy(h + 16, dst, 4);
	put16(h + 10, sum_fold(sum_add(0, h, IP_HLEN)));
	return ETH_HLEN + IP_HLEN + plen;
}

static void arp_send(uint16_t op, const uint8_t eth_dst[ETH_ALEN], const uint8_t tha[ETH_ALEN],
		     const uint8_t tpa[4])
{
	uint8_t *a = tx + ETH_HLEN;
	eth_header(eth_dst, ETHERTYPE_ARP);
	put16(a, 1);
	put16(a + 2, ETHERTYPE_IP);
	a[4] = ETH_ALEN;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, net.mac, ETH_ALEN);
	memcpy(a + 14, net.ip, 4);
	memcpy(a + 18, tha, ETH_ALEN);
	memcpy(a + 24, tpa, 4);
	send_frame(ETH_HLEN + 28);
}

/* One TCP segment from our port to the peer's, with an MSS option if mss != 0. */
static void tcp_send(const uint8_t mac[ETH_ALEN], const uint8_t dst[4], uint16_t sport,
		     uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t mss,
		     const uint8_t *data, size_t n)
{
	uint8_t *t = tx + ETH_HLEN + IP_HLEN;
	size_t hlen = TCP_HLEN + (mss ? 4 : 0);
	if (IP_HLEN + hlen + n > net.mtu)
		return;
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, flags & TCP_ACK ? ack : 0);
	t[12] = (uint8_t)(hlen / 4 << 4);
	t[13] = flags;
	put16(t + 14, TCP_WINDOW);
	put16(t + 16, 0);
	put16(t + 18, 0);
	if (mss) {
		t[20] = 2; /* MSS */
		t[21] = 4;
		put16(t + 22, mss);
	}
	if (n)
		memcpy(t + hlen, data, n);
	size_t len = ip_header(mac, dst, PROTO_TCP, hlen + n);
	uint32_t sum = sum_pseudo(net.ip, dst, PROTO_TCP, hlen + n);
	put16(t + 16, sum_fold(sum_add(sum, t, hlen + n)));
	send_frame(len);
}

static void conn_send(struct tcp_conn *c, uint8_t flags, uint32_t seq, uint16_t mss,
		      const uint8_t *data, size_t n)
{
	tcp_send(c->peer_mac, c->peer_ip, c->port, c->peer_port, seq, c->rcv_nxt, flags, mss, data,
		 n);
}

/* --- input --------------------------------------------------------------------------------- */

static void arp_input(const uint8_t *f, size_t len)
{
	const uint8_t *a = f + ETH_HLEN;
	if (len < ETH_HLEN + 28 || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IP ||
	    a[4] != ETH_ALEN || a[5] != 4 || get16(a + 6) != 1 || memcmp(a + 24, net.ip, 4) != 0)
		return;
	uint8_t sha[ETH_ALEN], spa[4];
	memcpy(sha, a + 8, ETH_ALEN);
	memcpy(spa, a + 14, 4);
	arp_send(2, f + ETH_ALEN, sha, spa);
}

static void icmp_input(const uint8_t *mac, const uint8_t *src, const uint8_t *p, size_t n)
{
	if (n < 8 || p[0] != 8 || p[1] != 0 || sum_fold(sum_add(0, p, n)) != 0 ||
	    IP_HLEN + n > net.mtu)
		return;
	uint8_t *m = tx + ETH_HLEN + IP_HLEN;
	memcpy(m, p, n);
	m[0] = 0; /* echo reply */
	put16(m + 2, 0);
	put16(m + 2, sum_fold(sum_add(0, m, n)));
	send_frame(ip_header(mac, src, PROTO_ICMP, n));
}

static void udp_input(const uint8_t *mac, const uint8_t *src, const uint8_t *p, size_t n)
{
	if (n < UDP_HLEN)
		return;
	size_t ulen = get16(p + 4);
	if (ulen < UDP_HLEN || ulen > n)
		return;
	if (get16(p + 6) != 0 &&
	    sum_fold(sum_add(sum_pseudo(src, net.ip, PROTO_UDP, ulen), p, ulen)) != 0)
		return;
	size_t dlen = ulen - UDP_HLEN, room = net.mtu - IP_HLEN - UDP_HLEN;
	uint8_t *u = tx + ETH_HLEN + IP_HLEN;
	memcpy(u + UDP_HLEN, net.prefix, net.prefix_len);
	if (net.prefix_len + dlen > room) /* cut to what fits in one packet */
		dlen = room > net.prefix_len ? room - net.prefix_len : 0;
	memcpy(u + UDP_HLEN + net.prefix_len, p + UDP_HLEN, dlen);
	size_t rlen = UDP_HLEN + net.prefix_len + dlen;
	if (IP_HLEN + rlen > net.mtu)
		return;
	put16(u, get16(p + 2));
	put16(u + 2, get16(p));
	put16(u + 4, (uint16_t)rlen);
	put16(u + 6, 0);
	size_t flen = ip_header(mac, src, PROTO_UDP, rlen);
	uint16_t sum = sum_fold(sum_add(sum_pseudo(net.ip, src, PROTO_UDP, rlen), u, rlen));
	put16(u + 6, sum ? sum : 0xffff);
	send_frame(flen);
}

static struct tcp_conn *conn_find(const uint8_t ip[4], uint16_t peer_port, uint16_t port)
{
	for (size_t i = 0; i < GUEST_NET_TCP_CONNS; i++) {
		struct tcp_conn *c = &net.conns[i];
		if (c->state != TCP_FREE && c->peer_port == peer_port && c->port == port &&
		    memcmp(c->peer_ip, ip, 4) == 0)
			return c;
	}
	return NULL;
}

/* A free entry, else the least recently used one that is not established; NULL if every
 * entry is an established connection. */
static struct tcp_conn *conn_new(void)
{
	struct tcp_conn *old = NULL;
	for (size_t i = 0; i < GUEST_NET_TCP_CONNS; i++) {
		struct tcp_conn *c = &net.conns[i];
		if (c->state == TCP_FREE)
			return c;
		if (c->state != TCP_ESTABLISHED && (!old || c->used < old->used))
			old = c;
	}
	return old;
}

static uint32_t initial_seq(void)
{
	uint32_t v;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == sizeof(v))
		return v;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint32_t)(t.tv_sec * 1000000 + t.tv_nsec / 1000) * 4u + (uint32_t)net.clock;
}

/* The MSS option of a SYN, else the default. */
static uint16_t peer_mss(const uint8_t *t, size_t hlen)
{
	for (size_t i = TCP_HLEN; i < hlen;) {
		uint8_t kind = t[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= hlen || t[i + 1] < 2 || i + t[i + 1] > hlen)
			break;
		if (kind == 2 && t[i + 1] == 4 && get16(t + i + 2) >= TCP_MIN_MSS)
			return get16(t + i + 2);
		i += t[i + 1];
	}
	return TCP_DEFAULT_MSS;
}

/* The MSS we announce: an echo of a full segment, prefix included, fits in one packet. */
static uint16_t our_mss(void)
{
	size_t room = net.mtu - IP_HLEN - TCP_HLEN;
	size_t mss = room > net.prefix_len + TCP_MIN_MSS ? room - net.prefix_len : TCP_MIN_MSS;
	return (uint16_t)(mss > 65535 ? 65535 : mss);
}

/* Echoes n bytes: the prefix and the data, in segments the peer and the link take. */
static void tcp_echo(struct tcp_conn *c, const uint8_t *data, size_t n)
{
	size_t total = net.prefix_len + n, max = net.mtu - IP_HLEN - TCP_HLEN;
	if (max > c->peer_mss)
		max = c->peer_mss;
	memcpy(echo, net.prefix, net.prefix_len);
	memcpy(echo + net.prefix_len, data, n);
	for (size_t off = 0; off < total;) {
		size_t k = total - off < max ? total - off : max;
		conn_send(c, TCP_ACK | TCP_PSH, c->snd_nxt, 0, echo + off, k);
		c->snd_nxt += (uint32_t)k;
		off += k;
	}
}

/* A segment that belongs to no connection: RST, as RFC 793 says. */
static void tcp_reset(const uint8_t *mac, const uint8_t *src, const uint8_t *t, size_t seglen)
{
	uint8_t flags = t[13];
	if (flags & TCP_ACK)
		tcp_send(mac, src, get16(t + 2), get16(t), get32be(t + 8), 0, TCP_RST, 0, NULL, 0);
	else
		tcp_send(mac, src, get16(t + 2), get16(t), 0, get32be(t + 4) + (uint32_t)seglen,
			 TCP_RST | TCP_ACK, 0, NULL, 0);
}

static void tcp_input(const uint8_t *mac, const uint8_t *src, const uint8_t *t, size_t n)
{
	if (n < TCP_HLEN)
		return;
	size_t hlen = (size_t)(t[12] >> 4) * 4;
	if (hlen < TCP_HLEN || hlen > n ||
	    sum_fold(sum_add(sum_pseudo(src, net.ip, PROTO_TCP, n), t, n)) != 0)
		return;
	uint16_t peer_port = get16(t), port = get16(t + 2);
	uint32_t seq = get32be(t + 4), ack = get32be(t + 8);
	uint8_t flags = t[13];
	const uint8_t *data = t + hlen;
	size_t dlen = n - hlen;
	bool syn = flags & TCP_SYN, fin = flags & TCP_FIN;
	/* the sequence space the segment takes: SYN and FIN count one each */
	size_t seglen = dlen + syn + fin;

	struct tcp_conn *c = conn_find(src, peer_port, port);
	if (flags & TCP_RST) {
		if (c && !seq_lt(seq, c->rcv_nxt) && seq_lt(seq, c->rcv_nxt + TCP_WINDOW))
			c->state = TCP_FREE;
		return;
	}
	if (c && syn && !(flags & TCP_ACK) && !(c->state == TCP_SYN_RCVD && seq == c->irs))
		c->state = TCP_FREE; /* a new connection on the tuple: the old one is gone */
	if (!c || c->state == TCP_FREE) {
		if (!syn || (flags & TCP_ACK)) {
			tcp_reset(mac, src, t, seglen);
			return;
		}
		if (!c)
			c = conn_new();
		if (!c) {
			tcp_reset(mac, src, t, seglen);
			return;
		}
		memset(c, 0, sizeof(*c));
		c->state = TCP_SYN_RCVD;
		memcpy(c->peer_mac, mac, ETH_ALEN);
		memcpy(c->peer_ip, src, 4);
		c->peer_port = peer_port;
		c->port = port;
		c->irs = seq;
		c->rcv_nxt = seq + 1;
		c->snd_nxt = initial_seq();
		c->peer_mss = peer_mss(t, hlen);
		c->used = ++net.clock;
		/* data on a SYN is not taken (no TCP Fast Open): the peer sends it again */
		conn_send(c, TCP_SYN | TCP_ACK, c->snd_nxt, our_mss(), NULL, 0);
		c->snd_nxt++;
		return;
	}
	c->used = ++net.clock;
	memcpy(c->peer_mac, mac, ETH_ALEN);
	if (syn) { /* the SYN again: our SYN-ACK was lost */
		if (c->state == TCP_SYN_RCVD && !(flags & TCP_ACK))
			conn_send(c, TCP_SYN | TCP_ACK, c->snd_nxt - 1, our_mss(), NULL, 0);
		else
			conn_send(c, TCP_ACK, c->snd_nxt, 0, NULL, 0);
		return;
	}
	if (!(flags & TCP_ACK))
		return;
	if (c->state == TCP_SYN_RCVD) {
		if (ack != c->snd_nxt) {
			tcp_send(mac, src, port, peer_port, ack, 0, TCP_RST, 0, NULL, 0);
			return;
		}
		c->state = TCP_ESTABLISHED;
	} else if (seq_lt(c->snd_nxt, ack)) { /* acknowledges what we never sent */
		conn_send(c, TCP_ACK, c->snd_nxt, 0, NULL, 0);
		return;
	}
	if (c->state == TCP_LAST_ACK) {
		if (ack == c->snd_nxt)
			c->state = TCP_FREE; /* our FIN is acknowledged: closed */
		else if (seglen > 0)	     /* the peer's FIN again: our FIN-ACK was lost */
			conn_send(c, TCP_FIN | TCP_ACK, c->snd_nxt - 1, 0, NULL, 0);
		return;
	}
	if (seglen == 0)
		return; /* a bare ACK */

	/* In order? Take what is new; a segment after a gap or a duplicate gets an ACK. */
	if (seq_lt(c->rcv_nxt, seq)) {
		conn_send(c, TCP_ACK, c->snd_nxt, 0, NULL, 0);
		return;
	}
	uint32_t old = c->rcv_nxt - seq;
	if (old > dlen || (old == dlen && !fin)) {
		conn_send(c, TCP_ACK, c->snd_nxt, 0, NULL, 0);
		return;
	}
	size_t fresh = dlen - old;
	c->rcv_nxt += (uint32_t)fresh;
	if (fresh > 0)
		tcp_echo(c, data + old, fresh);
	if (fin) {
		c->rcv_nxt++;
		conn_send(c, TCP_FIN | TCP_ACK, c->snd_nxt, 0, NULL, 0);
		c->snd_nxt++;
		c->state = TCP_LAST_ACK;
	}
}

static void ip_input(const uint8_t *f, size_t len)
{
	const uint8_t *h = f + ETH_HLEN;
	size_t n = len - ETH_HLEN;
	if (n < IP_HLEN || h[0] >> 4 != 4)
		return;
	size_t hlen = (size_t)(h[0] & 15) * 4, total = get16(h + 2);
	if (hlen < IP_HLEN || total < hlen || total > n || sum_fold(sum_add(0, h, hlen)) != 0 ||
	    (get16(h + 6) & 0x3fff) != 0 || memcmp(h + 16, net.ip, 4) != 0)
		return; /* malformed, a fragment, or not for us */
	const uint8_t *mac = f + ETH_ALEN, *src = h + 12, *p = h + hlen;
	size_t plen = total - hlen;
	switch (h[9]) {
	case PROTO_ICMP:
		icmp_input(mac, src, p, plen);
		break;
	case PROTO_UDP:
		udp_input(mac, src, p, plen);
		break;
	case PROTO_TCP:
		tcp_input(mac, src, p, plen);
		break;
	default:
		break;
	}
}

static void frame_input(const uint8_t *f, size_t len)
{
	if (len < ETH_HLEN)
		return;
	if (memcmp(f, net.mac, ETH_ALEN) != 0 && !(f[0] & 1))
		return; /* neither for us nor broadcast or multicast */
	if (f[ETH_ALEN] & 1)
		return; /* from a multicast address: no one to answer */
	switch (get16(f + 12)) {
	case ETHERTYPE_ARP:
		arp_input(f, len);
		break;
	case ETHERTYPE_IP:
		if (memcmp(f, net.mac, ETH_ALEN) == 0)
			ip_input(f, len);
		break;
	default:
		break;
	}
}

/* --- the interface ------------------------------------------------------------------------- */

void guest_net_start(const struct guest_net_config *config)
{
	static const uint8_t broadcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t none[ETH_ALEN];

	memset(&net, 0, sizeof(net));
	net.on = true;
	net.fd = config->fd;
	memcpy(net.mac, config->mac, ETH_ALEN);
	net.mtu =
	    config->mtu < IP_HLEN + TCP_HLEN + 8 ? IP_HLEN + TCP_HLEN + 8 : (size_t)config->mtu;
	if (net.mtu > IP_PACKET_MAX)
		net.mtu = IP_PACKET_MAX;
	memcpy(net.ip, config->ip, 4);
	int len =
	    snprintf(net.prefix, sizeof(net.prefix), "%.*s: ", GUEST_NET_NAME_MAX, config->name);
	net.prefix_len = len > 0 ? (size_t)len : 0;
	net.ip_id = (uint16_t)initial_seq();
	arp_send(1, broadcast, none, net.ip); /* gratuitous ARP: here we are */
}

int guest_net_fd(void)
{
	return net.on ? net.fd : -1;
}

void guest_net_input(void)
{
	for (int i = 0; net.on && net.fd >= 0 && i < FRAMES_PER_INPUT; i++) {
		ssize_t n = read(net.fd, rx, sizeof(rx));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			net.fd = -1; /* the tap is gone: the stack stops */
			return;
		}
		frame_input(rx, (size_t)n);
	}
}
