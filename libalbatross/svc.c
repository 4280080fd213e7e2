/* SPDX-License-Identifier: ISC */
/* Services: see svc-private.h and docs/services.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbor-private.h"
#include "ctx-private.h"
#include "fileio-private.h"
#include "inet-private.h"
#include "ipam-private.h"
#include "log-private.h"
#include "name-private.h"
#include "nft-private.h"
#include "policy-private.h"
#include "svc-private.h"
#include "svcwire-private.h"
#include "unikernel-private.h"
#include "vmm-internal.h" /* vmm_event_new(), vmm_event_send() */
#include "vmm-private.h"

#define SVC_FILE_VERSION 1u
#define SVC_FILE_MAX	 (UINT64_C(64) << 20)
#define SVC_MAX		 4096u
#define ORPHANS_MAX	 65536u
/* How often a TCP or UDP readiness probe is sent. */
#define PROBE_INTERVAL_US (UINT64_C(100) * 1000)

struct svc;

/* An update under way: its new instance (the last of s->info.instances, starting). */
struct update {
	struct svc *s;
	alb_unikernel_config *config; /* the templates, as deployed */
	struct alb_service_spec *spec;
	alb_vmm_done_fn done; /* the client's, NULL after a restart */
	void *userdata;
	alb_source *deadline;
	alb_source *probe_timer;
	int probe_fd;
	uint64_t probe_started; /* when the TCP connect under way began */
	alb_source *probe_io;
	char line[2 * ALB_READY_LINE_MAX + 2]; /* console output since the last newline */
	size_t line_len;
	bool failing;		  /* its instance is being destroyed */
	bool keep_address;	  /* not freed with the instance (an orphan's until a collect) */
	alb_source *exited_timer; /* its instance exited: the failure, on the next turn */
	char exited[128];
	char *why; /* why it failed */
	int error;
};

/* A unikernel being destroyed for a service (a retired instance, a failed update's,
 * a removed service's or a collected one); done when they are all gone. */
struct batch {
	struct batch *next;
	struct alb_svcs *m;
	unsigned pending;
	alb_vmm_done_fn done;
	void *userdata;
	alb_name *name;
	char *text;
};

struct svc {
	struct alb_svcs *m;
	struct alb_service_info info; /* what the file keeps */
	struct update *update;
	alb_source *drain; /* the end of a draining instance's drain */
};

struct alb_svcs {
	alb_vmm *vmm;
	alb_ctx *ctx;
	alb_loop *loop;
	char path[PATH_MAX];
	struct svc **v;
	uint32_t n;
	struct alb_collected *orphans; /* instances and addresses no service owns */
	uint32_t n_orphans;
	const char *crash_at;
	bool warned_forward;
	struct kill *kills;    /* under way */
	struct batch *batches; /* under way */
};

/* ---- helpers ----------------------------------------------------------------------------- */

/* The address a unikernel was given with --ipv4=A.B.C.D/N (the MirageOS convention), 0 if
 * none. */
static uint32_t ipv4_argument(const alb_unikernel_config *c)
{
	for (uint32_t j = 0; j < c->argc; j++) {
		char a[32];
		uint32_t addr;
		if (strncmp(c->argv[j], "--ipv4=", 7) != 0)
			continue;
		snprintf(a, sizeof(a), "%.*s", (int)strcspn(c->argv[j] + 7, "/"), c->argv[j] + 7);
		if (alb_ipv4_parse(a, &addr) == 0)
			return addr;
	}
	return 0;
}

static void crash_point(struct alb_svcs *m, const char *point)
{
	if (m->crash_at && streq(m->crash_at, point))
		raise(SIGKILL);
}

static char *addr_str(uint32_t addr, char buf[16])
{
	alb_ipv4_format(addr, buf);
	return buf;
}

static struct svc *find(struct alb_svcs *m, const alb_name *name)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (alb_name_equal(m->v[i]->info.name, name))
			return m->v[i];
	return NULL;
}

static struct alb_service_instance *instance_in(struct svc *s, int state)
{
	for (uint32_t i = 0; i < s->info.n_instances; i++)
		if (s->info.instances[i].state == state)
			return &s->info.instances[i];
	return NULL;
}

static void instance_drop(struct svc *s, struct alb_service_instance *in)
{
	uint32_t i = (uint32_t)(in - s->info.instances);
	alb_name_free(in->unikernel);
	memmove(in, in + 1, (s->info.n_instances - i - 1) * sizeof(*in));
	s->info.n_instances--;
}

static void log_event(struct alb_svcs *m, int kind, const alb_name *name, const char *fmt, ...)
    _printf_(4, 5);
static void log_event(struct alb_svcs *m, int kind, const alb_name *name, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	_cleanup_free_ char *n = vmm_name_str(name);
	alb_log_info(m->ctx, "%s: %s", n, text);
	struct alb_log_event *e = vmm_event_new(m->vmm, kind, name);
	if (e && alb_log_event_set_message(e, text) < 0) {
		alb_log_event_free(e);
		return;
	}
	vmm_event_send(m->vmm, e);
}

/* ---- the file ---------------------------------------------------------------------------- */

static int save(struct alb_svcs *m)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *map = cbor_new_definite_map(3);
	_cleanup_(cbor_decref_ptrp) cbor_item_t *sv = cbor_new_definite_array(m->n);
	_cleanup_(cbor_decref_ptrp) cbor_item_t *ov = cbor_new_definite_array(m->n_orphans);
	if (!map || !sv || !ov)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->n; i++)
		if (!alb_cbor_push(sv, alb_service_info_to_cbor(&m->v[i]->info)))
			return -ENOMEM;
	for (uint32_t i = 0; i < m->n_orphans; i++)
		if (!alb_cbor_push(ov, alb_collected_to_cbor(&m->orphans[i])))
			return -ENOMEM;
	if (!alb_cbor_put(map, "version", alb_cbor_uint(SVC_FILE_VERSION)) ||
	    !alb_cbor_put(map, "services", TAKE_PTR(sv)) ||
	    !alb_cbor_put(map, "orphans", TAKE_PTR(ov)))
		return -ENOMEM;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = alb_cbor_serialize(m->ctx, map, &buf, &len);
	if (r < 0)
		return r;
	r = alb_atomic_write(m->ctx, m->path, buf, len, 0600, false);
	if (r < 0)
		alb_log_err(m->ctx, "Failed to save the services: %s", alb_ctx_last_error(m->ctx));
	return r;
}

static struct svc *svc_free(struct svc *s)
{
	if (!s)
		return NULL;
	alb_service_info_clear(&s->info);
	alb_source_free(s->drain);
	free(s);
	return NULL;
}

static int load(struct alb_svcs *m)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r = alb_read_file(m->ctx, m->path, SVC_FILE_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = NULL;
	struct alb_cbor_key k[] = {{"version"}, {"services"}, {"orphans"}};
	uint32_t version;
	size_t n, no;
	if ((r = alb_cbor_load(m->ctx, buf, len, &item)) < 0 ||
	    (r = alb_cbor_map_keys(m->ctx, item, "services", k, ELEMENTSOF(k))) < 0 ||
	    (r = alb_cbor_get_u32(m->ctx, k[0].value, k[0].path, 1, UINT32_MAX, &version)) < 0)
		goto bad;
	if (version != SVC_FILE_VERSION) {
		r = alb_error(m->ctx, EPROTO, "version %u, this albatrossd reads version %u",
			      version, SVC_FILE_VERSION);
		goto bad;
	}
	if ((r = alb_cbor_get_array(m->ctx, k[1].value, k[1].path, SVC_MAX, &n)) < 0 ||
	    (r = alb_cbor_get_array(m->ctx, k[2].value, k[2].path, ORPHANS_MAX, &no)) < 0)
		goto bad;
	m->v = calloc(n ? n : 1, sizeof(*m->v));
	m->orphans = calloc(no ? no : 1, sizeof(*m->orphans));
	if (!m->v || !m->orphans)
		return -ENOMEM;
	char p[ALB_CBOR_PATH_MAX];
	for (size_t i = 0; i < n; i++) {
		struct svc *s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->m = m;
		m->v[m->n++] = s;
		if ((r = alb_service_info_from_cbor(m->ctx, cbor_array_handle(k[1].value)[i],
						    alb_cbor_path_index(p, k[1].path, i),
						    &s->info)) < 0)
			goto bad;
	}
	for (size_t i = 0; i < no; i++, m->n_orphans++)
		if ((r = alb_collected_from_cbor(m->ctx, cbor_array_handle(k[2].value)[i],
						 alb_cbor_path_index(p, k[2].path, i),
						 &m->orphans[i])) < 0)
			goto bad;
	return 0;
bad:
	if (r == -ENOMEM)
		return r;
	return alb_error(m->ctx, EBADMSG,
			 "The services file '%s' cannot be used (%s); it is left as it is: move it "
			 "away to start without services",
			 m->path, alb_ctx_last_error(m->ctx));
}

/* ---- nftables ---------------------------------------------------------------------------- */

/* Publishes the ports of every service to its published instance, in one transaction;
 * skip: a service left out (being removed); over: a service whose new instance and spec
 * are taken instead of its published one (a switch). */
static int publish_all(struct alb_svcs *m, const struct svc *skip, const struct svc *over,
		       const struct alb_service_instance *over_in,
		       const struct alb_service_spec *over_spec)
{
	size_t n = 0, cap = 0;
	for (uint32_t i = 0; i < m->n; i++)
		cap += (m->v[i] == over ? over_spec : m->v[i]->info.spec)->n_publish;
	_cleanup_free_ struct alb_nft_port *ports = calloc(cap ? cap : 1, sizeof(*ports));
	_cleanup_free_ char **owners = calloc(m->n ? m->n : 1, sizeof(char *));
	if (!ports || !owners)
		return -ENOMEM;
	int r = 0;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct svc *s = m->v[i];
		const struct alb_service_spec *spec = s == over ? over_spec : s->info.spec;
		const struct alb_service_instance *in =
		    s == over ? over_in : instance_in((struct svc *)s, ALB_INSTANCE_PUBLISHED);
		if (s == skip || !in || !spec->n_publish)
			continue;
		if (!(owners[i] = alb_name_to_string(s->info.name))) {
			r = -ENOMEM;
			goto out;
		}
		for (uint32_t j = 0; j < spec->n_publish; j++)
			ports[n++] = (struct alb_nft_port){
			    .proto = (int)spec->publish[j].proto,
			    .host_addr = htonl(spec->publish[j].host_addr),
			    .host_port = (uint16_t)spec->publish[j].host_port,
			    .dest_addr = htonl(in->address),
			    .dest_port = (uint16_t)spec->publish[j].port,
			    .owner = owners[i],
			};
	}
	if (n && !m->warned_forward && alb_ip_forward_enabled() == 0) {
		alb_log_warn(
		    m->ctx, "net.ipv4.ip_forward is off: published ports reach the unikernels only "
			    "from this host until it is on (sysctl -w net.ipv4.ip_forward=1)");
		m->warned_forward = true;
	}
	/* No port published: no table of ours at all. */
	r = n ? alb_nft_apply(m->ctx, ports, n) : alb_nft_remove(m->ctx);
out:
	for (uint32_t i = 0; i < m->n; i++)
		free(owners[i]);
	return r;
}

/* ---- destroying unikernels --------------------------------------------------------------- */

static void batch_release(struct batch *b)
{
	struct alb_svcs *m = b->m;
	if (m)
		for (struct batch **p = &m->batches; *p; p = &(*p)->next)
			if (*p == b) {
				*p = b->next;
				break;
			}
	alb_name_free(b->name);
	free(b->text);
	free(b);
}

static void batch_end(struct batch *b)
{
	if (--b->pending > 0)
		return;
	if (b->done)
		b->done(b->m->vmm, b->name, 0, b->text ? b->text : "done", b->userdata);
	batch_release(b);
}

/* A unikernel being destroyed for the services; m NULL once they are freed (the
 * supervisor then cancels the destroy, and nothing of ours is touched). */
struct kill {
	struct kill *next;
	struct batch *b;
	struct alb_svcs *m;
	alb_name *uk;
	alb_name *svc; /* the service then() is for (looked up again), or NULL */
	void (*then)(struct alb_svcs *m, const alb_name *uk, int r, const alb_name *svc);
};

static void kill_done(alb_vmm *vmm, const alb_name *name, int r, const char *text, void *userdata)
{
	struct kill *k = userdata;
	struct alb_svcs *m = k->m;
	if (m) {
		for (struct kill **p = &m->kills; *p; p = &(*p)->next)
			if (*p == k) {
				*p = k->next;
				break;
			}
		if (r < 0 && r != -ENOENT) {
			_cleanup_free_ char *n = vmm_name_str(k->uk);
			alb_log_err(m->ctx, "Failed to destroy '%s': %s", n, text);
		}
		if (k->then)
			k->then(m, k->uk, r == -ENOENT ? 0 : r, k->svc);
		if (k->b)
			batch_end(k->b);
	}
	alb_name_free(k->uk);
	alb_name_free(k->svc);
	free(k);
}

/* Destroys uk (gone already: at once); then(r) after, b ended after that. */
static int kill_unikernel(struct alb_svcs *m, const alb_name *uk, struct batch *b,
			  void (*then)(struct alb_svcs *, const alb_name *, int, const alb_name *),
			  const alb_name *svc)
{
	struct kill *k = calloc(1, sizeof(*k));
	if (!k || alb_name_dup(uk, &k->uk) < 0 || (svc && alb_name_dup(svc, &k->svc) < 0)) {
		if (k)
			alb_name_free(k->uk);
		free(k);
		return -ENOMEM;
	}
	k->b = b;
	k->m = m;
	k->then = then;
	k->next = m->kills;
	m->kills = k;
	if (b)
		b->pending++;
	int r = vmm_destroy_name(m->vmm, uk, kill_done, k);
	if (r < 0)
		kill_done(m->vmm, uk, r, alb_ctx_last_error(m->ctx), k);
	return 0;
}

static struct batch *batch_new(struct alb_svcs *m, const alb_name *name, alb_vmm_done_fn done,
			       void *userdata, const char *text)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (!b || (name && alb_name_dup(name, &b->name) < 0) || !(b->text = strdup(text))) {
		if (b)
			alb_name_free(b->name);
		free(b);
		return NULL;
	}
	b->m = m;
	b->pending = 1; /* batch_end() once all are started */
	b->done = done;
	b->userdata = userdata;
	b->next = m->batches;
	m->batches = b;
	return b;
}

static int orphan_add(struct alb_svcs *m, const alb_name *uk, const char *bridge, uint32_t addr)
{
	struct alb_collected *o = realloc(m->orphans, (m->n_orphans + 1) * sizeof(*o));
	if (!o)
		return -ENOMEM;
	m->orphans = o;
	o = &m->orphans[m->n_orphans];
	*o = (struct alb_collected){.address = addr};
	if ((uk && alb_name_dup(uk, &o->unikernel) < 0) || !(o->bridge = strdup(bridge))) {
		alb_collected_clear(o);
		return -ENOMEM;
	}
	m->n_orphans++;
	return 0;
}

static void orphan_gone(struct alb_svcs *m, const alb_name *uk, int r, const alb_name *svc)
{
	if (r < 0)
		return; /* kept for a collect */
	for (uint32_t i = 0; i < m->n_orphans; i++)
		if (m->orphans[i].unikernel && alb_name_equal(m->orphans[i].unikernel, uk)) {
			char a[16];
			_cleanup_free_ char *n = vmm_name_str(uk);
			log_event(m, ALB_EVENT_SERVICE_RETIRED, uk, "%s freed (%s gone)",
				  addr_str(m->orphans[i].address, a), n);
			(void)alb_conntrack_forget(m->ctx, 0, htonl(m->orphans[i].address));
			alb_collected_clear(&m->orphans[i]);
			memmove(&m->orphans[i], &m->orphans[i + 1],
				(m->n_orphans - i - 1) * sizeof(*m->orphans));
			m->n_orphans--;
			break;
		}
	(void)save(m);
}

/* ---- addresses --------------------------------------------------------------------------- */

struct used_ctx {
	struct alb_svcs *m;
	const char *bridge;
	uint32_t *other; /* --ipv4= addresses of other unikernels on the bridge */
	uint32_t n_other;
};

static bool used(uint32_t addr, void *userdata)
{
	struct used_ctx *u = userdata;
	struct alb_svcs *m = u->m;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct alb_service_info *in = &m->v[i]->info;
		if (!streq(in->spec->bridge, u->bridge))
			continue;
		for (uint32_t j = 0; j < in->n_instances; j++)
			if (in->instances[j].address == addr)
				return true;
	}
	for (uint32_t i = 0; i < m->n_orphans; i++)
		if (streq(m->orphans[i].bridge, u->bridge) && m->orphans[i].address == addr)
			return true;
	for (uint32_t i = 0; i < u->n_other; i++)
		if (u->other[i] == addr)
			return true;
	return false;
}

/* The addresses that unikernels on bridge were given with --ipv4=A.B.C.D/N (the MirageOS
 * convention), besides the services' own instances. */
static int other_addresses(struct alb_svcs *m, const char *bridge, struct used_ctx *u)
{
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	struct alb_unikernel_info *infos = NULL;
	uint32_t n = 0;
	int r;
	if ((r = alb_name_new_root(&root)) < 0 ||
	    (r = vmm_unikernel_infos(m->vmm, root, UINT32_MAX, &infos, &n)) < 0)
		return r;
	u->other = calloc(n ? n : 1, sizeof(uint32_t));
	if (!u->other)
		r = -ENOMEM;
	for (uint32_t i = 0; r >= 0 && i < n; i++) {
		const alb_unikernel_config *c = infos[i].config;
		bool on = false;
		for (uint32_t j = 0; j < c->n_nets; j++)
			on |= streq(c->nets[j].bridge, bridge);
		uint32_t addr = on ? ipv4_argument(c) : 0;
		if (addr)
			u->other[u->n_other++] = addr;
	}
	for (uint32_t i = 0; i < n; i++)
		alb_unikernel_info_clear(&infos[i]);
	free(infos);
	return r;
}

/* ---- checks ------------------------------------------------------------------------------ */

static int check_policies(struct alb_svcs *m, const alb_name *name,
			  const struct alb_service_spec *spec)
{
	char prefix[20], domain[ALB_WIRE_STRING_MAX];
	alb_prefix_format(spec->prefix, spec->prefix_len, prefix);
	/* Every policy on the way from the root (the host's, which allows everything) down to
	 * the service's domain. */
	_cleanup_(alb_name_freep) alb_name *path = NULL;
	int r = alb_name_new_root(&path);
	if (r < 0)
		return r;
	for (uint32_t d = 1; d <= name->depth; d++) {
		path->depth = d;
		memcpy(path->path[d - 1], name->path[d - 1], sizeof(path->path[0]));
		const alb_policy *p = vmm_policy_of(m->vmm, path);
		if (!p)
			continue;
		_cleanup_free_ char *ps = vmm_name_str(path);
		snprintf(domain, sizeof(domain), "%s", ps);
		for (uint32_t i = 0; i < spec->n_publish; i++)
			if (!alb_policy_allows_port(p, spec->publish[i].host_port)) {
				uint32_t a, b;
				if (alb_policy_get_ports(p, &a, &b) == 1)
					return alb_error(m->ctx, EDQUOT,
							 "host port %u is outside the ports of "
							 "%s (%u-%u)",
							 spec->publish[i].host_port, domain, a, b);
				return alb_error(m->ctx, EDQUOT,
						 "host port %u: the policy of %s allows no "
						 "published port",
						 spec->publish[i].host_port, domain);
			}
		if (!alb_policy_allows_prefix(p, spec->bridge, prefix))
			return alb_error(
			    m->ctx, EDQUOT,
			    "prefix %s on bridge %s is not allowed by the policy of %s", prefix,
			    spec->bridge, domain);
	}
	return 0;
}

static int check_ports(struct alb_svcs *m, const alb_name *name,
		       const struct alb_service_spec *spec)
{
	for (uint32_t i = 0; i < 2 * m->n; i++) {
		/* every other service's published spec, and the one its update brings */
		const struct alb_service_info *o = &m->v[i / 2]->info;
		const struct alb_service_spec *os =
		    i % 2 ? (m->v[i / 2]->update ? m->v[i / 2]->update->spec : NULL) : o->spec;
		if (!os || alb_name_equal(o->name, name))
			continue;
		for (uint32_t j = 0; j < spec->n_publish; j++)
			for (uint32_t k = 0; k < os->n_publish; k++) {
				const struct alb_publish *a = &spec->publish[j],
							 *b = &os->publish[k];
				if (a->proto != b->proto || a->host_port != b->host_port ||
				    (a->host_addr && b->host_addr && a->host_addr != b->host_addr))
					continue;
				_cleanup_free_ char *n = vmm_name_str(o->name);
				return alb_error(m->ctx, EADDRINUSE,
						 "host port %u/%s is published by service '%s'",
						 a->host_port, alb_proto_name(a->proto), n);
			}
	}
	/* The service's prefix on its bridge must not overlap another service's there unless
	 * it is the same prefix (they then share the addresses). */
	for (uint32_t i = 0; i < m->n; i++) {
		const struct alb_service_spec *o = m->v[i]->info.spec;
		if (alb_name_equal(m->v[i]->info.name, name) || !streq(o->bridge, spec->bridge) ||
		    (o->prefix == spec->prefix && o->prefix_len == spec->prefix_len))
			continue;
		if (alb_prefix_contains(o->prefix, o->prefix_len, spec->prefix, spec->prefix_len) ||
		    alb_prefix_contains(spec->prefix, spec->prefix_len, o->prefix, o->prefix_len)) {
			char a[20], b[20];
			_cleanup_free_ char *n = vmm_name_str(m->v[i]->info.name);
			alb_prefix_format(spec->prefix, spec->prefix_len, a);
			alb_prefix_format(o->prefix, o->prefix_len, b);
			return alb_error(m->ctx, EINVAL,
					 "prefix %s overlaps %s of service '%s' on bridge %s", a, b,
					 n, spec->bridge);
		}
	}
	return 0;
}

/* The name of generation gen's instance: "PATH:LABEL.GEN". */
static int instance_name(struct alb_svcs *m, const alb_name *name, uint64_t gen, alb_name **ret)
{
	char label[ALB_LABEL_MAX + 1];
	_cleanup_(alb_name_freep) alb_name *path = NULL;
	int r;
	if (snprintf(label, sizeof(label), "%s.%" PRIu64, name->label, gen) >= (int)sizeof(label))
		return alb_error(m->ctx, ENAMETOOLONG,
				 "the service's name is too long for its instances' names "
				 "(LABEL.GENERATION, at most %u characters)",
				 ALB_LABEL_MAX);
	if ((r = alb_name_parent(name, &path)) < 0)
		return r;
	return alb_name_append(m->ctx, path, label, 0, ret);
}

/* The instance's configuration: the templates expanded, the service's net device added. */
static int expand(struct alb_svcs *m, const alb_unikernel_config *config,
		  const struct alb_service_spec *spec, const alb_name *uk, uint64_t gen,
		  uint32_t addr, alb_unikernel_config **ret)
{
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *c = NULL;
	_cleanup_free_ char *n = vmm_name_str(uk);
	int r = alb_unikernel_config_dup(config, &c);
	if (r < 0)
		return r;
	struct alb_template_vars vars = {
	    .ip = addr,
	    .prefix_len = spec->prefix_len,
	    .gateway = spec->gateway,
	    .name = n,
	    .generation = gen,
	};
	alb_unikernel_config_clear_arguments(c);
	for (uint32_t i = 0; i < config->argc; i++) {
		_cleanup_free_ char *a = NULL;
		if ((r = alb_template_expand(m->ctx, config->argv[i], &vars, &a)) < 0 ||
		    (r = alb_unikernel_config_add_argument(c, a)) < 0)
			return r;
	}
	if ((r = alb_unikernel_config_add_net(c, spec->device, spec->bridge, NULL)) < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

static int unikernel_exists(struct alb_svcs *m, const alb_name *uk);
static struct svc *owner_of(struct alb_svcs *m, const alb_name *uk, bool *listed);

/* The generation name's next instance gets: the service's next, or for a new service the
 * one after those its orphans still hold (their names are never reused). */
static uint64_t next_generation(struct alb_svcs *m, const alb_name *name, const struct svc *s)
{
	if (s)
		return s->info.generation + 1;
	uint64_t gen = 0;
	for (uint32_t i = 0; i < m->n_orphans; i++) {
		bool listed;
		const alb_name *o = m->orphans[i].unikernel;
		if (!o || owner_of(m, o, &listed) || alb_name_depth(o) != alb_name_depth(name))
			continue;
		const char *label = alb_name_label(o), *dot = strrchr(label, '.');
		_cleanup_(alb_name_freep) alb_name *op = NULL, *np = NULL;
		if (!dot || (size_t)(dot - label) != strlen(name->label) ||
		    strncmp(label, name->label, (size_t)(dot - label)) != 0 ||
		    alb_name_parent(o, &op) < 0 || alb_name_parent(name, &np) < 0 ||
		    !alb_name_equal(op, np))
			continue;
		uint64_t g = strtoull(dot + 1, NULL, 10);
		if (g > gen && g < UINT32_MAX)
			gen = g;
	}
	return gen + 1;
}

int alb_svcs_deploy_check(struct alb_svcs *m, const alb_name *name,
			  const alb_unikernel_config *config, const struct alb_service_spec *spec)
{
	int r;
	if (!config || !spec)
		return alb_error(m->ctx, EINVAL, "a deploy needs a configuration and a service");
	if (alb_name_is_path(name))
		return alb_error(m->ctx, EINVAL, "a service needs a name, not a path");
	if ((r = alb_service_spec_validate(m->ctx, spec)) < 0)
		return r;
	for (uint32_t i = 0; i < config->n_nets; i++)
		if (streq(config->nets[i].name, spec->device))
			return alb_error(m->ctx, EINVAL,
					 "net device '%s' is the service's own: it is attached to "
					 "bridge %s by the service",
					 spec->device, spec->bridge);
	for (uint32_t i = 0; i < config->argc; i++)
		if ((r = alb_template_validate(m->ctx, config->argv[i])) < 0)
			return r;
	struct svc *s = find(m, name);
	if (s &&
	    (!streq(s->info.spec->bridge, spec->bridge) || s->info.spec->prefix != spec->prefix ||
	     s->info.spec->prefix_len != spec->prefix_len)) {
		_cleanup_free_ char *n = vmm_name_str(name);
		return alb_error(
		    m->ctx, EINVAL,
		    "an update keeps the bridge and the prefix of service '%s': remove "
		    "it and deploy it again to move it",
		    n);
	}
	if (!s && m->n >= SVC_MAX)
		return alb_error(m->ctx, EDQUOT, "albatrossd keeps at most %u services", SVC_MAX);
	if (s && s->update) {
		_cleanup_free_ char *n = vmm_name_str(name);
		return alb_error(m->ctx, EBUSY, "an update of service '%s' is under way", n);
	}
	if (s && s->info.n_instances >= ALB_SERVICE_INSTANCES_MAX) {
		_cleanup_free_ char *n = vmm_name_str(name);
		return alb_error(m->ctx, EBUSY,
				 "service '%s' still drains its previous instance: deploy again "
				 "when it is gone",
				 n);
	}
	if ((r = check_policies(m, name, spec)) < 0 || (r = check_ports(m, name, spec)) < 0)
		return r;
	/* The instance as it would be made, with an address of the prefix's as a stand-in. */
	_cleanup_(alb_name_freep) alb_name *uk = NULL;
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *c = NULL;
	uint64_t gen = next_generation(m, name, s);
	if ((r = instance_name(m, name, gen, &uk)) < 0 ||
	    (r = expand(m, config, spec, uk, gen, spec->prefix + 1, &c)) < 0)
		return r;
	if (unikernel_exists(m, uk) > 0) {
		_cleanup_free_ char *un = vmm_name_str(uk), *sn = vmm_name_str(name);
		return alb_error(m->ctx, EEXIST,
				 "unikernel '%s' exists but service '%s' does not list it: "
				 "destroy it first",
				 un, sn);
	}
	return vmm_create_check(m->vmm, uk, c, false);
}

/* ---- updates ----------------------------------------------------------------------------- */

static void update_free(struct update *u)
{
	if (!u)
		return;
	alb_unikernel_config_free(u->config);
	alb_service_spec_free(u->spec);
	alb_source_free(u->deadline);
	alb_source_free(u->probe_timer);
	alb_source_free(u->probe_io);
	alb_source_free(u->exited_timer);
	if (u->probe_fd >= 0)
		close(u->probe_fd);
	free(u->why);
	free(u);
}

static void drain_schedule(struct svc *s);

/* The failed update's instance is gone: its record and address go, the client hears. */
static void failed_gone(struct alb_svcs *m, const alb_name *uk, int r, const alb_name *svc)
{
	struct svc *s = find(m, svc);
	if (!s || !s->update) {
		orphan_gone(m, uk, r, NULL);
		return;
	}
	struct update *u = s->update;
	struct alb_service_instance *in = instance_in(s, ALB_INSTANCE_STARTING);
	if (in && r >= 0 && u->keep_address) {
		(void)orphan_add(m, NULL, s->info.spec->bridge, in->address);
		instance_drop(s, in);
	} else if (in && r >= 0) {
		(void)alb_conntrack_forget(m->ctx, 0, htonl(in->address));
		instance_drop(s, in);
	} else if (in) {
		/* It could not be destroyed: it and its address wait for a collect. */
		(void)orphan_add(m, in->unikernel, s->info.spec->bridge, in->address);
		instance_drop(s, in);
	}
	s->update = NULL;
	_cleanup_(alb_name_freep) alb_name *sname = NULL;
	if (alb_name_dup(s->info.name, &sname) < 0)
		sname = NULL;
	free(s->info.last_error);
	s->info.last_error = u && u->why ? strdup(u->why) : NULL;
	log_event(m, ALB_EVENT_SERVICE_UPDATE_FAILED, s->info.name, "%s",
		  u && u->why ? u->why : "rolled back");
	/* A first deploy that failed leaves no service behind. */
	if (!s->info.n_instances && !instance_in(s, ALB_INSTANCE_PUBLISHED)) {
		for (uint32_t i = 0; i < m->n; i++)
			if (m->v[i] == s) {
				memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
				m->n--;
				break;
			}
		(void)save(m);
		if (u && u->done)
			u->done(m->vmm, sname ? sname : uk, u->error, u->why ? u->why : "failed",
				u->userdata);
		update_free(u);
		svc_free(s);
		return;
	}
	(void)save(m);
	if (u && u->done)
		u->done(m->vmm, s->info.name, u->error, u->why ? u->why : "failed", u->userdata);
	update_free(u);
}

/* The update fails: its instance is destroyed, the published one stays. */
static void update_fail(struct update *u, int error, const char *fmt, ...) _printf_(3, 4);
static void update_fail(struct update *u, int error, const char *fmt, ...)
{
	if (u->failing)
		return;
	struct svc *s = u->s;
	struct alb_svcs *m = s->m;
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	struct alb_service_instance *old = instance_in(s, ALB_INSTANCE_PUBLISHED);
	_cleanup_free_ char *on = old ? vmm_name_str(old->unikernel) : NULL;
	struct alb_service_instance *starting = instance_in(s, ALB_INSTANCE_STARTING);
	/* albatross-console keeps the output of a destroyed unikernel: where to look. */
	_cleanup_free_ char *starting_s = starting ? vmm_name_str(starting->unikernel) : NULL;
	free(u->why);
	if (asprintf(&u->why, "%s%s%s%s; %s", text,
		     starting_s ? " (its output: albatross-client console " : "",
		     starting_s ? starting_s : "", starting_s ? ")" : "",
		     on ? "the previous instance stays published" : "nothing is published") < 0)
		u->why = NULL;
	u->error = error > 0 ? -error : error;
	u->failing = true;
	u->deadline = alb_source_free(u->deadline);
	u->probe_timer = alb_source_free(u->probe_timer);
	u->probe_io = alb_source_free(u->probe_io);
	struct alb_service_instance *in = instance_in(s, ALB_INSTANCE_STARTING);
	if (!in) {
		failed_gone(m, NULL, 0, s->info.name);
		return;
	}
	_cleanup_(alb_name_freep) alb_name *uk = NULL, *sn = NULL;
	if (alb_name_dup(in->unikernel, &uk) < 0 || alb_name_dup(s->info.name, &sn) < 0 ||
	    kill_unikernel(m, uk, NULL, failed_gone, sn) < 0)
		failed_gone(m, uk, -ENOMEM, s->info.name);
}

#define SWAP(a, b)                                                                                 \
	do {                                                                                       \
		__typeof__(a) swap_ = (a);                                                         \
		(a) = (b);                                                                         \
		(b) = swap_;                                                                       \
	} while (0)

static void update_ready(struct update *u)
{
	struct svc *s = u->s;
	struct alb_svcs *m = s->m;
	struct alb_service_instance *in = instance_in(s, ALB_INSTANCE_STARTING);
	if (!in || u->failing || u->exited[0])
		return; /* an exit of the new instance is being reported */
	u->deadline = alb_source_free(u->deadline);
	u->probe_timer = alb_source_free(u->probe_timer);
	u->probe_io = alb_source_free(u->probe_io);
	/* One transaction: every published port to the new instance. */
	int r = publish_all(m, NULL, s, in, u->spec);
	if (r < 0) {
		update_fail(u, r, "the switch failed: %s", alb_ctx_last_error(m->ctx));
		return;
	}
	crash_point(m, "service-switched-not-saved");
	struct alb_service_instance *old = instance_in(s, ALB_INSTANCE_PUBLISHED);
	in = instance_in(s, ALB_INSTANCE_STARTING);
	in->state = ALB_INSTANCE_PUBLISHED;
	in->until_us = 0;
	uint64_t old_until = old ? old->until_us : 0;
	if (old) {
		old->state = ALB_INSTANCE_DRAINING;
		old->until_us = alb_now_realtime() + u->spec->drain_ms * 1000;
	}
	SWAP(s->info.config, u->config);
	SWAP(s->info.spec, u->spec);
	char *last_error = TAKE_PTR(s->info.last_error);
	if ((r = save(m)) < 0) {
		/* Not saved: undone, rules included, so that a restart finds what runs. */
		SWAP(s->info.config, u->config);
		SWAP(s->info.spec, u->spec);
		s->info.last_error = last_error;
		in->state = ALB_INSTANCE_STARTING;
		if (old) {
			old->state = ALB_INSTANCE_PUBLISHED;
			old->until_us = old_until;
		}
		if (publish_all(m, NULL, NULL, NULL, NULL) < 0)
			u->keep_address = true; /* the rules may still lead to it */
		update_fail(u, r, "the switch could not be saved");
		return;
	}
	free(last_error);
	crash_point(m, "service-switched");
	char a[16], b[16];
	_cleanup_free_ char *nn = vmm_name_str(in->unikernel);
	if (old) {
		/* Datagrams of flows to the old instance are NATed again, to the new one. */
		(void)alb_conntrack_forget(m->ctx, IPPROTO_UDP, htonl(old->address));
		_cleanup_free_ char *on = vmm_name_str(old->unikernel);
		log_event(m, ALB_EVENT_SERVICE_SWITCHED, in->unikernel,
			  "published at %s (was %s at %s, draining for %" PRIu64 " ms)",
			  addr_str(in->address, a), on, addr_str(old->address, b),
			  s->info.spec->drain_ms);
	} else
		log_event(m, ALB_EVENT_SERVICE_SWITCHED, in->unikernel, "published at %s",
			  addr_str(in->address, a));
	char text[512];
	snprintf(text, sizeof(text), "deployed %s at %s%s", nn, addr_str(in->address, a),
		 s->info.spec->n_publish && alb_ip_forward_enabled() == 0
		     ? " (net.ipv4.ip_forward is off: its published ports are reached from this "
		       "host only until it is on)"
		     : "");
	s->update = NULL;
	/* Told once the new instance's record is durable (docs/state.md, group commit). */
	if (u->done)
		vmm_when_durable(m->vmm, s->info.name, 0, text, u->done, u->userdata);
	update_free(u);
	drain_schedule(s);
}

static int deadline_fired(alb_source *source, void *userdata)
{
	struct update *u = userdata;
	if (u->exited[0])
		update_fail(u, ECHILD, "%s", u->exited);
	else
		update_fail(u, ETIMEDOUT, "the new instance was not ready within %" PRIu64 " ms",
			    u->spec->ready_timeout_ms);
	return 0;
}

static int probe_io(alb_source *source, int fd, uint32_t events, void *userdata)
{
	struct update *u = userdata;
	if (u->spec->ready == ALB_READY_TCP) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
			update_ready(u);
			return 0;
		}
	} else {
		char buf[64];
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
			update_ready(u);
			return 0;
		}
	}
	/* Refused or not there yet: the next probe. */
	u->probe_io = alb_source_free(u->probe_io);
	close(u->probe_fd);
	u->probe_fd = -1;
	return 0;
}

static int probe_fire(alb_source *source, void *userdata)
{
	struct update *u = userdata;
	struct alb_service_instance *in = instance_in(u->s, ALB_INSTANCE_STARTING);
	alb_source_set_timer(source, PROBE_INTERVAL_US);
	if (!in)
		return 0;
	if (u->spec->ready == ALB_READY_DELAY || u->spec->ready == ALB_READY_NONE) {
		update_ready(u);
		return 0;
	}
	bool tcp = u->spec->ready == ALB_READY_TCP;
	if (u->probe_fd >= 0 && tcp) {
		/* A connect under way: its answer, unless the SYN went unanswered (the
		 * instance not up yet): then a new one. */
		if (alb_now_monotonic() - u->probe_started < 1000000)
			return 0;
		u->probe_io = alb_source_free(u->probe_io);
		close(u->probe_fd);
		u->probe_fd = -1;
	}
	if (u->probe_fd < 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)u->spec->ready_port),
					 .sin_addr.s_addr = htonl(in->address)};
		u->probe_fd = socket(
		    AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (u->probe_fd < 0)
			return 0;
		u->probe_started = alb_now_monotonic();
		if (connect(u->probe_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
		    errno != EINPROGRESS) {
			close(u->probe_fd);
			u->probe_fd = -1;
			return 0;
		}
		if (alb_loop_add_io(u->s->m->loop, u->probe_fd, tcp ? ALB_IO_OUT : ALB_IO_IN,
				    probe_io, u, &u->probe_io) < 0) {
			close(u->probe_fd);
			u->probe_fd = -1;
			return 0;
		}
	}
	if (!tcp)
		(void)send(u->probe_fd, "albatross-ready?", 16, MSG_DONTWAIT | MSG_NOSIGNAL);
	return 0;
}

static void watch_console(alb_vmm *vmm, const alb_name *name, const uint8_t *data, size_t len,
			  void *userdata)
{
	struct alb_svcs *m = userdata;
	for (uint32_t i = 0; i < m->n; i++) {
		struct update *u = m->v[i]->update;
		struct alb_service_instance *in = instance_in(m->v[i], ALB_INSTANCE_STARTING);
		if (!u || !in || u->failing || u->spec->ready != ALB_READY_LINE ||
		    !alb_name_equal(in->unikernel, name))
			continue;
		size_t want = strlen(u->spec->ready_line);
		for (size_t k = 0; k < len; k++) {
			if (data[k] == '\n') {
				u->line_len = 0;
				continue;
			}
			if (u->line_len + 1 >= sizeof(u->line)) { /* keep the end of a long line */
				memmove(u->line, u->line + u->line_len - want, want);
				u->line_len = want;
			}
			u->line[u->line_len++] = data[k] ? (char)data[k] : ' ';
			u->line[u->line_len] = 0;
			if (u->line_len >= want &&
			    memcmp(u->line + u->line_len - want, u->spec->ready_line, want) == 0) {
				update_ready(u);
				return;
			}
		}
		return;
	}
}

static int exited_fired(alb_source *source, void *userdata)
{
	struct update *u = userdata;
	update_fail(u, ECHILD, "%s", u->exited);
	return 0;
}

static void watch_event(alb_vmm *vmm, const alb_name *name, int event, int signal, int code,
			void *userdata)
{
	struct alb_svcs *m = userdata;
	if (event != ALB_VMM_EXITED && event != ALB_VMM_FAILED && event != ALB_VMM_DESTROYED)
		return;
	for (uint32_t i = 0; i < m->n; i++) {
		struct update *u = m->v[i]->update;
		struct alb_service_instance *in = instance_in(m->v[i], ALB_INSTANCE_STARTING);
		if (!u || !in || u->failing || !alb_name_equal(in->unikernel, name))
			continue;
		/* Not from inside the supervisor's handling of the exit: on the loop's next
		 * turn. */
		if (!u->exited_timer) {
			if (signal)
				snprintf(u->exited, sizeof(u->exited),
					 "the new instance was killed by signal %d before it was "
					 "ready",
					 signal);
			else
				snprintf(u->exited, sizeof(u->exited),
					 "the new instance exited (code %d) before it was ready",
					 code);
			if (alb_loop_add_timer(m->loop, 0, exited_fired, u, &u->exited_timer) < 0 &&
			    (!u->deadline || alb_source_set_timer(u->deadline, 0) < 0))
				alb_log_err(m->ctx, "%s; its update ends at its readiness timeout",
					    u->exited);
		}
		return;
	}
}

static const struct vmm_watch watch = {.console = watch_console, .event = watch_event};

static struct svc *owner_of(struct alb_svcs *m, const alb_name *uk, bool *listed);

int alb_svcs_deploy(struct alb_svcs *m, const alb_name *name, const alb_unikernel_config *config,
		    const struct alb_service_spec *spec, struct vmm_upload *up,
		    alb_vmm_done_fn done, void *userdata)
{
	int r = alb_svcs_deploy_check(m, name, config, spec);
	if (r < 0)
		return r;
	struct svc *s = find(m, name);
	bool created = false;
	if (!s) {
		struct svc **v = realloc(m->v, (m->n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->v = v;
		if (!(s = calloc(1, sizeof(*s))))
			return -ENOMEM;
		s->m = m;
		if ((r = alb_name_dup(name, &s->info.name)) < 0 ||
		    (r = alb_unikernel_config_dup(config, &s->info.config)) < 0 ||
		    (r = alb_service_spec_dup(spec, &s->info.spec)) < 0) {
			svc_free(s);
			return r;
		}
		s->info.generation = next_generation(m, name, NULL) - 1;
		m->v[m->n++] = s;
		created = true;
	}
	uint64_t gen = s->info.generation + 1;
	_cleanup_(alb_name_freep) alb_name *uk = NULL;
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *c = NULL;
	struct used_ctx uc = {.m = m, .bridge = spec->bridge};
	uint32_t *ex = calloc(spec->n_excluded + 1, sizeof(uint32_t));
	uint32_t addr = 0, n_ex = 0;
	_cleanup_free_ char *seed = vmm_name_str(name);
	if (!ex) {
		r = -ENOMEM;
		goto fail;
	}
	if (spec->n_excluded)
		memcpy(ex, spec->excluded, spec->n_excluded * sizeof(uint32_t));
	n_ex = spec->n_excluded;
	if (spec->gateway)
		ex[n_ex++] = spec->gateway;
	if ((r = instance_name(m, name, gen, &uk)) < 0 ||
	    (r = other_addresses(m, spec->bridge, &uc)) < 0 ||
	    (r = alb_ipam_pick(m->ctx, spec->prefix, spec->prefix_len, ex, n_ex, used, &uc, seed,
			       gen, &addr)) < 0 ||
	    (r = expand(m, config, spec, uk, gen, addr, &c)) < 0)
		goto fail;
	/* The record first: a restart from here on rolls the update back. */
	struct alb_service_instance *in =
	    realloc(s->info.instances, (s->info.n_instances + 1) * sizeof(*in));
	if (!in) {
		r = -ENOMEM;
		goto fail;
	}
	s->info.instances = in;
	in = &s->info.instances[s->info.n_instances];
	*in = (struct alb_service_instance){
	    .generation = gen,
	    .address = addr,
	    .state = ALB_INSTANCE_STARTING,
	    .until_us = alb_now_realtime() + spec->ready_timeout_ms * 1000,
	};
	if ((r = alb_name_dup(uk, &in->unikernel)) < 0)
		goto fail;
	s->info.n_instances++;
	s->info.generation = gen;
	struct update *u = calloc(1, sizeof(*u));
	if (!u) {
		r = -ENOMEM;
		goto fail_record;
	}
	u->s = s;
	u->probe_fd = -1;
	u->done = done;
	u->userdata = userdata;
	if ((r = alb_unikernel_config_dup(config, &u->config)) < 0 ||
	    (r = alb_service_spec_dup(spec, &u->spec)) < 0 || (r = save(m)) < 0) {
		update_free(u);
		goto fail_record;
	}
	crash_point(m, "service-allocated");
	char a[16];
	log_event(m, ALB_EVENT_SERVICE_ALLOCATED, uk, "%s on %s", addr_str(addr, a), spec->bridge);
	s->update = u;
	r = vmm_create_uploaded(m->vmm, uk, c, up, false, NULL, NULL);
	if (r == -EEXIST) {
		/* Not ours (made meanwhile): never destroyed for this update. */
		u->why = strdup("a unikernel of the new instance's name exists");
		u->error = -EEXIST;
		u->failing = true;
		failed_gone(m, NULL, 0, s->info.name);
		free(ex);
		free(uc.other);
		return 0;
	}
	if (r < 0) {
		update_fail(u, r, "the new instance could not be created: %s",
			    alb_ctx_last_error(m->ctx));
		/* done is called by the failure: this call succeeded in starting it */
		free(ex);
		free(uc.other);
		return 0;
	}
	crash_point(m, "service-started");
	if ((r = alb_loop_add_timer(m->loop, spec->ready_timeout_ms * 1000, deadline_fired, u,
				    &u->deadline)) < 0 ||
	    (spec->ready != ALB_READY_LINE &&
	     (r = alb_loop_add_timer(
		  m->loop, spec->ready == ALB_READY_DELAY ? spec->ready_delay_ms * 1000 : 0,
		  probe_fire, u, &u->probe_timer)) < 0))
		update_fail(u, r, "no timer for the readiness rule");
	free(ex);
	free(uc.other);
	return 0;
fail_record:
	instance_drop(s, &s->info.instances[s->info.n_instances - 1]);
	s->info.generation = gen - 1;
fail:
	free(ex);
	free(uc.other);
	if (created) {
		m->n--;
		svc_free(s);
	}
	return r;
}

/* ---- drains ------------------------------------------------------------------------------ */

static void retired(struct alb_svcs *m, const alb_name *uk, int r, const alb_name *svc)
{
	struct svc *s = find(m, svc);
	if (!s) { /* removed meanwhile: the instance is an orphan now */
		orphan_gone(m, uk, r, NULL);
		return;
	}
	for (uint32_t i = 0; i < s->info.n_instances; i++) {
		struct alb_service_instance *in = &s->info.instances[i];
		if (in->state != ALB_INSTANCE_DRAINING || !alb_name_equal(in->unikernel, uk))
			continue;
		char a[16];
		if (r < 0)
			(void)orphan_add(m, in->unikernel, s->info.spec->bridge, in->address);
		else {
			(void)alb_conntrack_forget(m->ctx, 0, htonl(in->address));
			log_event(m, ALB_EVENT_SERVICE_RETIRED, uk, "destroyed, %s freed",
				  addr_str(in->address, a));
		}
		instance_drop(s, in);
		break;
	}
	(void)save(m);
}

static int drain_fired(alb_source *source, void *userdata)
{
	struct svc *s = userdata;
	s->drain = alb_source_free(s->drain);
	struct alb_service_instance *in = instance_in(s, ALB_INSTANCE_DRAINING);
	if (!in)
		return 0;
	_cleanup_(alb_name_freep) alb_name *uk = NULL;
	if (alb_name_dup(in->unikernel, &uk) >= 0)
		(void)kill_unikernel(s->m, uk, NULL, retired, s->info.name);
	return 0;
}

static void drain_schedule(struct svc *s)
{
	struct alb_service_instance *in = instance_in(s, ALB_INSTANCE_DRAINING);
	if (!in || s->drain)
		return;
	uint64_t now = alb_now_realtime();
	uint64_t left = in->until_us > now ? in->until_us - now : 0;
	if (alb_loop_add_timer(s->m->loop, left, drain_fired, s, &s->drain) < 0)
		drain_fired(NULL, s);
}

/* ---- info, remove, collect --------------------------------------------------------------- */

static int info_copy(alb_ctx *ctx, const struct alb_service_info *in, struct alb_service_info *out)
{
	_cleanup_(cbor_decref_ptrp) cbor_item_t *item = alb_service_info_to_cbor(in);
	if (!item)
		return -ENOMEM;
	int r = alb_service_info_from_cbor(ctx, item, "service", out);
	if (r < 0)
		alb_service_info_clear(out);
	return r;
}

static bool selects(const alb_name *selector, const alb_name *name)
{
	return alb_name_is_path(selector) ? alb_name_is_prefix(selector, name) == 1
					  : alb_name_equal(selector, name);
}

int alb_svcs_infos(struct alb_svcs *m, const alb_name *selector, struct alb_service_info **ret,
		   uint32_t *ret_n)
{
	struct alb_service_info *v = calloc(m->n ? m->n : 1, sizeof(*v));
	uint32_t n = 0;
	int r = 0;
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->n && r >= 0; i++)
		if (selects(selector, m->v[i]->info.name) &&
		    (r = info_copy(m->ctx, &m->v[i]->info, &v[n])) >= 0)
			n++;
	if (r >= 0 && n == 0 && !alb_name_is_path(selector)) {
		_cleanup_free_ char *s = vmm_name_str(selector);
		r = alb_error(m->ctx, ENOENT, "no service '%s'", s);
	}
	if (r < 0) {
		for (uint32_t i = 0; i < n; i++)
			alb_service_info_clear(&v[i]);
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int alb_svcs_remove(struct alb_svcs *m, const alb_name *name, alb_vmm_done_fn done, void *userdata)
{
	struct svc *s = find(m, name);
	_cleanup_free_ char *sn = vmm_name_str(name);
	if (!s)
		return alb_error(m->ctx, ENOENT, "no service '%s'", sn);
	if (s->update)
		return alb_error(m->ctx, EBUSY, "an update of service '%s' is under way", sn);
	/* Its rules first (nothing changes if that fails), then the record, then its
	 * instances, kept as orphans until they are gone. */
	int r = publish_all(m, s, NULL, NULL, NULL);
	if (r < 0)
		return r;
	uint32_t n_orphans = m->n_orphans, at = 0;
	for (uint32_t i = 0; r >= 0 && i < s->info.n_instances; i++)
		r = orphan_add(m, s->info.instances[i].unikernel, s->info.spec->bridge,
			       s->info.instances[i].address);
	for (at = 0; at < m->n && m->v[at] != s; at++)
		;
	if (r >= 0) {
		memmove(&m->v[at], &m->v[at + 1], (m->n - at - 1) * sizeof(*m->v));
		m->n--;
		r = save(m);
		if (r < 0) { /* back where it was, in the file's state */
			memmove(&m->v[at + 1], &m->v[at], (m->n - at) * sizeof(*m->v));
			m->v[at] = s;
			m->n++;
		}
	}
	if (r < 0) {
		/* Not removed: its orphan records go, its rules come back. */
		while (m->n_orphans > n_orphans)
			alb_collected_clear(&m->orphans[--m->n_orphans]);
		(void)publish_all(m, NULL, NULL, NULL, NULL);
		return r;
	}
	crash_point(m, "service-removed");
	log_event(m, ALB_EVENT_SERVICE_REMOVED, name, "removed, with its %u instance(s)",
		  s->info.n_instances);
	char text[ALB_WIRE_STRING_MAX];
	snprintf(text, sizeof(text), "removed %s", sn);
	struct batch *b = batch_new(m, name, done, userdata, text);
	if (!b) {
		svc_free(s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->info.n_instances; i++)
		(void)kill_unikernel(m, s->info.instances[i].unikernel, b, orphan_gone, NULL);
	svc_free(s);
	batch_end(b);
	return 0;
}

/* The service whose instance name uk would be ("PATH:LABEL.N" for the service PATH:LABEL),
 * NULL if none; *listed: whether the service lists it. */
static struct svc *owner_of(struct alb_svcs *m, const alb_name *uk, bool *listed)
{
	const char *label = alb_name_label(uk);
	const char *dot = label ? strrchr(label, '.') : NULL;
	if (!dot || !dot[1] || strspn(dot + 1, "0123456789") != strlen(dot + 1))
		return NULL;
	_cleanup_(alb_name_freep) alb_name *path = NULL, *name = NULL;
	char base[ALB_LABEL_MAX + 1];
	snprintf(base, sizeof(base), "%.*s", (int)(dot - label), label);
	if (alb_name_parent(uk, &path) < 0 || alb_name_append(NULL, path, base, 0, &name) < 0)
		return NULL;
	struct svc *s = find(m, name);
	if (!s)
		return NULL;
	*listed = false;
	for (uint32_t i = 0; i < s->info.n_instances; i++)
		*listed |= alb_name_equal(s->info.instances[i].unikernel, uk);
	return s;
}

/* Unikernels named as instances of a service below path that the service does not list
 * (its file restored from a copy, say), appended to *v. */
static int strays(struct alb_svcs *m, const alb_name *path, struct alb_collected **v, uint32_t *n)
{
	struct alb_unikernel_info *infos = NULL;
	uint32_t ni = 0;
	int r = vmm_unikernel_infos(m->vmm, path, UINT32_MAX, &infos, &ni);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	struct alb_collected *g = realloc(*v, (*n + ni + 1) * sizeof(*g));
	if (!g)
		r = -ENOMEM;
	else
		*v = g;
	for (uint32_t i = 0; r >= 0 && i < ni; i++) {
		bool listed = true, orphan = false;
		struct svc *s = owner_of(m, infos[i].name, &listed);
		for (uint32_t j = 0; j < m->n_orphans; j++)
			orphan |= m->orphans[j].unikernel &&
				  alb_name_equal(m->orphans[j].unikernel, infos[i].name);
		if (!s || listed || orphan) /* an orphan is collected as one */
			continue;
		/* Only what looks like an instance of it: a generation it made, its net device
		 * on its bridge. */
		const alb_unikernel_config *cf = infos[i].config;
		const char *label = alb_name_label(infos[i].name);
		uint64_t gen = strtoull(strrchr(label, '.') + 1, NULL, 10);
		bool on = false;
		for (uint32_t j = 0; j < cf->n_nets; j++)
			on |= streq(cf->nets[j].name, s->info.spec->device) &&
			      streq(cf->nets[j].bridge, s->info.spec->bridge);
		if (!on || gen < 1 || gen > s->info.generation)
			continue;
		struct alb_collected *c = &(*v)[*n];
		*c = (struct alb_collected){0};
		c->address = ipv4_argument(cf);
		if (!(c->bridge = strdup(s->info.spec->bridge)) ||
		    alb_name_dup(infos[i].name, &c->unikernel) < 0) {
			alb_collected_clear(c);
			r = -ENOMEM;
			break;
		}
		(*n)++;
	}
	for (uint32_t i = 0; i < ni; i++)
		alb_unikernel_info_clear(&infos[i]);
	free(infos);
	alb_ctx_clear_error(m->ctx);
	return r < 0 ? r : 0;
}

int alb_svcs_collect(struct alb_svcs *m, const alb_name *path, struct alb_collected **ret,
		     uint32_t *ret_n, alb_vmm_done_fn done, void *userdata)
{
	struct alb_collected *v = calloc(m->n_orphans ? m->n_orphans : 1, sizeof(*v));
	uint32_t n = 0;
	if (!v)
		return -ENOMEM;
	/* Addresses alone go at once; unikernels when they are gone. */
	for (uint32_t i = 0; i < m->n_orphans; i++) {
		const struct alb_collected *o = &m->orphans[i];
		bool listed = false;
		if (o->unikernel ? !selects(path, o->unikernel) : !alb_name_is_root(path))
			continue;
		if (o->unikernel && owner_of(m, o->unikernel, &listed) && listed)
			continue; /* a service's instance of that name now: not ours to kill */
		v[n].address = o->address;
		if (!(v[n].bridge = strdup(o->bridge)) ||
		    (o->unikernel && alb_name_dup(o->unikernel, &v[n].unikernel) < 0)) {
			for (uint32_t k = 0; k <= n; k++)
				alb_collected_clear(&v[k]);
			free(v);
			return -ENOMEM;
		}
		n++;
	}
	uint32_t n_orphaned = n;
	int r = strays(m, path, &v, &n);
	if (r < 0) {
		for (uint32_t k = 0; k < n; k++)
			alb_collected_clear(&v[k]);
		free(v);
		return r;
	}
	struct batch *b = batch_new(m, path, done, userdata, "collected");
	if (!b) {
		for (uint32_t k = 0; k < n; k++)
			alb_collected_clear(&v[k]);
		free(v);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->n_orphans;) {
		struct alb_collected *o = &m->orphans[i];
		if (!o->unikernel && alb_name_is_root(path)) {
			char a[16];
			log_event(m, ALB_EVENT_SERVICE_RETIRED, path, "%s on %s freed by a collect",
				  addr_str(o->address, a), o->bridge);
			alb_collected_clear(o);
			memmove(o, o + 1, (m->n_orphans - i - 1) * sizeof(*o));
			m->n_orphans--;
			continue;
		}
		i++;
	}
	(void)save(m);
	for (uint32_t i = 0; i < n; i++)
		if (v[i].unikernel) {
			if (i >= n_orphaned)
				log_event(m, ALB_EVENT_SERVICE_RETIRED, v[i].unikernel,
					  "destroyed by a collect: no service lists it");
			(void)kill_unikernel(m, v[i].unikernel, b,
					     i < n_orphaned ? orphan_gone : NULL, NULL);
		}
	*ret = v;
	*ret_n = n;
	batch_end(b);
	return 0;
}

/* ---- start ------------------------------------------------------------------------------- */

static int unikernel_exists(struct alb_svcs *m, const alb_name *uk)
{
	struct alb_unikernel_info *infos = NULL;
	uint32_t n = 0;
	int r = vmm_unikernel_infos(m->vmm, uk, 1, &infos, &n);
	for (uint32_t i = 0; i < n; i++)
		alb_unikernel_info_clear(&infos[i]);
	free(infos);
	alb_ctx_clear_error(m->ctx);
	return r == -ENOENT ? 0 : r < 0 ? r : n > 0;
}

int alb_svcs_new(alb_vmm *vmm, struct alb_svcs **ret)
{
	struct alb_svcs *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->vmm = vmm;
	m->ctx = vmm_ctx(vmm);
	m->loop = vmm_loop(vmm);
	m->crash_at = secure_getenv("ALBATROSS_CRASH_AT");
	int r;
	if (snprintf(m->path, sizeof(m->path), "%s/services", vmm_dbdir(vmm)) >=
	    (int)sizeof(m->path)) {
		free(m);
		return -ENAMETOOLONG;
	}
	if ((r = load(m)) < 0) {
		alb_svcs_free(m);
		return r;
	}
	/* Updates that a restart interrupted are rolled back: nothing of them was published
	 * (the switch saves the new instance as published). */
	bool changed = false;
	for (uint32_t i = 0; i < m->n; i++) {
		struct svc *s = m->v[i];
		struct alb_service_instance *in = instance_in(s, ALB_INSTANCE_STARTING);
		if (!in)
			continue;
		_cleanup_free_ char *n = vmm_name_str(in->unikernel);
		alb_log_notice(m->ctx,
			       "the update to '%s' was interrupted by a restart of albatrossd: "
			       "rolled back",
			       n);
		(void)orphan_add(m, in->unikernel, s->info.spec->bridge, in->address);
		free(s->info.last_error);
		s->info.last_error = strdup("interrupted by a restart of albatrossd: rolled back");
		instance_drop(s, in);
		changed = true;
	}
	/* A first deploy interrupted leaves nothing. */
	for (uint32_t i = 0; i < m->n;) {
		if (m->v[i]->info.n_instances == 0) {
			svc_free(m->v[i]);
			memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
			m->n--;
			changed = true;
			continue;
		}
		i++;
	}
	/* Orphans whose unikernel is gone free their address; the others are destroyed
	 * (an update rolled back, a removal cut short). */
	struct alb_collected *kill = calloc(m->n_orphans ? m->n_orphans : 1, sizeof(*kill));
	uint32_t n_kill = 0;
	for (uint32_t i = 0; kill && i < m->n_orphans;) {
		struct alb_collected *o = &m->orphans[i];
		bool listed = false;
		int e = o->unikernel ? unikernel_exists(m, o->unikernel) : 1;
		/* Gone, or a name a service lists again (its instance now): the record goes. */
		if (e == 0 || (o->unikernel && owner_of(m, o->unikernel, &listed) && listed)) {
			alb_collected_clear(o);
			memmove(o, o + 1, (m->n_orphans - i - 1) * sizeof(*o));
			m->n_orphans--;
			changed = true;
			continue;
		}
		if (e > 0 && o->unikernel &&
		    alb_name_dup(o->unikernel, &kill[n_kill].unikernel) >= 0)
			n_kill++;
		i++;
	}
	if (changed && (r = save(m)) < 0) {
		free(kill);
		alb_svcs_free(m);
		return r;
	}
	vmm_set_watch(vmm, &watch, m);
	for (uint32_t i = 0; i < n_kill; i++) {
		(void)kill_unikernel(m, kill[i].unikernel, NULL, orphan_gone, NULL);
		alb_collected_clear(&kill[i]);
	}
	free(kill);
	for (uint32_t i = 0; i < m->n; i++) {
		struct alb_service_instance *in = instance_in(m->v[i], ALB_INSTANCE_PUBLISHED);
		if (in && (r = unikernel_exists(m, in->unikernel)) == 0) {
			_cleanup_free_ char *n = vmm_name_str(in->unikernel);
			alb_log_warn(m->ctx,
				     "the published instance '%s' does not exist: deploy its "
				     "service again",
				     n);
		}
		drain_schedule(m->v[i]);
	}
	/* The rules as the file says (they may be there already: replaced whole). */
	if ((r = publish_all(m, NULL, NULL, NULL, NULL)) < 0)
		alb_log_err(m->ctx, "Failed to publish the services' ports: %s",
			    alb_ctx_last_error(m->ctx));
	*ret = m;
	return 0;
}

struct alb_svcs *alb_svcs_free(struct alb_svcs *m)
{
	if (!m)
		return NULL;
	vmm_set_watch(m->vmm, NULL, NULL);
	/* Destroys under way finish without us: the supervisor cancels or ends them. */
	for (struct kill *k = m->kills; k; k = k->next)
		k->m = NULL;
	while (m->batches) {
		struct batch *b = m->batches;
		m->batches = b->next;
		b->m = NULL;
		if (b->done)
			b->done(m->vmm, b->name, -ECANCELED, "albatrossd stops", b->userdata);
		batch_release(b);
	}
	for (uint32_t i = 0; i < m->n; i++) {
		struct update *u = m->v[i]->update;
		if (u && u->done)
			u->done(m->vmm, m->v[i]->info.name, -ECANCELED,
				"albatrossd stops: the update is rolled back at its next start",
				u->userdata);
		update_free(u);
		svc_free(m->v[i]);
	}
	free(m->v);
	for (uint32_t i = 0; i < m->n_orphans; i++)
		alb_collected_clear(&m->orphans[i]);
	free(m->orphans);
	free(m);
	return NULL;
}
