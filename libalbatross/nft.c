/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/select.h>
#include <unistd.h>

#include "dl-nft-private.h" /* before any header that includes libnftables' or libnl's */
#include "dl-nl-private.h"

#include "ctx-private.h"
#include "nft-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nft_ctx *, nft_ctx_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, nl_socket_free);

/* The most text alb_nft_list() reads back from libnftables. */
#define LIST_OUTPUT_MAX (64u << 20)

static const char *proto_name(int proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : NULL;
}

static bool owner_valid(const char *owner)
{
	if (!owner || !owner[0])
		return false;
	size_t len = 0;
	for (const char *p = owner; *p; p++, len++) {
		char c = *p;
		if (len >= ALB_NFT_OWNER_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == ':' || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void addr_str(uint32_t addr, char buf[INET_ADDRSTRLEN])
{
	struct in_addr a = {.s_addr = addr};
	inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static int port_check(alb_ctx *ctx, const struct alb_nft_port *p, size_t i)
{
	if (!proto_name(p->proto))
		return alb_error(ctx, EINVAL, "published port %zu: protocol %d is not tcp or udp",
				 i, p->proto);
	if (p->host_port == 0 || p->dest_port == 0)
		return alb_error(ctx, EINVAL, "published port %zu: port 0", i);
	if (p->dest_addr == 0)
		return alb_error(ctx, EINVAL, "published port %zu: no destination address", i);
	if (!owner_valid(p->owner))
		return alb_error(ctx, EINVAL,
				 "published port %zu: the owner must be 1 to %d characters of "
				 "[A-Za-z0-9:._-]",
				 i, ALB_NFT_OWNER_MAX);
	return 0;
}

static int port_cmp(const void *a, const void *b)
{
	const struct alb_nft_port *x = *(const struct alb_nft_port *const *)a;
	const struct alb_nft_port *y = *(const struct alb_nft_port *const *)b;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->host_port != y->host_port)
		return x->host_port < y->host_port ? -1 : 1;
	uint32_t ax = ntohl(x->host_addr), ay = ntohl(y->host_addr);
	return ax < ay ? -1 : ax > ay;
}

/* -EEXIST if two ports take the same proto and host port on one address (0: any). */
static int ports_conflicts(alb_ctx *ctx, const struct alb_nft_port *ports, size_t n)
{
	if (n < 2)
		return 0;
	_cleanup_free_ const struct alb_nft_port **v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = &ports[i];
	qsort(v, n, sizeof(*v), port_cmp);
	/* Sorted by address within a (proto, port) group: an "any" entry comes first. */
	for (size_t i = 0, first = 0; i + 1 < n; i++) {
		const struct alb_nft_port *a = v[i], *b = v[i + 1];
		if (a->proto != b->proto || a->host_port != b->host_port) {
			first = i + 1;
			continue;
		}
		if (a->host_addr == b->host_addr || v[first]->host_addr == 0) {
			char h[INET_ADDRSTRLEN];
			addr_str(b->host_addr, h);
			return alb_error(
			    ctx, EEXIST, "%s port %u on %s is published twice ('%s', '%s')",
			    proto_name(b->proto), b->host_port, b->host_addr ? h : "any address",
			    v[first]->owner, b->owner);
		}
	}
	return 0;
}

/* The errno that libnftables' error text names, EIO if none. */
static int error_errno(const char *text)
{
	static const int known[] = {EPERM,  ENOENT, EEXIST,	EBUSY,	      ENOMEM,
				    ENOSPC, EINVAL, EOPNOTSUPP, EAFNOSUPPORT, ENOBUFS};
	for (size_t i = 0; i < ELEMENTSOF(known); i++)
		if (strstr(text, strerror(known[i])))
			return known[i];
	return EIO;
}

static int nft_new(alb_ctx *ctx, struct nft_ctx **ret)
{
	int r = alb_dl_nft_load(ctx);
	if (r < 0)
		return r;
	/* libnftables waits on its netlink socket with select(): a descriptor past FD_SETSIZE
	 * would abort the process (glibc's fortified FD_SET). The socket takes the lowest free
	 * one: refuse rather than abort if none is left below FD_SETSIZE. */
	int low = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (low >= 0)
		close(low);
	if (low >= FD_SETSIZE)
		return alb_error(ctx, EMFILE,
				 "libnftables cannot be used: every file descriptor below %d is "
				 "taken (it waits with select())",
				 FD_SETSIZE);
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft)
		return alb_error(ctx, ENOMEM, "Failed to create a libnftables context");
	if (nft_ctx_buffer_output(nft) < 0 || nft_ctx_buffer_error(nft) < 0) {
		nft_ctx_free(nft);
		return alb_error(ctx, ENOMEM, "Failed to set up libnftables' buffers");
	}
	*ret = nft;
	return 0;
}

/* Runs cmd (one batch) in nft. 0, or -errno with what and libnftables' first error line. */
static int nft_run(alb_ctx *ctx, struct nft_ctx *nft, const char *cmd, const char *what)
{
	if (nft_run_cmd_from_buffer(nft, cmd) == 0)
		return 0;
	const char *err = nft_ctx_get_error_buffer(nft);
	if (!err || !err[0])
		err = "unknown error";
	size_t len = strcspn(err, "\n");
	int e = error_errno(err);
	return alb_error(ctx, e, "Failed to %s: %.*s", what, (int)len, err);
}

/* The ruleset text of alb_nft_apply(): delete and make the table again, in one batch. */
static int apply_text(const struct alb_nft_port *ports, size_t n, char **ret)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	/* "table" makes it if it is not there, so that "delete" always succeeds. */
	fprintf(f, "table ip %s\ndelete table ip %s\ntable ip %s {\n", ALB_NFT_TABLE, ALB_NFT_TABLE,
		ALB_NFT_TABLE);
	static const char *const chains[][2] = {
	    {"prerouting", "type nat hook prerouting priority dstnat; policy accept;"},
	    {"output", "type nat hook output priority -100; policy accept;"},
	};
	for (size_t c = 0; c < ELEMENTSOF(chains); c++) {
		fprintf(f, "\tchain %s {\n\t\t%s\n", chains[c][0], chains[c][1]);
		for (size_t i = 0; i < n; i++) {
			const struct alb_nft_port *p = &ports[i];
			const char *pn = proto_name(p->proto);
			char h[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];
			addr_str(p->host_addr, h);
			addr_str(p->dest_addr, d);
			fprintf(f, "\t\tmeta l4proto %s ", pn);
			if (p->host_addr)
				fprintf(f, "ip daddr %s ", h);
			else
				fprintf(f, "fib daddr type local ");
			fprintf(f, "%s dport %u dnat ip to %s:%u comment \"%s\"\n", pn,
				p->host_port, d, p->dest_port, p->owner);
		}
		fprintf(f, "\t}\n");
	}
	fprintf(f, "}\n");
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

int alb_nft_apply(alb_ctx *ctx, const struct alb_nft_port *ports, size_t n)
{
	if (n > ALB_NFT_PORTS_MAX)
		return alb_error(ctx, E2BIG, "%zu published ports, at most %d", n,
				 ALB_NFT_PORTS_MAX);
	if (n && !ports)
		return alb_error(ctx, EINVAL, "no ports");
	int r;
	for (size_t i = 0; i < n; i++)
		if ((r = port_check(ctx, &ports[i], i)) < 0)
			return r;
	if ((r = ports_conflicts(ctx, ports, n)) < 0)
		return r;
	_cleanup_free_ char *text = NULL;
	if ((r = apply_text(ports, n, &text)) < 0)
		return r;
	_cleanup_(nft_ctx_freep) struct nft_ctx *nft = NULL;
	if ((r = nft_new(ctx, &nft)) < 0)
		return r;
	return nft_run(ctx, nft, text, "replace table ip " ALB_NFT_TABLE);
}

int alb_nft_remove(alb_ctx *ctx)
{
	_cleanup_(nft_ctx_freep) struct nft_ctx *nft = NULL;
	int r = nft_new(ctx, &nft);
	if (r < 0)
		return r;
	/* One batch: made if it is not there, then deleted. */
	return nft_run(ctx, nft, "table ip " ALB_NFT_TABLE "\ndelete table ip " ALB_NFT_TABLE "\n",
		       "delete table ip " ALB_NFT_TABLE);
}

void alb_nft_ports_free(struct alb_nft_port *ports, size_t n)
{
	if (!ports)
		return;
	for (size_t i = 0; i < n; i++)
		free((char *)ports[i].owner);
	free(ports);
}

/* The rule text parser of alb_nft_list(): the forms alb_nft_apply() makes, as libnftables
 * prints them back (it drops `meta l4proto` that the dport match implies, and `ip` in
 * `dnat ip to` in an ip table), and nothing else. */

#define RULE_TOKENS_MAX 32

/* Splits line into blank-separated tokens in place; a token that starts with '"' runs to
 * the next '"' (kept with its quotes). The number of tokens, -EBADMSG. */
static int tokenize(char *line, char *tok[RULE_TOKENS_MAX])
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return n;
		if (n == RULE_TOKENS_MAX)
			return -EBADMSG;
		tok[n++] = p;
		if (*p == '"') {
			char *q = strchr(p + 1, '"');
			if (!q)
				return -EBADMSG;
			p = q + 1;
			if (*p && *p != ' ' && *p != '\t')
				return -EBADMSG;
		} else
			p += strcspn(p, " \t");
		if (*p)
			*p++ = '\0';
	}
}

static int parse_proto(const char *s)
{
	if (streq(s, "tcp") || streq(s, "6"))
		return IPPROTO_TCP;
	if (streq(s, "udp") || streq(s, "17"))
		return IPPROTO_UDP;
	return -1;
}

static bool parse_port(const char *s, uint16_t *ret)
{
	unsigned v = 0;
	if (!*s || strlen(s) > 5)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v == 0 || v > 65535 || (s[0] == '0'))
		return false;
	*ret = (uint16_t)v;
	return true;
}

static bool parse_addr(const char *s, uint32_t *ret)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*ret = a.s_addr;
	return true;
}

/* One rule line into *p (owner strdup'ed). 0, -EBADMSG, -ENOMEM. */
static int parse_rule(char *line, struct alb_nft_port *p)
{
	char *t[RULE_TOKENS_MAX];
	int n = tokenize(line, t);
	if (n < 0)
		return n;
	int l4proto = 0, proto = 0;
	bool daddr = false, any = false, dnat = false;
	const char *owner = NULL;
	*p = (struct alb_nft_port){0};
	for (int i = 0; i < n;) {
		int left = n - i;
		if (left >= 3 && streq(t[i], "meta") && streq(t[i + 1], "l4proto") && !l4proto) {
			if ((l4proto = parse_proto(t[i + 2])) < 0)
				return -EBADMSG;
			i += 3;
		} else if (left >= 3 && streq(t[i], "ip") && streq(t[i + 1], "daddr") && !daddr &&
			   !any) {
			if (!parse_addr(t[i + 2], &p->host_addr) || p->host_addr == 0)
				return -EBADMSG;
			daddr = true;
			i += 3;
		} else if (left >= 4 && streq(t[i], "fib") && streq(t[i + 1], "daddr") &&
			   streq(t[i + 2], "type") && streq(t[i + 3], "local") && !daddr && !any) {
			any = true;
			i += 4;
		} else if (left >= 3 && parse_proto(t[i]) > 0 && streq(t[i + 1], "dport") &&
			   !proto) {
			proto = parse_proto(t[i]);
			if (!parse_port(t[i + 2], &p->host_port))
				return -EBADMSG;
			i += 3;
		} else if (left >= 3 && streq(t[i], "dnat") && !dnat) {
			int k = i + 1;
			if (streq(t[k], "ip"))
				k++;
			if (k + 1 >= n || !streq(t[k], "to"))
				return -EBADMSG;
			char *colon = strrchr(t[k + 1], ':');
			if (!colon)
				return -EBADMSG;
			*colon = '\0';
			if (!parse_addr(t[k + 1], &p->dest_addr) || p->dest_addr == 0 ||
			    !parse_port(colon + 1, &p->dest_port))
				return -EBADMSG;
			dnat = true;
			i = k + 2;
		} else if (left >= 2 && streq(t[i], "comment") && !owner) {
			size_t len = strlen(t[i + 1]);
			if (len < 2 || t[i + 1][0] != '"' || t[i + 1][len - 1] != '"')
				return -EBADMSG;
			t[i + 1][len - 1] = '\0';
			owner = t[i + 1] + 1;
			if (!owner_valid(owner))
				return -EBADMSG;
			i += 2;
		} else
			return -EBADMSG;
	}
	if (!proto || !dnat || !owner || (!daddr && !any) || (l4proto && l4proto != proto))
		return -EBADMSG;
	p->proto = proto;
	if (!(p->owner = strdup(owner)))
		return -ENOMEM;
	return 0;
}

static bool port_eq(const struct alb_nft_port *a, const struct alb_nft_port *b)
{
	return a->proto == b->proto && a->host_addr == b->host_addr &&
	       a->host_port == b->host_port && a->dest_addr == b->dest_addr &&
	       a->dest_port == b->dest_port && streq(a->owner, b->owner);
}

struct chain_rules {
	bool seen;
	struct alb_nft_port *v;
	size_t n;
};

static void chain_rules_done(struct chain_rules *c)
{
	alb_nft_ports_free(c->v, c->n);
}

static int chain_add(alb_ctx *ctx, struct chain_rules *c, const char *name, char *line)
{
	if (c->n >= ALB_NFT_PORTS_MAX)
		return alb_error(ctx, E2BIG, "table ip %s: more than %d rules in chain %s",
				 ALB_NFT_TABLE, ALB_NFT_PORTS_MAX, name);
	struct alb_nft_port *v = realloc(c->v, (c->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->v = v;
	int r = parse_rule(line, &v[c->n]);
	if (r < 0)
		return r;
	c->n++;
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		s[--len] = '\0';
	return s;
}

/* Parses the text of "list table ip albatross" into the two chains' rules. */
static int parse_table(alb_ctx *ctx, char *text, struct chain_rules chains[2])
{
	static const char *const names[2] = {"prerouting", "output"};
	enum { TOP, TABLE, CHAIN, END } state = TOP;
	int cur = -1, r;
	unsigned lineno = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *s = trim(l);
		if (!*s)
			continue;
		char copy[256];
		snprintf(copy, sizeof(copy), "%s", s);
		switch (state) {
		case TOP:
			if (!streq(s, "table ip " ALB_NFT_TABLE " {"))
				goto bad;
			state = TABLE;
			break;
		case TABLE:
			if (streq(s, "}")) {
				state = END;
				break;
			}
			cur = -1;
			for (int c = 0; c < 2; c++) {
				char want[64];
				snprintf(want, sizeof(want), "chain %s {", names[c]);
				if (streq(s, want) && !chains[c].seen)
					cur = c;
			}
			if (cur < 0)
				goto bad;
			chains[cur].seen = true;
			state = CHAIN;
			break;
		case CHAIN:
			if (streq(s, "}")) {
				state = TABLE;
				break;
			}
			if (strncmp(s, "type ", 5) == 0) {
				char want[64];
				snprintf(want, sizeof(want), "type nat hook %s ", names[cur]);
				if (strncmp(s, want, strlen(want)) != 0)
					goto bad;
				break;
			}
			if ((r = chain_add(ctx, &chains[cur], names[cur], s)) == -EBADMSG)
				goto bad;
			if (r < 0)
				return r;
			break;
		case END:
			goto bad;
		bad:
			return alb_error(
			    ctx, EBADMSG,
			    "table ip %s holds what albatross does not make (line %u: %s)",
			    ALB_NFT_TABLE, lineno, copy);
		}
	}
	if (state != END)
		return alb_error(ctx, EBADMSG, "table ip %s: the listing ends early",
				 ALB_NFT_TABLE);
	return 0;
}

int alb_nft_list(alb_ctx *ctx, struct alb_nft_port **ret, size_t *ret_n)
{
	_cleanup_(nft_ctx_freep) struct nft_ctx *nft = NULL;
	int r = nft_new(ctx, &nft);
	if (r < 0)
		return r;
	/* Numbers, not names, for ports and addresses (the defaults, said again). */
	nft_ctx_output_set_flags(nft, 0);
	if ((r = nft_run(ctx, nft, "list table ip " ALB_NFT_TABLE,
			 "list table ip " ALB_NFT_TABLE)) < 0)
		return r;
	const char *out = nft_ctx_get_output_buffer(nft);
	if (!out)
		out = "";
	if (strlen(out) > LIST_OUTPUT_MAX)
		return alb_error(ctx, EBADMSG, "table ip %s is too large", ALB_NFT_TABLE);
	_cleanup_free_ char *text = strdup(out);
	if (!text)
		return -ENOMEM;
	struct chain_rules chains[2] = {{0}};
	r = parse_table(ctx, text, chains);
	if (r >= 0 && (!chains[0].seen || !chains[1].seen))
		r = alb_error(ctx, EBADMSG, "table ip %s lacks chain %s", ALB_NFT_TABLE,
			      chains[0].seen ? "output" : "prerouting");
	if (r >= 0) {
		bool same = chains[0].n == chains[1].n;
		for (size_t i = 0; same && i < chains[0].n; i++)
			same = port_eq(&chains[0].v[i], &chains[1].v[i]);
		if (!same)
			r = alb_error(ctx, EBADMSG,
				      "table ip %s: chain output differs from chain prerouting",
				      ALB_NFT_TABLE);
	}
	if (r < 0) {
		chain_rules_done(&chains[0]);
		chain_rules_done(&chains[1]);
		return r;
	}
	chain_rules_done(&chains[1]);
	*ret = chains[0].v;
	*ret_n = chains[0].n;
	return 0;
}

/* Conntrack: the entries to delete are gathered during the dump, deleted after it. */

struct ct_match {
	int proto;
	uint32_t dest_addr;
	struct nfnl_ct **v;
	size_t n, cap;
	int error;
};

#define CT_MATCH_MAX (1u << 22)

static int ct_dump_one(struct nl_msg *msg, void *arg)
{
	struct ct_match *m = arg;
	struct nfnl_ct *ct = NULL;
	if (nfnlmsg_ct_parse(nlmsg_hdr(msg), &ct) < 0) {
		m->error = -EBADMSG;
		return NL_SKIP;
	}
	struct nl_addr *src = nfnl_ct_get_src(ct, 1);
	bool match = nfnl_ct_get_family(ct) == AF_INET &&
		     (m->proto == 0 || nfnl_ct_get_proto(ct) == m->proto) && src &&
		     nl_addr_get_family(src) == AF_INET && nl_addr_get_len(src) == 4 &&
		     memcmp(nl_addr_get_binary_addr(src), &m->dest_addr, 4) == 0;
	if (!match || m->n >= CT_MATCH_MAX) {
		nfnl_ct_put(ct);
		return NL_OK;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct nfnl_ct **v = realloc(m->v, cap * sizeof(*v));
		if (!v) {
			nfnl_ct_put(ct);
			m->error = -ENOMEM;
			return NL_OK;
		}
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = ct;
	return NL_OK;
}

int alb_conntrack_forget(alb_ctx *ctx, int proto, uint32_t dest_addr)
{
	if (proto < 0 || proto > 255)
		return alb_error(ctx, EINVAL, "protocol %d", proto);
	if (dest_addr == 0)
		return alb_error(ctx, EINVAL, "no destination address");
	int r = alb_dl_nl_load(ctx);
	if (r < 0)
		return r;
	_cleanup_(nl_socket_freep) struct nl_sock *sock = nl_socket_alloc();
	if (!sock)
		return -ENOMEM;
	r = nfnl_connect(sock);
	if (r < 0)
		return alb_error(ctx, r == -NLE_PERM ? EPERM : EIO,
				 "Failed to open a netfilter netlink socket: %s", nl_geterror(r));
	struct ct_match m = {.proto = proto, .dest_addr = dest_addr};
	nl_socket_modify_cb(sock, NL_CB_VALID, NL_CB_CUSTOM, ct_dump_one, &m);
	if ((r = nfnl_ct_dump_request(sock)) >= 0)
		r = nl_recvmsgs_default(sock);
	if (r < 0)
		r = alb_error(ctx, r == -NLE_PERM ? EPERM : EIO,
			      "Failed to read the conntrack table: %s", nl_geterror(r));
	else if (m.error < 0)
		r = alb_error(ctx, -m.error, "Failed to read the conntrack table: %s",
			      strerror(-m.error));
	int deleted = 0;
	for (size_t i = 0; i < m.n; i++) {
		if (r >= 0) {
			int d = nfnl_ct_del(sock, m.v[i], 0);
			if (d >= 0)
				deleted++;
			else if (d != -NLE_OBJ_NOTFOUND) /* gone meanwhile: fine */
				r = alb_error(ctx, d == -NLE_PERM ? EPERM : EIO,
					      "Failed to delete a conntrack entry: %s",
					      nl_geterror(d));
		}
		nfnl_ct_put(m.v[i]);
	}
	free(m.v);
	return r < 0 ? r : deleted;
}

int alb_ip_forward_enabled(void)
{
	_cleanup_close_ int fd = open("/proc/sys/net/ipv4/ip_forward", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[16];
	ssize_t len;
	do
		len = read(fd, buf, sizeof(buf) - 1);
	while (len < 0 && errno == EINTR);
	if (len < 0)
		return -errno;
	buf[len] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return -EBADMSG;
	return strtol(buf, NULL, 10) != 0 ? 1 : 0;
}
