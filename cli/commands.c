/* SPDX-License-Identifier: ISC */
/*
 * The commands of albatross-client: each parses its own options, validates
 * every argument before it connects, builds the command message, sends it
 * (with the image or block data as a stream where the protocol says so) and
 * prints the reply as a table or as one JSON document.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <sys/mman.h>
#include <nettle/sha2.h>
#include <sys/stat.h>

#include "cli-private.h"

static const char *const tender_names[] = {[ALB_TENDER_HVT] = "hvt", [ALB_TENDER_SPT] = "spt"};
static const char *const fail_names[] = {
    [ALB_FAIL_QUIT] = "quit", [ALB_FAIL_RESTART] = "restart", [ALB_FAIL_RESTART_ON] = "restart-on"};

static const char *tender_name(int tender)
{
	return tender == ALB_TENDER_HVT || tender == ALB_TENDER_SPT ? tender_names[tender] : "?";
}

/* ---- replies ------------------------------------------------------------- */

static void json_u32_array(struct json *j, const uint32_t *v, uint32_t n)
{
	json_array_open(j);
	for (uint32_t i = 0; i < n; i++)
		json_uint(j, v[i]);
	json_array_close(j);
}

static void json_strv(struct json *j, char *const *v, uint32_t n)
{
	json_array_open(j);
	for (uint32_t i = 0; v && i < n; i++)
		json_string(j, v[i]);
	json_array_close(j);
}

/* The CPU ids (at most ALB_CPUIDS_MAX) and exit codes (at most 256) into v; their count. */
static uint32_t config_cpuids(const alb_unikernel_config *c, uint32_t v[ALB_CPUIDS_MAX])
{
	uint32_t n = alb_unikernel_config_get_cpuid_count(c);

	n = n < ALB_CPUIDS_MAX ? n : ALB_CPUIDS_MAX;
	for (uint32_t i = 0; i < n; i++)
		v[i] = alb_unikernel_config_get_cpuid(c, i);
	return n;
}

static uint32_t config_exit_codes(const alb_unikernel_config *c, uint32_t v[256])
{
	uint32_t n = alb_unikernel_config_get_exit_code_count(c);

	n = n < 256 ? n : 256;
	for (uint32_t i = 0; i < n; i++)
		v[i] = alb_unikernel_config_get_exit_code(c, i);
	return n;
}

static uint32_t policy_cpuids(const alb_policy *p, uint32_t v[ALB_CPUIDS_MAX])
{
	uint32_t n = alb_policy_get_cpuid_count(p);

	n = n < ALB_CPUIDS_MAX ? n : ALB_CPUIDS_MAX;
	for (uint32_t i = 0; i < n; i++)
		v[i] = alb_policy_get_cpuid(p, i);
	return n;
}

/* The policy's bridges joined with ",", or NULL for none (as format_strv()). */
static char *format_bridges(const alb_policy *p)
{
	uint32_t n = alb_policy_get_bridge_count(p);
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	if (n == 0)
		return NULL;
	f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", alb_policy_get_bridge(p, i));
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* The policy's prefixes as "BRIDGE=A.B.C.D/N" joined with ",", or NULL for none. */
static char *format_prefixes(const alb_policy *p)
{
	uint32_t n = alb_policy_get_prefix_count(p);
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	if (n == 0)
		return NULL;
	f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%s=%s", i ? "," : "", alb_policy_get_prefix_bridge(p, i),
			alb_policy_get_prefix(p, i));
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* The configuration's arguments as a NULL-terminated copy; NULL after ENOMEM. */
static char **config_argv(const alb_unikernel_config *c)
{
	uint32_t n = alb_unikernel_config_get_argument_count(c);
	char **v = calloc((size_t)n + 1, sizeof(char *));

	for (uint32_t i = 0; v && i < n; i++) {
		v[i] = strdup(alb_unikernel_config_get_argument(c, i));
		if (!v[i]) {
			alb_strv_free(v);
			return NULL;
		}
	}
	return v;
}

static void json_name(struct json *j, const char *key, const alb_name *name)
{
	_cleanup_free_ char *s = name ? alb_name_to_string(name) : NULL;

	json_kv_string(j, key, s);
}

static void json_config(struct json *j, const alb_unikernel_config *c)
{
	uint32_t v[ALB_CPUIDS_MAX], n;
	uint8_t digest[32];
	char hex[65];
	int fail = alb_unikernel_config_get_fail_behaviour(c);

	json_object_open(j);
	json_kv_string(j, "tender", tender_name(alb_unikernel_config_get_tender(c)));
	json_kv_uint(j, "memory", alb_unikernel_config_get_memory(c));
	json_key(j, "cpuids");
	n = config_cpuids(c, v);
	json_u32_array(j, v, n);
	json_kv_string(j, "fail_behaviour",
		       fail >= 0 && fail <= ALB_FAIL_RESTART_ON ? fail_names[fail] : "?");
	json_key(j, "exit_codes");
	n = config_exit_codes(c, v);
	json_u32_array(j, v, n);
	json_kv_uint(j, "startup", alb_unikernel_config_get_startup(c));
	json_kv_uint(j, "image_size", alb_unikernel_config_get_image_size(c));
	json_kv_bool(j, "compressed", alb_unikernel_config_get_image_compressed(c));
	json_key(j, "digest");
	if (alb_unikernel_config_get_digest(c, digest) == 0) {
		format_hex(hex, digest, 32);
		json_string(j, hex);
	} else {
		json_null(j);
	}
	json_key(j, "blocks");
	json_array_open(j);
	n = alb_unikernel_config_get_block_count(c);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t sector_size = alb_unikernel_config_get_block_sector_size(c, i);
		json_object_open(j);
		json_kv_string(j, "name", alb_unikernel_config_get_block_name(c, i));
		json_kv_string(j, "host", alb_unikernel_config_get_block_host(c, i));
		json_kv_uint(j, "sector_size", sector_size ? sector_size : 512);
		json_object_close(j);
	}
	json_array_close(j);
	json_key(j, "nets");
	json_array_open(j);
	n = alb_unikernel_config_get_net_count(c);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t m[6];
		char mac[18];
		json_object_open(j);
		json_kv_string(j, "name", alb_unikernel_config_get_net_name(c, i));
		json_kv_string(j, "bridge", alb_unikernel_config_get_net_bridge(c, i));
		json_key(j, "mac"); /* null: derived from the unikernel's name */
		if (alb_unikernel_config_get_net_mac(c, i, m) == 0) {
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
				 m[2], m[3], m[4], m[5]);
			json_string(j, mac);
		} else {
			json_null(j);
		}
		json_object_close(j);
	}
	json_array_close(j);
	json_key(j, "arguments");
	json_array_open(j);
	n = alb_unikernel_config_get_argument_count(c);
	for (uint32_t i = 0; i < n; i++)
		json_string(j, alb_unikernel_config_get_argument(c, i));
	json_array_close(j);
	json_object_close(j);
}

static void json_exit(struct json *j, const char *key, const struct alb_exit *e)
{
	json_key(j, key);
	if (!e->kind) {
		json_null(j);
		return;
	}
	json_object_open(j);
	json_kv_uint(j, e->kind == ALB_EXIT_CODE ? "code" : "signal", e->value);
	json_object_close(j);
}

static void json_policy(struct json *j, const alb_policy *p)
{
	uint32_t v[ALB_CPUIDS_MAX], n;

	json_object_open(j);
	json_kv_uint(j, "unikernels", alb_policy_get_unikernels(p));
	json_kv_uint(j, "memory", alb_policy_get_memory(p));
	json_key(j, "block");
	if (alb_policy_has_block(p))
		json_uint(j, alb_policy_get_block(p));
	else
		json_null(j);
	json_key(j, "cpuids");
	n = policy_cpuids(p, v);
	json_u32_array(j, v, n);
	json_key(j, "bridges");
	json_array_open(j);
	n = alb_policy_get_bridge_count(p);
	for (uint32_t i = 0; i < n; i++)
		json_string(j, alb_policy_get_bridge(p, i));
	json_array_close(j);
	json_key(j, "ports");
	uint32_t first, last;
	if (alb_policy_get_ports(p, &first, &last)) {
		json_object_open(j);
		json_kv_uint(j, "first", first);
		json_kv_uint(j, "last", last);
		json_object_close(j);
	} else
		json_null(j);
	json_key(j, "prefixes");
	json_array_open(j);
	n = alb_policy_get_prefix_count(p);
	for (uint32_t i = 0; i < n; i++) {
		json_object_open(j);
		json_kv_string(j, "bridge", alb_policy_get_prefix_bridge(p, i));
		json_kv_string(j, "prefix", alb_policy_get_prefix(p, i));
		json_object_close(j);
	}
	json_array_close(j);
	json_object_close(j);
}

static void print_json(const struct alb_reply *reply)
{
	struct json j;

	/* Lists are a top-level array; anything else an object. */
	bool list = reply->kind != ALB_REPLY_STRING && reply->kind != ALB_REPLY_EMPTY;

	json_begin(&j, stdout);
	if (!list)
		json_object_open(&j);
	switch (reply->kind) {
	case ALB_REPLY_STRING:
		json_kv_string(&j, "message", reply->string);
		break;
	case ALB_REPLY_UNIKERNELS:
		json_array_open(&j);
		for (uint32_t i = 0; i < reply->n_unikernels; i++) {
			const struct alb_unikernel_info *u = &reply->unikernels[i];
			json_object_open(&j);
			json_name(&j, "name", u->name);
			json_kv_string(&j, "state", alb_unikernel_state_to_string(u->state));
			/* null for "none", as everywhere: not running */
			json_key(&j, "pid");
			if (u->pid)
				json_uint(&j, u->pid);
			else
				json_null(&j);
			json_key(&j, "started");
			if (u->started_us)
				json_uint(&j, u->started_us);
			else
				json_null(&j);
			json_kv_uint(&j, "restarts", u->restarts);
			json_exit(&j, "last_exit", &u->last_exit);
			json_kv_string(&j, "failure", u->failure); /* null unless failed */
			uint32_t cpuids[ALB_CPUIDS_MAX], n_cpuids;
			uint8_t digest[32];
			json_key(&j, "digest");
			if (alb_unikernel_config_get_digest(u->config, digest) == 0) {
				char hex[65];
				format_hex(hex, digest, 32);
				json_string(&j, hex);
			} else {
				json_null(&j);
			}
			json_kv_uint(&j, "memory", alb_unikernel_config_get_memory(u->config));
			json_key(&j, "cpuids");
			n_cpuids = config_cpuids(u->config, cpuids);
			json_u32_array(&j, cpuids, n_cpuids);
			json_key(&j, "taps");
			json_strv(&j, u->taps, u->n_taps);
			json_key(&j, "block_files");
			json_strv(&j, u->block_files, u->n_block_files);
			json_key(&j, "config");
			json_config(&j, u->config);
			json_object_close(&j);
		}
		json_array_close(&j);
		break;
	case ALB_REPLY_POLICIES:
		json_array_open(&j);
		for (uint32_t i = 0; i < reply->n_policies; i++) {
			json_object_open(&j);
			json_name(&j, "path", reply->policies[i].path);
			json_key(&j, "policy");
			json_policy(&j, reply->policies[i].policy);
			json_object_close(&j);
		}
		json_array_close(&j);
		break;
	case ALB_REPLY_BLOCKS:
		json_array_open(&j);
		for (uint32_t i = 0; i < reply->n_blocks; i++) {
			const struct alb_block_info *b = &reply->blocks[i];
			json_object_open(&j);
			json_name(&j, "name", b->name);
			json_kv_uint(&j, "size", b->size_mb);
			json_kv_uint(&j, "sector_size", b->sector_size ? b->sector_size : 512);
			json_name(&j, "used_by", b->used_by);
			json_object_close(&j);
		}
		json_array_close(&j);
		break;
	case ALB_REPLY_NAMES:
		json_array_open(&j);
		for (uint32_t i = 0; i < reply->n_names; i++) {
			_cleanup_free_ char *s = alb_name_to_string(reply->names[i]);
			json_string(&j, s);
		}
		json_array_close(&j);
		break;
	case ALB_REPLY_SERVICES:
	case ALB_REPLY_COLLECTED:
		cli_json_services(&j, reply);
		break;
	case ALB_REPLY_TENDERS:
		json_array_open(&j);
		for (uint32_t i = 0; i < reply->n_tenders; i++) {
			const struct alb_tender_info *t = &reply->tenders[i];
			json_object_open(&j);
			json_kv_string(&j, "name", t->name);
			json_kv_string(&j, "path", t->path);
			json_kv_string(&j, "target", tender_name(t->target));
			json_kv_string(&j, "version", t->version);
			json_kv_uint(&j, "abi", t->abi);
			json_kv_bool(&j, "usable", !t->unusable);
			json_kv_string(&j, "unusable", t->unusable); /* null when usable */
			json_object_close(&j);
		}
		json_array_close(&j);
		break;
	default: /* empty */
		break;
	}
	if (!list)
		json_object_close(&j);
	json_end(&j);
}

static int print_unikernels(const struct alb_reply *reply)
{
	static const char *const headers[] = {"NAME",	"STATE",   "PID",      "CPUS",
					      "MEMORY", "STARTED", "RESTARTS", "LAST EXIT",
					      "DIGEST", "TAPS"};
	_cleanup_(table_freep) struct table *t = table_new(ELEMENTSOF(headers), headers);

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < reply->n_unikernels; i++) {
		const struct alb_unikernel_info *u = &reply->unikernels[i];
		const alb_unikernel_config *c = u->config;
		uint32_t cpuids[ALB_CPUIDS_MAX], n_cpuids = config_cpuids(c, cpuids);
		uint8_t bytes[32];
		bool has_digest = alb_unikernel_config_get_digest(c, bytes) == 0;
		_cleanup_free_ char *name = alb_name_to_string(u->name);
		_cleanup_free_ char *cpus = format_u32_list(cpuids, n_cpuids);
		_cleanup_free_ char *taps = format_strv(u->taps, u->n_taps, ",");
		char pid[16], memory[32], started[32], restarts[16], last_exit[32], digest[65];

		snprintf(pid, sizeof(pid), "%" PRIu32, u->pid);
		snprintf(memory, sizeof(memory), "%" PRIu64 " MB",
			 alb_unikernel_config_get_memory(c));
		format_time(started, sizeof(started), u->started_us);
		snprintf(restarts, sizeof(restarts), "%" PRIu32, u->restarts);
		snprintf(last_exit, sizeof(last_exit), "%s %" PRIu32,
			 u->last_exit.kind == ALB_EXIT_SIGNAL ? "signal" : "code",
			 u->last_exit.value);
		if (has_digest) {
			format_hex(digest, bytes, 32);
			digest[12] = '\0';
		}
		const char *row[] = {name,
				     alb_unikernel_state_to_string(u->state),
				     u->pid ? pid : NULL,
				     cpus,
				     memory,
				     started,
				     restarts,
				     u->last_exit.kind ? last_exit : NULL,
				     has_digest ? digest : NULL,
				     taps};
		if (!name || !cpus || table_add_row(t, row) < 0)
			return -ENOMEM;
	}
	table_print(t, stdout);
	/* Why those that failed did: a reason is too long for a column. */
	for (uint32_t i = 0; i < reply->n_unikernels; i++) {
		const struct alb_unikernel_info *u = &reply->unikernels[i];
		_cleanup_free_ char *name = u->failure ? alb_name_to_string(u->name) : NULL;
		if (u->failure)
			printf("%s failed: %s\n", name ? name : "?", u->failure);
	}
	return 0;
}

static int print_policies(const struct alb_reply *reply)
{
	static const char *const headers[] = {"PATH", "UNIKERNELS", "MEMORY", "BLOCK",
					      "CPUS", "BRIDGES",    "PORTS",  "PREFIXES"};
	_cleanup_(table_freep) struct table *t = table_new(ELEMENTSOF(headers), headers);

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < reply->n_policies; i++) {
		const alb_policy *p = reply->policies[i].policy;
		_cleanup_free_ char *path = alb_name_to_string(reply->policies[i].path);
		uint32_t cpuids[ALB_CPUIDS_MAX], n_cpuids = policy_cpuids(p, cpuids);
		_cleanup_free_ char *cpus = format_u32_list(cpuids, n_cpuids);
		_cleanup_free_ char *bridges = format_bridges(p);
		_cleanup_free_ char *prefixes = format_prefixes(p);
		char count[16], memory[32], block[32], ports[16];
		uint32_t first, last;

		snprintf(count, sizeof(count), "%" PRIu32, alb_policy_get_unikernels(p));
		snprintf(memory, sizeof(memory), "%" PRIu64 " MB", alb_policy_get_memory(p));
		if (alb_policy_has_block(p))
			snprintf(block, sizeof(block), "%" PRIu64 " MB", alb_policy_get_block(p));
		else
			snprintf(block, sizeof(block), "none");
		if (alb_policy_get_ports(p, &first, &last))
			snprintf(ports, sizeof(ports), "%" PRIu32 "-%" PRIu32, first, last);
		else
			snprintf(ports, sizeof(ports), "none");
		const char *row[] = {path, count, memory, block, cpus, bridges, ports, prefixes};
		if (!path || !cpus || (alb_policy_get_prefix_count(p) && !prefixes) ||
		    table_add_row(t, row) < 0)
			return -ENOMEM;
	}
	table_print(t, stdout);
	return 0;
}

static int print_blocks(const struct alb_reply *reply)
{
	static const char *const headers[] = {"NAME", "SIZE", "SECTOR SIZE", "USED BY"};
	_cleanup_(table_freep) struct table *t = table_new(ELEMENTSOF(headers), headers);

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < reply->n_blocks; i++) {
		const struct alb_block_info *b = &reply->blocks[i];
		_cleanup_free_ char *name = alb_name_to_string(b->name);
		_cleanup_free_ char *used = b->used_by ? alb_name_to_string(b->used_by) : NULL;
		char size[32], sector[16];

		snprintf(size, sizeof(size), "%" PRIu64 " MB", b->size_mb);
		snprintf(sector, sizeof(sector), "%" PRIu32, b->sector_size ? b->sector_size : 512);
		const char *row[] = {name, size, sector, used};
		if (!name || (b->used_by && !used) || table_add_row(t, row) < 0)
			return -ENOMEM;
	}
	table_print(t, stdout);
	return 0;
}

/* The tenders; without their paths (no PATH column) for a remote client, which gets none. */
static int print_tenders(const struct alb_reply *reply, bool remote)
{
	static const char *const headers[] = {"NAME", "TARGET", "ABI", "VERSION", "USABLE", "PATH"};
	_cleanup_(table_freep) struct table *t =
	    table_new(ELEMENTSOF(headers) - (remote ? 1 : 0), headers);

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < reply->n_tenders; i++) {
		const struct alb_tender_info *x = &reply->tenders[i];
		char abi[16];

		snprintf(abi, sizeof(abi), "%" PRIu32, x->abi);
		const char *row[] = {x->name,
				     tender_name(x->target),
				     abi,
				     x->version[0] ? x->version : NULL,
				     x->unusable ? "no" : "yes",
				     x->path};
		if (table_add_row(t, row) < 0)
			return -ENOMEM;
	}
	table_print(t, stdout);
	/* Why a tender cannot run here, after the table (the reason is a sentence). */
	for (uint32_t i = 0; i < reply->n_tenders; i++)
		if (reply->tenders[i].unusable)
			printf("%s\n", reply->tenders[i].unusable);
	return 0;
}

/* Prints a success reply; EXIT_OK or EXIT_FAILED (out of memory). */
static int print_reply(struct cli *cli, const alb_msg *msg)
{
	const struct alb_reply *reply = &msg->reply;
	int r = 0;

	if (cli->json) {
		print_json(reply);
		return EXIT_OK;
	}
	switch (reply->kind) {
	case ALB_REPLY_STRING:
		puts(reply->string);
		break;
	case ALB_REPLY_UNIKERNELS:
		r = print_unikernels(reply);
		break;
	case ALB_REPLY_POLICIES:
		r = print_policies(reply);
		break;
	case ALB_REPLY_BLOCKS:
		r = print_blocks(reply);
		break;
	case ALB_REPLY_TENDERS:
		r = print_tenders(reply, cli->destination != NULL);
		break;
	case ALB_REPLY_SERVICES:
	case ALB_REPLY_COLLECTED:
		cli_print_services(reply);
		break;
	case ALB_REPLY_NAMES:
		for (uint32_t i = 0; i < reply->n_names; i++) {
			_cleanup_free_ char *s = alb_name_to_string(reply->names[i]);
			puts(s ? s : "?");
		}
		break;
	default:
		break;
	}
	if (r < 0)
		return cli_error(EXIT_FAILED, "%s: %s", cli->command, strerror(-r));
	return EXIT_OK;
}

/* Checks that a reply is of one of the kinds expected (the second may be 0). */
static int check_reply_kind(struct cli *cli, const alb_msg *reply, int kind, int kind2)
{
	if (reply->reply.kind == kind || (kind2 && reply->reply.kind == kind2))
		return EXIT_OK;
	return cli_error(EXIT_PROTOCOL, "%s: unexpected reply of kind %d", cli->command,
			 reply->reply.kind);
}

/* ---- shared steps -------------------------------------------------------- */

/*
 * Reads the image at path (at most ALB_IMAGE_SIZE_MAX bytes), as alb_read_file() does
 * and with its messages, into a buffer aligned for huge pages: an image of tens of MB
 * read into fresh 4 kB pages costs a page fault each, more than the read and the hash
 * together on a virtual machine. *ret_buf is freed with free().
 */
#define IMAGE_ALIGN (2u << 20)
static int read_image(alb_ctx *ctx, const char *path, uint8_t **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return alb_error(ctx, errno, "Failed to open '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return alb_error(ctx, errno, "Failed to stat '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return alb_error(ctx, EINVAL, "'%s' is not a regular file", path);
	if ((uint64_t)st.st_size > ALB_IMAGE_SIZE_MAX)
		return alb_error(ctx, EFBIG, "'%s' is larger than %" PRIu64 " bytes", path,
				 ALB_IMAGE_SIZE_MAX);
	size_t size = (size_t)st.st_size;
	/* One byte more: a file that grew is seen. */
	size_t cap = (size + 1 + IMAGE_ALIGN - 1) / IMAGE_ALIGN * IMAGE_ALIGN;
	_cleanup_free_ uint8_t *buf = NULL;
	if (size + 1 >= IMAGE_ALIGN) {
		buf = aligned_alloc(IMAGE_ALIGN, cap);
		if (buf)
			(void)madvise(buf, cap, MADV_HUGEPAGE); /* a hint: fine without */
	} else {
		buf = malloc(size + 1);
	}
	if (!buf)
		return -ENOMEM;
	ssize_t n = alb_read_full(fd, buf, size + 1);
	if (n < 0)
		return alb_error(ctx, (int)-n, "Failed to read '%s': %s", path, strerror((int)-n));
	if ((size_t)n > size)
		return alb_error(ctx, EBUSY, "'%s' grew while it was read", path);
	*ret_len = (size_t)n;
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

/* SHA-256 through nettle: hashing an image must not load GnuTLS (a local create). */
static void image_sha256(const uint8_t *image, size_t len, uint8_t digest[32])
{
	struct sha256_ctx h;
	sha256_init(&h);
	sha256_update(&h, len, image);
	sha256_digest(&h, SHA256_DIGEST_SIZE, digest);
}

/* Parses the options of a command that has none of its own. */
static int parse_no_options(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option options[] = {CLI_COMMON_OPTIONS, {0}};
	int c;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		int r = cli_common_option(cli, c, cmd);
		if (r != -2)
			return r >= 0 ? r : EXIT_USAGE;
	}
	return -1;
}

static int check_arg_count(const struct cli_command *cmd, int n, int min, int max)
{
	if (n < min)
		return cli_usage_missing(cmd, n);
	if (n > max)
		return cli_usage_error(cmd, "too many arguments");
	return -1;
}

/* Connects, sends msg, prints the reply: the whole of most commands. */
static int request_and_print(struct cli *cli, alb_msg *msg, int kind, int kind2)
{
	_cleanup_(alb_client_freep) alb_client *client = NULL;
	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	int r;

	r = cli_connect(cli, msg, &client);
	if (r != EXIT_OK || !client)
		return r;
	r = alb_client_request(client, msg, &reply);
	if (r < 0)
		return cli_client_error(cli, client, r);
	r = check_reply_kind(cli, reply, kind, kind2);
	if (r != EXIT_OK)
		return r;
	return print_reply(cli, reply);
}

/*
 * A command of one name argument (kind as cli_parse_name(); default_name
 * when optional and absent) and no options of its own.
 */
static int simple_command(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
			  int command, int kind, const char *default_name, int reply_kind,
			  int reply_kind2)
{
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	int r;

	if ((r = parse_no_options(cli, cmd, argc, argv)) >= 0)
		return r;
	if ((r = check_arg_count(cmd, argc - optind, default_name ? 0 : 1, 1)) >= 0)
		return r;
	r = cli_parse_name(cli, optind < argc ? argv[optind] : default_name, kind, &name);
	if (r != 0)
		return r;
	msg = cli_command_new(command, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	return request_and_print(cli, msg, reply_kind, reply_kind2);
}

static int progress_start(struct cli *cli, struct progress *p, const char *what, const char *name,
			  uint64_t total)
{
	static char label[128];

	snprintf(label, sizeof(label), "%s %s", what, name);
	progress_init(p, label, total);
	return 0;
}

/* Opens a regular file to send: its fd and size. EXIT_OK or EXIT_FAILED. */
static int open_input(struct cli *cli, const char *path, int *ret_fd, uint64_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return cli_error(EXIT_FAILED, "%s: cannot open '%s': %s", cli->command, path,
				 strerror(errno));
	if (fstat(fd, &st) < 0)
		return cli_error(EXIT_FAILED, "%s: cannot stat '%s': %s", cli->command, path,
				 strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cli_error(EXIT_FAILED, "%s: '%s' is not a regular file", cli->command, path);
	*ret_size = (uint64_t)st.st_size;
	*ret_fd = TAKE_FD(fd);
	return EXIT_OK;
}

/* Sends msg with the stream of size bytes from fd (or buf), then prints the reply. */
static int upload_and_print(struct cli *cli, alb_msg *msg, const uint8_t *buf, int fd,
			    uint64_t size, const char *what)
{
	_cleanup_(alb_client_freep) alb_client *client = NULL;
	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	_cleanup_free_ char *name = alb_name_to_string(msg->name);
	struct progress p;
	int r;

	r = cli_connect(cli, msg, &client);
	if (r != EXIT_OK || !client)
		return r;
	progress_start(cli, &p, what, name ? name : "", size);
	if (buf || fd < 0)
		r = alb_client_request_upload(client, msg, buf, size, progress_update, &p, &reply);
	else
		r = alb_client_request_upload_fd(client, msg, fd, size, progress_update, &p,
						 &reply);
	progress_finish(&p);
	if (r < 0) {
		/* A file that could not be read is a local failure. */
		if (r == -EIO || strstr(alb_ctx_last_error(cli->ctx), "Failed to read the data"))
			cli->local_error = true;
		return cli_client_error(cli, client, r);
	}
	return print_reply(cli, reply);
}

/* ---- output files and downloads ------------------------------------------ */

/* Where downloaded bytes go: stdout, or a temporary file renamed to path at the end. */
struct output {
	const char *path; /* NULL: stdout */
	char *tmp;
	int fd;
};

static int output_open(struct cli *cli, const char *path, struct output *o)
{
	*o = (struct output){.fd = STDOUT_FILENO};
	if (!path || streq(path, "-"))
		return EXIT_OK;

	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return cli_error(EXIT_FAILED, "out of memory");
	const char *dir = dirname(copy);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!base[0])
		return cli_error(EXIT_USAGE, "'%s' is not a file name", path);
	if (asprintf(&o->tmp, "%s/.%s.XXXXXX", dir, base) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0) {
		int e = errno;
		free(o->tmp);
		o->tmp = NULL;
		return cli_error(EXIT_FAILED, "Failed to create a file in '%s': %s", dir,
				 strerror(e));
	}
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(o->fd, 0666 & ~mask) < 0) {
		/* keep mkostemp's 0600 */
	}
	o->path = path;
	return EXIT_OK;
}

static void output_abort(struct output *o)
{
	if (o->tmp) {
		unlink(o->tmp);
		close(o->fd);
		free(o->tmp);
		o->tmp = NULL;
	}
}

static int output_commit(struct cli *cli, struct output *o)
{
	if (!o->tmp) {
		if (fflush(stdout) != 0)
			return cli_error(EXIT_FAILED, "Failed to write to stdout: %s",
					 strerror(errno));
		return EXIT_OK;
	}
	if (fsync(o->fd) < 0 || close(o->fd) < 0) {
		int e = errno;
		o->fd = -1;
		unlink(o->tmp);
		free(o->tmp);
		o->tmp = NULL;
		return cli_error(EXIT_FAILED, "Failed to write '%s': %s", o->path, strerror(e));
	}
	if (rename(o->tmp, o->path) < 0) {
		int e = errno;
		unlink(o->tmp);
		free(o->tmp);
		o->tmp = NULL;
		return cli_error(EXIT_FAILED, "Failed to rename the file to '%s': %s", o->path,
				 strerror(e));
	}
	free(o->tmp);
	o->tmp = NULL;
	return EXIT_OK;
}

/* The sink of a download: inflates if asked, hashes if asked, writes to fd. */
struct sink {
	struct cli *cli;
	int fd;
	alb_zstream *z;
};

static int sink_write(const uint8_t *buf, size_t len, void *userdata)
{
	struct sink *s = userdata;
	int r = alb_write_full(s->fd, buf, len);

	if (r < 0) {
		s->cli->local_error = true;
		return alb_error(s->cli->ctx, -r, "Failed to write the data: %s", strerror(-r));
	}
	return 0;
}

static int sink_init(struct cli *cli, struct sink *s, int fd, bool inflate, bool hash)
{
	*s = (struct sink){.cli = cli, .fd = fd};
	return alb_zstream_new(inflate ? ALB_ZSTREAM_INFLATE : ALB_ZSTREAM_COPY, UINT64_MAX, hash,
			       sink_write, s, &s->z);
}

static void sink_done(struct sink *s, uint8_t digest[32])
{
	if (digest)
		(void)alb_zstream_digest(s->z, digest);
	s->z = alb_zstream_free(s->z);
}

/* Words a failure of the stream; a failure of the sink has its message. */
static int sink_error(struct sink *s, int r)
{
	switch (alb_zstream_fault(s->z)) {
	case ALB_ZSTREAM_FAULT_CORRUPT: {
		const char *why = alb_zstream_zlib_message(s->z);
		return alb_error(s->cli->ctx, EBADMSG, "the zlib stream is corrupt: %s",
				 why ? why : "error");
	}
	case ALB_ZSTREAM_FAULT_TRAILING:
		return alb_error(s->cli->ctx, EBADMSG, "data after the end of the zlib stream");
	case ALB_ZSTREAM_FAULT_TRUNCATED:
		return alb_error(s->cli->ctx, EBADMSG, "the zlib stream ends early");
	default:
		return r;
	}
}

static int sink_chunk(const uint8_t *buf, size_t len, void *userdata)
{
	struct sink *s = userdata;
	int r = alb_zstream_write(s->z, buf, len);

	return r < 0 ? sink_error(s, r) : 0;
}

static int sink_finish(struct sink *s)
{
	int r = alb_zstream_finish(s->z);

	return r < 0 ? sink_error(s, r) : 0;
}

/* ---- unikernels ---------------------------------------------------------- */

/* --net name:bridge[@mac] (or name[@mac]: the bridge of the same name). */
static int parse_net(struct cli *cli, alb_unikernel_config *config, const char *arg)
{
	_cleanup_free_ char *s = strdup(arg);
	uint8_t mac[6];
	bool has_mac = false;
	int r;

	if (!s)
		return cli_error(EXIT_FAILED, "out of memory");
	char *at = strchr(s, '@');
	if (at) {
		*at = '\0';
		if (cli_parse_mac(at + 1, mac) != 0)
			return EXIT_USAGE;
		has_mac = true;
	}
	char *colon = strchr(s, ':');
	if (colon)
		*colon = '\0';
	const char *bridge = colon ? colon + 1 : s;
	if (alb_device_name_validate(cli->ctx, s) < 0 ||
	    alb_bridge_name_validate(cli->ctx, bridge) < 0)
		return cli_error(EXIT_USAGE, "invalid --net '%s': %s", arg,
				 alb_ctx_last_error(cli->ctx));
	r = alb_unikernel_config_add_net(config, s, bridge, has_mac ? mac : NULL);
	if (r < 0)
		return cli_error(EXIT_USAGE, "invalid --net '%s': %s", arg,
				 r == -EEXIST ? "the device name is used twice"
					      : alb_ctx_last_error(cli->ctx));
	return 0;
}

/* --block name[:host][@sector-size]. */
static int parse_block(struct cli *cli, alb_unikernel_config *config, const char *arg)
{
	_cleanup_free_ char *s = strdup(arg);
	uint32_t sector = 0;
	int r;

	if (!s)
		return cli_error(EXIT_FAILED, "out of memory");
	char *at = strchr(s, '@');
	if (at) {
		*at = '\0';
		if (cli_parse_u32("sector size", at + 1, 512, ALB_SECTOR_SIZE_MAX, &sector) != 0)
			return EXIT_USAGE;
	}
	char *colon = strchr(s, ':');
	if (colon)
		*colon = '\0';
	const char *host = colon ? colon + 1 : s;
	if (alb_device_name_validate(cli->ctx, s) < 0 || alb_label_validate(cli->ctx, host) < 0)
		return cli_error(EXIT_USAGE, "invalid --block '%s': %s", arg,
				 alb_ctx_last_error(cli->ctx));
	r = alb_unikernel_config_add_block(config, s, host, sector);
	if (r < 0)
		return cli_error(EXIT_USAGE, "invalid --block '%s': %s", arg,
				 r == -EEXIST ? "the device name is used twice"
					      : alb_ctx_last_error(cli->ctx));
	return 0;
}

static int parse_tender(const char *s, int *ret)
{
	if (streq(s, "hvt"))
		*ret = ALB_TENDER_HVT;
	else if (streq(s, "spt"))
		*ret = ALB_TENDER_SPT;
	else
		return cli_error(EXIT_USAGE, "invalid tender '%s': expected hvt or spt", s);
	return 0;
}

static int add_argument(struct cli *cli, alb_unikernel_config *config, const char *arg)
{
	int r = alb_unikernel_config_add_argument(config, arg);

	if (r < 0)
		return cli_error(EXIT_USAGE, "invalid --arg: %s", alb_ctx_last_error(cli->ctx));
	return 0;
}

/* Picks the tender from the image's ABI note and checks the devices against its manifest. */
static int check_image(struct cli *cli, alb_unikernel_config *config, const char *path,
		       const uint8_t *image, size_t len, int tender)
{
	_cleanup_(alb_manifest_freep) alb_manifest *m = NULL;
	int r;

	r = alb_manifest_read(cli->ctx, image, len, &m);
	if (r < 0) {
		if (tender)
			return alb_unikernel_config_set_tender(config, tender) < 0 ? EXIT_USAGE : 0;
		return cli_error(EXIT_FAILED,
				 "'%s' is not a Solo5 image (%s); give --tender to send it anyway",
				 path, alb_ctx_last_error(cli->ctx));
	}
	if (!tender) {
		int target = alb_manifest_get_target(m);
		if (target == ALB_SOLO5_HVT)
			tender = ALB_TENDER_HVT;
		else if (target == ALB_SOLO5_SPT)
			tender = ALB_TENDER_SPT;
		else
			return cli_error(
			    EXIT_FAILED,
			    "'%s' is a Solo5 image for %s, which albatross does not run", path,
			    alb_manifest_get_target_name(m));
	}
	alb_unikernel_config_set_tender(config, tender);
	r = alb_manifest_check_config(cli->ctx, m, config);
	if (r < 0)
		return cli_error(EXIT_FAILED, "'%s' does not match the configuration: %s", path,
				 alb_ctx_last_error(cli->ctx));
	return 0;
}

/* ---- what create and service deploy share ---- */

int cli_create_option(struct cli *cli, int c, int base, alb_unikernel_config *config,
		      struct cli_create_opts *o)
{
	uint64_t u64;
	uint32_t u32;
	int r;

	switch (c - base) {
	case CLI_CREATE_MEM:
		if (cli_parse_u64("memory", optarg, 1, ALB_UNIKERNEL_MEMORY_MAX, &u64))
			return EXIT_USAGE;
		alb_unikernel_config_set_memory(config, u64);
		return 0;
	case CLI_CREATE_CPU:
		if (cli_parse_u32("CPU id", optarg, 0, ALB_CPUID_LIMIT - 1, &u32))
			return EXIT_USAGE;
		if (alb_unikernel_config_add_cpuid(config, u32) < 0)
			return cli_error(EXIT_USAGE, "too many CPU ids (at most %u)",
					 ALB_CPUIDS_MAX);
		return 0;
	case CLI_CREATE_BLOCK:
		return (r = parse_block(cli, config, optarg)) != 0 ? r : 0;
	case CLI_CREATE_RESTART:
		o->restart = true;
		return 0;
	case CLI_CREATE_EXIT_CODE:
		if (cli_parse_u32("exit code", optarg, 0, 255, &u32))
			return EXIT_USAGE;
		if (alb_unikernel_config_add_exit_code(config, u32) < 0)
			return cli_error(EXIT_FAILED, "out of memory");
		o->n_codes++;
		return 0;
	case CLI_CREATE_STARTUP:
		if (cli_parse_u32("startup priority", optarg, 0, ALB_STARTUP_MAX, &u32))
			return EXIT_USAGE;
		alb_unikernel_config_set_startup(config, u32);
		return 0;
	case CLI_CREATE_COMPRESS:
		o->compress = true;
		return 0;
	case CLI_CREATE_TENDER:
		return parse_tender(optarg, &o->tender) ? EXIT_USAGE : 0;
	default:
		return -1;
	}
}

int cli_create_finish(struct cli *cli, alb_unikernel_config *config,
		      const struct cli_create_opts *o)
{
	alb_unikernel_config_set_fail_behaviour(config, o->n_codes > 0 ? ALB_FAIL_RESTART_ON
							: o->restart   ? ALB_FAIL_RESTART
								       : ALB_FAIL_QUIT);
	if (alb_unikernel_config_get_cpuid_count(config) == 0)
		alb_unikernel_config_add_cpuid(config, 0);
	if (alb_unikernel_config_validate(cli->ctx, config) < 0)
		return cli_error(EXIT_USAGE, "%s", alb_ctx_last_error(cli->ctx));
	return 0;
}

int cli_load_image(struct cli *cli, alb_unikernel_config *config, alb_unikernel_config *check,
		   const char *path, const struct cli_create_opts *o, uint8_t **ret_data,
		   size_t *ret_len)
{
	_cleanup_free_ uint8_t *image = NULL, *compressed = NULL;
	size_t len;
	int r;

	/* The image: its ABI note and manifest (against check, the configuration as it
	 * will run), then compressed if asked. */
	r = read_image(cli->ctx, path, &image, &len);
	if (r < 0)
		return cli_error(EXIT_FAILED, "%s: %s", cli->command, alb_ctx_last_error(cli->ctx));
	if (!check)
		check = config;
	if ((r = check_image(cli, check, path, image, len, o->tender)) != 0)
		return r;
	alb_unikernel_config_set_tender(config, alb_unikernel_config_get_tender(check));
	/* The digest binds the image to the command (albatrossd checks it; a certificate
	 * carrying the command is good for this image only). */
	uint8_t digest[32];
	image_sha256(image, len, digest);
	alb_unikernel_config_set_digest(config, digest);
	if (o->compress) {
		if (alb_zlib_deflate(image, len, &compressed, &len) < 0)
			return cli_error(EXIT_FAILED, "Failed to compress '%s'", path);
		free(image);
		image = TAKE_PTR(compressed);
	}
	if (alb_unikernel_config_set_image(config, len, o->compress) < 0)
		return cli_error(EXIT_FAILED, "'%s' is too large: %zu bytes (at most %" PRIu64 ")",
				 path, len, ALB_IMAGE_SIZE_MAX);
	*ret_data = TAKE_PTR(image);
	*ret_len = len;
	return 0;
}

static int cmd_create(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_NET = OPT_COMMAND_BASE, O_ARG, O_FORCE, O_CREATE };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    CLI_CREATE_OPTIONS(O_CREATE),
	    {"net", required_argument, NULL, O_NET},
	    {"arg", required_argument, NULL, O_ARG},
	    {"force", no_argument, NULL, O_FORCE},
	    {0},
	};
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *config = NULL;
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	struct cli_create_opts o = {0};
	bool force = false;
	int c, r;
	size_t len;

	if (alb_unikernel_config_new(cli->ctx, &config) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r == -2)
			continue;
		if (r >= 0)
			return r;
		if ((r = cli_create_option(cli, c, O_CREATE, config, &o)) >= 0) {
			if (r != 0)
				return r;
			continue;
		}
		switch (c) {
		case O_NET:
			if ((r = parse_net(cli, config, optarg)) != 0)
				return r;
			break;
		case O_ARG:
			if ((r = add_argument(cli, config, optarg)) != 0)
				return r;
			break;
		case O_FORCE:
			force = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if ((r = check_arg_count(cmd, argc - optind, 2, 2)) >= 0)
		return r;
	if ((r = cli_parse_name(cli, argv[optind], 'n', &name)) != 0)
		return r;
	if ((r = cli_create_finish(cli, config, &o)) != 0 ||
	    (r = cli_load_image(cli, config, NULL, argv[optind + 1], &o, &data, &len)) != 0)
		return r;

	msg = cli_command_new(force ? ALB_CMD_UNIKERNEL_FORCE_CREATE : ALB_CMD_UNIKERNEL_CREATE,
			      name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	msg->cmd.config = TAKE_PTR(config);
	return upload_and_print(cli, msg, data, -1, len, "upload");
}

static int cmd_destroy(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return simple_command(cli, cmd, argc, argv, ALB_CMD_UNIKERNEL_DESTROY, 'n', NULL,
			      ALB_REPLY_STRING, ALB_REPLY_EMPTY);
}

static int cmd_restart(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_REPLACE = OPT_COMMAND_BASE, O_ARG };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"replace-arguments", no_argument, NULL, O_REPLACE},
	    {"arg", required_argument, NULL, O_ARG},
	    {0},
	};
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *args = NULL;
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	bool replace = false, any_arg = false;
	int c, r;

	/* A scratch configuration checks the arguments' bounds. */
	if (alb_unikernel_config_new(cli->ctx, &args) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r == -2)
			continue;
		if (r >= 0)
			return r;
		if (c == O_REPLACE) {
			replace = true;
		} else if (c == O_ARG) {
			replace = any_arg = true;
			if ((r = add_argument(cli, args, optarg)) != 0)
				return r;
		} else {
			return EXIT_USAGE;
		}
	}
	if ((r = check_arg_count(cmd, argc - optind, 1, 1)) >= 0)
		return r;
	if ((r = cli_parse_name(cli, argv[optind], 'n', &name)) != 0)
		return r;
	/* No argument at all is said explicitly: --replace-arguments alone is more likely a
	 * forgotten --arg than a wish to run without any. A sole --arg '' clears them. */
	if (replace && !any_arg)
		return cli_usage_error(cmd, "--replace-arguments without --arg: pass --arg '' to "
					    "clear the arguments explicitly");
	if (alb_unikernel_config_get_argument_count(args) == 1 &&
	    alb_unikernel_config_get_argument(args, 0)[0] == '\0') {
		alb_unikernel_config_free(args);
		if (alb_unikernel_config_new(cli->ctx, &args) < 0)
			return cli_error(EXIT_FAILED, "out of memory");
	}
	msg = cli_command_new(ALB_CMD_UNIKERNEL_RESTART, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	if (replace) {
		msg->cmd.has_argv = true;
		msg->cmd.argc = alb_unikernel_config_get_argument_count(args);
		msg->cmd.argv = config_argv(args);
		if (!msg->cmd.argv)
			return cli_error(EXIT_FAILED, "out of memory");
	}
	return request_and_print(cli, msg, ALB_REPLY_STRING, ALB_REPLY_EMPTY);
}

static int cmd_info(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return simple_command(cli, cmd, argc, argv, ALB_CMD_UNIKERNEL_INFO, 'a', ":",
			      ALB_REPLY_UNIKERNELS, 0);
}

/*
 * Receives a stream after a success reply into path (stdout if NULL),
 * inflating it if inflate, checking the SHA-256 digest if digest is set.
 */
static int download(struct cli *cli, alb_client *client, const alb_msg *msg, uint64_t expected,
		    const char *path, bool inflate, const uint8_t *digest)
{
	_cleanup_free_ char *name = alb_name_to_string(msg->name);
	struct output out;
	struct progress p;
	struct sink s;
	uint8_t got[32];
	int r;

	r = output_open(cli, path, &out);
	if (r != EXIT_OK)
		return r;
	if (sink_init(cli, &s, out.fd, inflate, digest) < 0) {
		sink_done(&s, NULL);
		output_abort(&out);
		return cli_error(EXIT_FAILED, "out of memory");
	}
	progress_start(cli, &p, "download", name ? name : "",
		       expected == UINT64_MAX ? 0 : expected);
	r = alb_client_download(client, msg->seq, expected, sink_chunk, &s, progress_update, &p,
				NULL);
	progress_finish(&p);
	if (r >= 0)
		r = sink_finish(&s);
	uint64_t written = alb_zstream_out_bytes(s.z);
	sink_done(&s, r >= 0 && digest ? got : NULL);
	if (r < 0) {
		output_abort(&out);
		return cli_client_error(cli, client, r);
	}
	if (digest && memcmp(got, digest, 32) != 0) {
		char a[65], b[65];
		output_abort(&out);
		format_hex(a, got, 32);
		format_hex(b, digest, 32);
		return cli_error(EXIT_PROTOCOL,
				 "%s: the image's SHA-256 digest %s is not the %s announced",
				 cli->command, a, b);
	}
	r = output_commit(cli, &out);
	if (r != EXIT_OK)
		return r;
	if (!path || streq(path, "-"))
		return EXIT_OK;
	if (cli->json) {
		struct json j;
		json_begin(&j, stdout);
		json_object_open(&j);
		json_kv_string(&j, "name", name);
		json_kv_string(&j, "file", path);
		json_kv_uint(&j, "size", written);
		json_key(&j, "digest");
		if (digest) {
			char hex[65];
			format_hex(hex, digest, 32);
			json_string(&j, hex);
		} else {
			json_null(&j);
		}
		json_object_close(&j);
		json_end(&j);
	} else {
		printf("wrote %" PRIu64 " bytes to %s\n", written, path);
	}
	return EXIT_OK;
}

static int run_get(struct cli *cli, alb_msg *msg, const char *path, bool raw);
static int run_dump(struct cli *cli, alb_msg *msg, const char *path);

static int cmd_get(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_RAW = OPT_COMMAND_BASE, O_COMPRESS };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"raw", no_argument, NULL, O_RAW},
	    {"compress", no_argument, NULL, O_COMPRESS},
	    {0},
	};
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	bool raw = false, compress = false;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r == -2)
			continue;
		if (r >= 0)
			return r;
		if (c == O_RAW)
			raw = true;
		else if (c == O_COMPRESS)
			compress = true;
		else
			return EXIT_USAGE;
	}
	if ((r = check_arg_count(cmd, argc - optind, 1, 2)) >= 0)
		return r;
	if ((r = cli_parse_name(cli, argv[optind], 'n', &name)) != 0)
		return r;
	const char *path = optind + 1 < argc ? argv[optind + 1] : NULL;
	if (cli->json && (!path || streq(path, "-")))
		return cli_usage_error(cmd, "--json needs a FILE: the image goes to stdout");

	msg = cli_command_new(ALB_CMD_UNIKERNEL_GET, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	msg->cmd.compress = compress;
	return run_get(cli, msg, path, raw);
}

/* get with its message made: to path (NULL: stdout), inflated unless raw. */
static int run_get(struct cli *cli, alb_msg *msg, const char *path, bool raw)
{
	_cleanup_(alb_client_freep) alb_client *client = NULL;
	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	int r = cli_connect(cli, msg, &client);
	if (r != EXIT_OK || !client)
		return r;
	r = alb_client_request(client, msg, &reply);
	if (r < 0)
		return cli_client_error(cli, client, r);
	if ((r = check_reply_kind(cli, reply, ALB_REPLY_IMAGE, 0)) != EXIT_OK)
		return r;
	bool inflate = reply->reply.compressed && !raw;
	return download(cli, client, msg, reply->reply.image_size, path, inflate,
			inflate || !reply->reply.compressed ? reply->reply.digest : NULL);
}

/* ---- policies ------------------------------------------------------------ */

static int cmd_policy(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return simple_command(cli, cmd, argc, argv, ALB_CMD_POLICY_INFO, 'p', ":",
			      ALB_REPLY_POLICIES, 0);
}

/* --ports FIRST-LAST, or --ports PORT for FIRST-FIRST. */
static int parse_ports(alb_policy *policy, const char *s)
{
	const char *dash = strchr(s, '-');
	char first_s[8];
	uint32_t first, last;

	if (!dash) {
		if (cli_parse_u32("port", s, 1, 65535, &first))
			return EXIT_USAGE;
		last = first;
	} else {
		if ((size_t)(dash - s) >= sizeof(first_s))
			return cli_error(EXIT_USAGE,
					 "invalid --ports '%s': expected FIRST-LAST, each from 1 "
					 "to 65535",
					 s);
		memcpy(first_s, s, (size_t)(dash - s));
		first_s[dash - s] = '\0';
		if (cli_parse_u32("first port", first_s, 1, 65535, &first) ||
		    cli_parse_u32("last port", dash + 1, 1, 65535, &last))
			return EXIT_USAGE;
	}
	if (alb_policy_set_ports(policy, first, last) < 0)
		return cli_error(EXIT_USAGE,
				 "invalid --ports '%s': the first port %" PRIu32
				 " is above the last %" PRIu32,
				 s, first, last);
	return 0;
}

/* --prefix BRIDGE=A.B.C.D/N, once the bridges are known. */
static int add_prefix(struct cli *cli, alb_policy *policy, const char *s)
{
	const char *eq = strchr(s, '=');

	if (!eq)
		return cli_error(EXIT_USAGE, "invalid --prefix '%s': expected BRIDGE=A.B.C.D/N", s);
	_cleanup_free_ char *bridge = strndup(s, (size_t)(eq - s));
	if (!bridge)
		return cli_error(EXIT_FAILED, "out of memory");
	if (alb_bridge_name_validate(cli->ctx, bridge) < 0)
		return cli_error(EXIT_USAGE, "invalid --prefix '%s': %s", s,
				 alb_ctx_last_error(cli->ctx));
	if (!alb_policy_has_bridge(policy, bridge))
		return cli_error(EXIT_USAGE,
				 "invalid --prefix '%s': bridge '%s' is not one of the policy's "
				 "bridges (add --bridge %s)",
				 s, bridge, bridge);
	int r = alb_policy_add_prefix(policy, bridge, eq + 1);
	if (r == -E2BIG)
		return cli_error(EXIT_USAGE, "too many prefixes (at most %u)",
				 ALB_POLICY_PREFIXES_MAX);
	if (r < 0)
		return cli_error(EXIT_USAGE,
				 "invalid --prefix '%s': expected BRIDGE=A.B.C.D/N with N from %u "
				 "to %u and the host bits zero (e.g. br0=10.0.0.0/24)",
				 s, ALB_POLICY_PREFIX_LEN_MIN, ALB_POLICY_PREFIX_LEN_MAX);
	return 0;
}

static int cmd_add_policy(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_MEM = OPT_COMMAND_BASE, O_CPU, O_BLOCK, O_BRIDGE, O_PORTS, O_PREFIX };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"mem", required_argument, NULL, O_MEM},
	    {"cpu", required_argument, NULL, O_CPU},
	    {"block", required_argument, NULL, O_BLOCK},
	    {"bridge", required_argument, NULL, O_BRIDGE},
	    {"ports", required_argument, NULL, O_PORTS},
	    {"prefix", required_argument, NULL, O_PREFIX},
	    {0},
	};
	_cleanup_(alb_policy_freep) alb_policy *policy = NULL;
	_cleanup_(alb_name_freep) alb_name *path = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	/* --prefix is added after the loop: its bridge may come in a later --bridge. */
	const char *prefixes[ALB_POLICY_PREFIXES_MAX + 1];
	uint32_t n_prefixes = 0;
	int c, r;

	if (alb_policy_new(&policy) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		uint64_t u64;
		uint32_t u32;

		r = cli_common_option(cli, c, cmd);
		if (r == -2)
			continue;
		if (r >= 0)
			return r;
		switch (c) {
		case O_MEM:
			if (cli_parse_u64("memory", optarg, 0, ALB_POLICY_MB_MAX, &u64))
				return EXIT_USAGE;
			alb_policy_set_memory(policy, u64);
			break;
		case O_CPU:
			if (cli_parse_u32("CPU id", optarg, 0, ALB_CPUID_LIMIT - 1, &u32))
				return EXIT_USAGE;
			if (alb_policy_add_cpuid(policy, u32) < 0)
				return cli_error(EXIT_USAGE, "too many CPU ids (at most %u)",
						 ALB_CPUIDS_MAX);
			break;
		case O_BLOCK:
			if (cli_parse_u64("block size", optarg, 0, ALB_POLICY_MB_MAX, &u64))
				return EXIT_USAGE;
			alb_policy_set_block(policy, u64);
			break;
		case O_BRIDGE:
			if (alb_bridge_name_validate(cli->ctx, optarg) < 0)
				return cli_error(EXIT_USAGE, "invalid --bridge '%s': %s", optarg,
						 alb_ctx_last_error(cli->ctx));
			if (alb_policy_add_bridge(policy, optarg) < 0)
				return cli_error(EXIT_USAGE, "too many bridges (at most %u)",
						 ALB_BRIDGES_MAX);
			break;
		case O_PORTS:
			if ((r = parse_ports(policy, optarg)) != 0)
				return r;
			break;
		case O_PREFIX:
			if (n_prefixes == ELEMENTSOF(prefixes))
				return cli_error(EXIT_USAGE, "too many prefixes (at most %u)",
						 ALB_POLICY_PREFIXES_MAX);
			prefixes[n_prefixes++] = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	for (uint32_t i = 0; i < n_prefixes; i++)
		if ((r = add_prefix(cli, policy, prefixes[i])) != 0)
			return r;
	if ((r = check_arg_count(cmd, argc - optind, 2, 2)) >= 0)
		return r;
	if ((r = cli_parse_name(cli, argv[optind], 'p', &path)) != 0)
		return r;
	uint32_t count;
	if (cli_parse_u32("unikernel count", argv[optind + 1], 0, ALB_POLICY_UNIKERNELS_MAX,
			  &count))
		return EXIT_USAGE;
	alb_policy_set_unikernels(policy, count);

	msg = cli_command_new(ALB_CMD_POLICY_ADD, path);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	msg->cmd.policy = TAKE_PTR(policy);
	return request_and_print(cli, msg, ALB_REPLY_STRING, ALB_REPLY_EMPTY);
}

static int cmd_remove_policy(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return simple_command(cli, cmd, argc, argv, ALB_CMD_POLICY_REMOVE, 'p', NULL,
			      ALB_REPLY_STRING, ALB_REPLY_EMPTY);
}

/* ---- block devices ------------------------------------------------------- */

static int cmd_block(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return simple_command(cli, cmd, argc, argv, ALB_CMD_BLOCK_INFO, 'a', ":", ALB_REPLY_BLOCKS,
			      0);
}

/* Compresses the rest of fd in into a new anonymous file, positioned at its start. */
static int deflate_fd(int in, int *ret_fd, uint64_t *ret_len)
{
	_cleanup_(alb_zstream_freep) alb_zstream *z = NULL;
	_cleanup_close_ int out = memfd_create("albatross-client-deflate", MFD_CLOEXEC);
	int r;

	if (out < 0)
		return -errno;
	if ((r = alb_zstream_new(ALB_ZSTREAM_DEFLATE, UINT64_MAX, false, alb_zstream_sink_fd, &out,
				 &z)) < 0 ||
	    (r = alb_zstream_pump_fd(z, in)) < 0)
		return r;
	if (lseek(out, 0, SEEK_SET) != 0)
		return -errno;
	*ret_fd = TAKE_FD(out);
	*ret_len = alb_zstream_out_bytes(z);
	return 0;
}

/* Opens FILE to send as block data: its fd and the size to announce (compressed if asked). */
static int block_data(struct cli *cli, const char *path, bool compress, uint64_t limit, int *ret_fd,
		      uint64_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	uint64_t size;
	int r;

	if ((r = open_input(cli, path, &fd, &size)) != EXIT_OK)
		return r;
	if (limit && size > limit) /* the command cannot be done: failed, not misused */
		return cli_error(EXIT_FAILED,
				 "'%s' of %" PRIu64 " bytes does not fit in %" PRIu64 " MB", path,
				 size, limit >> 20);
	if (compress) {
		int zfd = -1;
		r = deflate_fd(fd, &zfd, &size);
		if (r < 0)
			return cli_error(EXIT_FAILED, "Failed to compress '%s': %s", path,
					 strerror(-r));
		closep(&fd);
		fd = zfd;
	}
	*ret_fd = TAKE_FD(fd);
	*ret_size = size;
	return EXIT_OK;
}

static int cmd_create_block(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_DATA = OPT_COMMAND_BASE, O_SECTOR, O_COMPRESS };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"data", required_argument, NULL, O_DATA},
	    {"sector-size", required_argument, NULL, O_SECTOR},
	    {"compress", no_argument, NULL, O_COMPRESS},
	    {0},
	};
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	_cleanup_close_ int fd = -1;
	const char *data = NULL;
	bool compress = false;
	uint32_t sector = 0;
	uint64_t size_mb, data_size = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r == -2)
			continue;
		if (r >= 0)
			return r;
		if (c == O_DATA) {
			data = optarg;
		} else if (c == O_SECTOR) {
			if (cli_parse_u32("sector size", optarg, 512, ALB_SECTOR_SIZE_MAX, &sector))
				return EXIT_USAGE;
			if (sector & (sector - 1))
				return cli_error(
				    EXIT_USAGE,
				    "invalid sector size %" PRIu32 ": not a power of two", sector);
		} else if (c == O_COMPRESS) {
			compress = true;
		} else {
			return EXIT_USAGE;
		}
	}
	if ((r = check_arg_count(cmd, argc - optind, 2, 2)) >= 0)
		return r;
	if ((r = cli_parse_name(cli, argv[optind], 'n', &name)) != 0)
		return r;
	if (cli_parse_u64("size in MB", argv[optind + 1], 1, ALB_BLOCK_SIZE_MAX_MB, &size_mb))
		return EXIT_USAGE;
	if (compress && !data)
		return cli_usage_error(cmd, "--compress needs --data");
	if (data && (r = block_data(cli, data, compress, size_mb << 20, &fd, &data_size)) != 0)
		return r;

	msg = cli_command_new(ALB_CMD_BLOCK_ADD, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	msg->cmd.block_size_mb = size_mb;
	msg->cmd.sector_size = sector;
	msg->cmd.data_size = data_size;
	msg->cmd.compressed = compress;
	if (data_size == 0)
		return request_and_print(cli, msg, ALB_REPLY_STRING, ALB_REPLY_EMPTY);
	return upload_and_print(cli, msg, NULL, fd, data_size, "upload");
}

static int cmd_set_block(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_COMPRESS = OPT_COMMAND_BASE };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"compress", no_argument, NULL, O_COMPRESS},
	    {0},
	};
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	_cleanup_close_ int fd = -1;
	bool compress = false;
	uint64_t size;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r == -2)
			continue;
		if (r >= 0)
			return r;
		if (c != O_COMPRESS)
			return EXIT_USAGE;
		compress = true;
	}
	if ((r = check_arg_count(cmd, argc - optind, 2, 2)) >= 0)
		return r;
	if ((r = cli_parse_name(cli, argv[optind], 'n', &name)) != 0)
		return r;
	const char *path = argv[optind + 1];
	if ((r = block_data(cli, path, compress, 0, &fd, &size)) != 0)
		return r;
	if (size == 0)
		return cli_error(EXIT_USAGE, "'%s' is empty", path);

	msg = cli_command_new(ALB_CMD_BLOCK_SET, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	msg->cmd.data_size = size;
	msg->cmd.compressed = compress;
	return upload_and_print(cli, msg, NULL, fd, size, "upload");
}

static int cmd_dump_block(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_COMPRESS = OPT_COMMAND_BASE };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"compress", no_argument, NULL, O_COMPRESS},
	    {0},
	};
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	bool compress = false;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r == -2)
			continue;
		if (r >= 0)
			return r;
		if (c != O_COMPRESS)
			return EXIT_USAGE;
		compress = true;
	}
	if ((r = check_arg_count(cmd, argc - optind, 2, 2)) >= 0)
		return r;
	if ((r = cli_parse_name(cli, argv[optind], 'n', &name)) != 0)
		return r;
	const char *path = argv[optind + 1];
	if (cli->json && streq(path, "-"))
		return cli_usage_error(cmd, "--json needs a FILE: the data goes to stdout");

	msg = cli_command_new(ALB_CMD_BLOCK_DUMP, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	msg->cmd.compress = compress;
	return run_dump(cli, msg, path);
}

/* dump-block with its message made, to path ("-": stdout). */
static int run_dump(struct cli *cli, alb_msg *msg, const char *path)
{
	_cleanup_(alb_client_freep) alb_client *client = NULL;
	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	bool compress = msg->cmd.compress;
	int r = cli_connect(cli, msg, &client);
	if (r != EXIT_OK || !client)
		return r;
	r = alb_client_request(client, msg, &reply);
	if (r < 0)
		return cli_client_error(cli, client, r);
	if ((r = check_reply_kind(cli, reply, ALB_REPLY_BLOCKS, 0)) != EXIT_OK)
		return r;
	if (reply->reply.n_blocks != 1)
		return cli_error(EXIT_PROTOCOL, "%s: a reply of %" PRIu32 " blocks, expected 1",
				 cli->command, reply->reply.n_blocks);
	uint64_t expected = compress ? UINT64_MAX : reply->reply.blocks[0].size_mb << 20;
	return download(cli, client, msg, expected, path, compress, NULL);
}

static int cmd_destroy_block(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return simple_command(cli, cmd, argc, argv, ALB_CMD_BLOCK_REMOVE, 'n', NULL,
			      ALB_REPLY_STRING, ALB_REPLY_EMPTY);
}

/* ---- tenders ------------------------------------------------------------- */

static int cmd_tenders(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	int r;

	if ((r = parse_no_options(cli, cmd, argc, argv)) >= 0)
		return r;
	if ((r = check_arg_count(cmd, argc - optind, 0, 0)) >= 0)
		return r;
	if (alb_name_new_root(&root) < 0 || !(msg = cli_command_new(ALB_CMD_TENDERS_INFO, root)))
		return cli_error(EXIT_FAILED, "out of memory");
	return request_and_print(cli, msg, ALB_REPLY_TENDERS, 0);
}

/* ---- a signed command --------------------------------------------------- */

/* The upload of a certificate's create or block command: FILE, as the certificate binds it. */
static int certificate_upload(struct cli *cli, alb_msg *msg, const char *file)
{
	_cleanup_close_ int fd = -1;
	uint64_t size = 0, want;
	int r;

	if (!file)
		return cli_error(EXIT_USAGE, "%s: this certificate's %s needs its FILE",
				 cli->command, alb_command_to_string(msg->cmd.kind));
	if (msg->cmd.config) {
		_cleanup_free_ uint8_t *image = NULL;
		size_t len;
		uint8_t digest[32], want_digest[32];
		const alb_unikernel_config *c = msg->cmd.config;
		if (alb_read_file(cli->ctx, file, ALB_IMAGE_SIZE_MAX, &image, &len) < 0)
			return cli_error(EXIT_FAILED, "%s: %s", cli->command,
					 alb_ctx_last_error(cli->ctx));
		image_sha256(image, len, digest);
		if (alb_unikernel_config_get_image_compressed(c) ||
		    alb_unikernel_config_get_digest(c, want_digest) < 0 ||
		    alb_unikernel_config_get_image_size(c) != len ||
		    memcmp(digest, want_digest, 32) != 0)
			return cli_error(EXIT_FAILED,
					 "%s: '%s' is not the image the certificate was made for "
					 "(its size or SHA-256 digest differ)",
					 cli->command, file);
		return upload_and_print(cli, msg, image, -1, len, "upload");
	}
	want = msg->cmd.data_size;
	if ((r = open_input(cli, file, &fd, &size)) != EXIT_OK)
		return r;
	if (size != want)
		return cli_error(EXIT_FAILED,
				 "%s: '%s' has %" PRIu64 " bytes, the certificate is for %" PRIu64,
				 cli->command, file, size, want);
	return upload_and_print(cli, msg, NULL, fd, size, "upload");
}

int cli_cmd_certificate(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	int r;

	if ((r = parse_no_options(cli, cmd, argc, argv)) >= 0)
		return r;
	if ((r = check_arg_count(cmd, argc - optind, 2, 3)) >= 0)
		return r;
	if (!cli->destination || !cli->server_ca)
		return cli_usage_error(cmd,
				       "--destination HOST:PORT and --server-ca CA are needed");
	if (cli->csr || cli->ca || cli->ca_key)
		return cli_usage_error(cmd, "--csr, --ca and --ca-key do not go with a signed "
					    "certificate");
	cli->cert = argv[optind];
	cli->key = argv[optind + 1];
	const char *file = optind + 2 < argc ? argv[optind + 2] : NULL;
	if ((r = cli_read_certificate_command(cli, cli->cert, &msg)) != EXIT_OK)
		return r;
	cli->command = alb_command_to_string(msg->cmd.kind);
	bool takes_file =
	    msg->cmd.kind == ALB_CMD_UNIKERNEL_CREATE || msg->cmd.kind == ALB_CMD_SERVICE_DEPLOY ||
	    msg->cmd.kind == ALB_CMD_UNIKERNEL_FORCE_CREATE || msg->cmd.kind == ALB_CMD_BLOCK_SET ||
	    msg->cmd.kind == ALB_CMD_UNIKERNEL_GET || msg->cmd.kind == ALB_CMD_BLOCK_DUMP ||
	    (msg->cmd.kind == ALB_CMD_BLOCK_ADD && msg->cmd.data_size > 0);
	if (file && !takes_file)
		return cli_usage_error(cmd, "the certificate's %s takes no FILE", cli->command);

	switch (msg->cmd.kind) {
	case ALB_CMD_UNIKERNEL_INFO:
		return request_and_print(cli, msg, ALB_REPLY_UNIKERNELS, 0);
	case ALB_CMD_POLICY_INFO:
		return request_and_print(cli, msg, ALB_REPLY_POLICIES, 0);
	case ALB_CMD_BLOCK_INFO:
		return request_and_print(cli, msg, ALB_REPLY_BLOCKS, 0);
	case ALB_CMD_TENDERS_INFO:
		return request_and_print(cli, msg, ALB_REPLY_TENDERS, 0);
	case ALB_CMD_CONSOLE_LIST_INACTIVE:
		return request_and_print(cli, msg, ALB_REPLY_NAMES, 0);
	case ALB_CMD_UNIKERNEL_CREATE:
	case ALB_CMD_UNIKERNEL_FORCE_CREATE:
	case ALB_CMD_SERVICE_DEPLOY:
	case ALB_CMD_BLOCK_SET:
		return certificate_upload(cli, msg, file);
	case ALB_CMD_SERVICE_INFO:
		return request_and_print(cli, msg, ALB_REPLY_SERVICES, 0);
	case ALB_CMD_COLLECT:
		return request_and_print(cli, msg, ALB_REPLY_COLLECTED, 0);
	case ALB_CMD_BLOCK_ADD:
		if (msg->cmd.data_size > 0)
			return certificate_upload(cli, msg, file);
		return request_and_print(cli, msg, ALB_REPLY_STRING, ALB_REPLY_EMPTY);
	case ALB_CMD_UNIKERNEL_GET:
		return run_get(cli, msg, file, false);
	case ALB_CMD_BLOCK_DUMP:
		return run_dump(cli, msg, file ? file : "-");
	case ALB_CMD_CONSOLE_SUBSCRIBE:
		return cli_run_console(cli, msg, NULL);
	case ALB_CMD_LOG_SUBSCRIBE:
		return cli_run_log(cli, msg);
	case ALB_CMD_STATS_SUBSCRIBE:
		return cli_run_stats(cli, msg, alb_name_is_path(msg->name));
	default:
		return request_and_print(cli, msg, ALB_REPLY_STRING, ALB_REPLY_EMPTY);
	}
}

/* The synopses are the man page's (cli-help.h, generated from albatross-client.1.scd): a
 * command without a block there does not build. */
#include "cli-help.h"

const struct cli_command cli_commands[] = {
    {"create", CLI_SYNOPSIS_create, cmd_create},
    {"destroy", CLI_SYNOPSIS_destroy, cmd_destroy},
    {"restart", CLI_SYNOPSIS_restart, cmd_restart},
    {"info", CLI_SYNOPSIS_info, cmd_info},
    {"get", CLI_SYNOPSIS_get, cmd_get},
    {"policy", CLI_SYNOPSIS_policy, cmd_policy},
    {"add-policy", CLI_SYNOPSIS_add_policy, cmd_add_policy},
    {"remove-policy", CLI_SYNOPSIS_remove_policy, cmd_remove_policy},
    {"block", CLI_SYNOPSIS_block, cmd_block},
    {"create-block", CLI_SYNOPSIS_create_block, cmd_create_block},
    {"set-block", CLI_SYNOPSIS_set_block, cmd_set_block},
    {"dump-block", CLI_SYNOPSIS_dump_block, cmd_dump_block},
    {"destroy-block", CLI_SYNOPSIS_destroy_block, cmd_destroy_block},
    {"tenders", CLI_SYNOPSIS_tenders, cmd_tenders},
    {"service", CLI_SYNOPSIS_service, cli_cmd_service},
    {"collect", CLI_SYNOPSIS_collect, cli_cmd_collect},
    {"console", CLI_SYNOPSIS_console, cli_cmd_console},
    {"log", CLI_SYNOPSIS_log, cli_cmd_log},
    {"stats", CLI_SYNOPSIS_stats, cli_cmd_stats},
    {"generate", CLI_SYNOPSIS_generate, cli_cmd_generate},
    {"sign", CLI_SYNOPSIS_sign, cli_cmd_sign},
    {"revoke", CLI_SYNOPSIS_revoke, cli_cmd_revoke},
    {"certificate", CLI_SYNOPSIS_certificate, cli_cmd_certificate},
    {"help", CLI_SYNOPSIS_help, cli_cmd_help},
};
const size_t cli_n_commands = ELEMENTSOF(cli_commands);

/* ---- shared with cmd-service.c ------------------------------------------- */

int cli_parse_net(struct cli *cli, alb_unikernel_config *config, const char *arg)
{
	return parse_net(cli, config, arg);
}

int cli_request_and_print(struct cli *cli, alb_msg *msg, int kind, int kind2)
{
	return request_and_print(cli, msg, kind, kind2);
}

int cli_upload_and_print(struct cli *cli, alb_msg *msg, const uint8_t *buf, int fd, uint64_t size,
			 const char *what)
{
	return upload_and_print(cli, msg, buf, fd, size, what);
}

void cli_json_config(struct json *j, const alb_unikernel_config *c)
{
	json_config(j, c);
}
