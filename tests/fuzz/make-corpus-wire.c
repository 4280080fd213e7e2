/* SPDX-License-Identifier: ISC */
/* Writes seed messages to the directory argv[1] (tests/fuzz/corpus/wire): a valid
 * encoding of every command, reply and data kind (services: every readiness kind, the
 * services and collected replies, their log events), and a few malformed ones. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire-private.h"

static const char *dir;

static void write_file(const char *file, const uint8_t *buf, size_t len)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.cbor", dir, file);
	FILE *f = fopen(path, "wbe");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		abort();
}

/* Writes msg (freed) as file; aborts on failure. */
static void write_msg(const char *file, alb_msg *msg)
{
	uint8_t *buf;
	uint64_t len;

	if (alb_msg_encode(NULL, msg, &buf, &len) < 0)
		abort();
	write_file(file, buf, len);
	alb_free(buf);
	alb_msg_free(msg);
}

/* Writes msg (freed) as file with, in turn, the first bytes from replaced by to (as long),
 * for each pair (from, to) until NULL: a seed that the encoder would refuse to write. */
static void write_msg_replaced(const char *file, alb_msg *msg, ...)
{
	uint8_t *buf;
	uint64_t len;
	const char *from;
	va_list ap;

	if (alb_msg_encode(NULL, msg, &buf, &len) < 0)
		abort();
	va_start(ap, msg);
	while ((from = va_arg(ap, const char *))) {
		const char *to = va_arg(ap, const char *);
		size_t n = strlen(from);
		uint8_t *p = memmem(buf, len, from, n);
		if (strlen(to) != n || !p)
			abort();
		memcpy(p, to, n);
	}
	va_end(ap);
	write_file(file, buf, len);
	alb_free(buf);
	alb_msg_free(msg);
}

static alb_name *N(const char *s)
{
	alb_name *n;
	if (alb_name_parse(NULL, s, &n) < 0)
		abort();
	return n;
}

static alb_msg *M(int kind, const char *name)
{
	alb_msg *msg;
	alb_name *n = N(name);
	if (alb_msg_new(&msg, kind, 7, n) < 0)
		abort();
	alb_name_free(n);
	return msg;
}

static char **V(const char *a, const char *b)
{
	char *v[] = {(char *)a, (char *)b};
	char **copy = alb_strv_dup(v, 2);
	if (!copy)
		abort();
	return copy;
}

static alb_unikernel_config *config(void)
{
	const uint8_t digest[32] = {0xde, 0xad, 0xbe, 0xef};
	const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x01};
	alb_unikernel_config *c;

	if (alb_unikernel_config_new(NULL, &c) < 0 || alb_unikernel_config_add_cpuid(c, 1) < 0 ||
	    alb_unikernel_config_set_fail_behaviour(c, ALB_FAIL_RESTART_ON) < 0 ||
	    alb_unikernel_config_add_exit_code(c, 2) < 0 ||
	    alb_unikernel_config_set_image(c, 123456, 1) < 0 ||
	    alb_unikernel_config_set_digest(c, digest) < 0 ||
	    alb_unikernel_config_add_block(c, "storage", "disk", 4096) < 0 ||
	    alb_unikernel_config_add_net(c, "service", "br0", mac) < 0 ||
	    alb_unikernel_config_add_net(c, "mgmt", "br1", NULL) < 0 ||
	    alb_unikernel_config_add_argument(c, "--hello=albatross") < 0)
		abort();
	return c;
}

static alb_policy *policy(void)
{
	alb_policy *p;

	if (alb_policy_new(&p) < 0 || alb_policy_set_unikernels(p, 4) < 0 ||
	    alb_policy_set_memory(p, 256) < 0 || alb_policy_set_block(p, 100) < 0 ||
	    alb_policy_add_cpuid(p, 0) < 0 || alb_policy_add_cpuid(p, 1) < 0 ||
	    alb_policy_add_bridge(p, "br0") < 0)
		abort();
	return p;
}

static struct alb_log_event *event(void)
{
	struct alb_log_event *ev = calloc(1, sizeof(*ev));
	if (!ev)
		abort();
	ev->kind = ALB_EVENT_UNIKERNEL_EXITED;
	ev->time_us = 1700000000000000;
	ev->name = N("alice:hello");
	ev->pid = 4242;
	ev->has_digest = true;
	ev->taps = V("vmtap0", "vmtap1");
	ev->n_taps = 2;
	ev->exit = (struct alb_exit){ALB_EXIT_CODE, 1};
	ev->attempt = 1;
	ev->delay_us = 1000000;
	ev->identity = strdup("uid 0");
	ev->message = strdup("exited with code 1");
	return ev;
}

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

/* A service on 10.0.0.0/24 (gateway .1, .2 excluded), tcp 8080 published on every host
 * address and udp 5353 on 192.0.2.1, with the readiness of kind. */
static struct alb_service_spec *spec(int kind)
{
	struct alb_service_spec *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->device = strdup("service");
	s->bridge = strdup("br0");
	s->prefix = IP4(10, 0, 0, 0);
	s->prefix_len = 24;
	s->gateway = IP4(10, 0, 0, 1);
	s->n_excluded = 1;
	s->excluded = calloc(1, sizeof(*s->excluded));
	s->n_publish = 2;
	s->publish = calloc(2, sizeof(*s->publish));
	if (!s->excluded || !s->publish)
		abort();
	s->excluded[0] = IP4(10, 0, 0, 2);
	s->publish[0] = (struct alb_publish){6, 0, 8080, 80};
	s->publish[1] = (struct alb_publish){17, IP4(192, 0, 2, 1), 5353, 53};
	s->ready = kind;
	s->ready_line = kind == ALB_READY_LINE ? strdup("listening") : NULL;
	s->ready_port = kind == ALB_READY_TCP ? 80 : kind == ALB_READY_UDP ? 53 : 0;
	s->ready_delay_ms = kind == ALB_READY_DELAY ? 1500 : 0;
	s->ready_timeout_ms = 30000;
	s->drain_ms = 5000;
	return s;
}

static alb_msg *services_reply(void);

static alb_msg *deploy(int kind)
{
	alb_msg *msg = M(ALB_MSG_COMMAND, "alice:web");
	msg->cmd.kind = ALB_CMD_SERVICE_DEPLOY;
	msg->cmd.config = config();
	msg->cmd.service = spec(kind);
	return msg;
}

/* Every readiness kind; the least a spec holds; the largest prefix; a few that the
 * decoder refuses (same-length byte replacements of valid ones). */
static void services_commands(void)
{
	write_msg("command-service-deploy-tcp", deploy(ALB_READY_TCP));
	write_msg("command-service-deploy-udp", deploy(ALB_READY_UDP));
	write_msg("command-service-deploy-delay", deploy(ALB_READY_DELAY));

	alb_msg *msg = deploy(ALB_READY_NONE);
	struct alb_service_spec *s = msg->cmd.service;
	s->gateway = 0;
	s->n_excluded = s->n_publish = 0;
	s->drain_ms = 0;
	s->prefix_len = 8;
	write_msg("command-service-deploy-none", msg);

	write_msg_replaced("bad-service-host-bits", deploy(ALB_READY_LINE), "10.0.0.0/24",
			   "10.0.0.1/24", NULL);
	write_msg_replaced("bad-service-prefix-length", deploy(ALB_READY_LINE), "10.0.0.0/24",
			   "10.0.0.0/31", NULL);
	write_msg_replaced("bad-service-gateway", deploy(ALB_READY_LINE), "10.0.0.1", "10.0.9.1",
			   NULL);
	write_msg_replaced("bad-service-proto", deploy(ALB_READY_LINE), "udp", "udq", NULL);
	/* udp 5353 on 192.0.2.1 becomes tcp 8080 there, which tcp 8080 on every address has. */
	write_msg_replaced("bad-service-published-twice", deploy(ALB_READY_LINE), "udp", "tcp",
			   "\x19\x14\xe9", "\x19\x1f\x90", NULL);
	/* Readiness none with a readiness line. */
	write_msg_replaced("bad-service-ready-kind", deploy(ALB_READY_LINE), "\x65ready\x64line",
			   "\x65ready\x64none", NULL);
	/* An instance named by a path. */
	write_msg_replaced("bad-service-instance-path", services_reply(),
			   "\x6b"
			   "alice:web.6",
			   "\x6b"
			   "alice.web6:",
			   NULL);
}

static void commands(void)
{
	for (int command = ALB_CMD_UNIKERNEL_INFO; command <= ALB_CMD_COLLECT; command++) {
		alb_msg *msg = M(ALB_MSG_COMMAND, "alice:hello");
		struct alb_cmd *cmd = &msg->cmd;
		char file[64];

		cmd->kind = command;
		switch (command) {
		case ALB_CMD_UNIKERNEL_CREATE:
		case ALB_CMD_UNIKERNEL_FORCE_CREATE:
			cmd->config = config();
			break;
		case ALB_CMD_UNIKERNEL_RESTART:
			cmd->has_argv = true;
			cmd->argv = V("--a=1", "b");
			cmd->argc = 2;
			break;
		case ALB_CMD_UNIKERNEL_GET:
		case ALB_CMD_BLOCK_DUMP:
			cmd->compress = true;
			break;
		case ALB_CMD_POLICY_ADD:
			cmd->policy = policy();
			break;
		case ALB_CMD_BLOCK_ADD:
			cmd->block_size_mb = 100;
			cmd->sector_size = 4096;
			cmd->data_size = 1000;
			break;
		case ALB_CMD_BLOCK_SET:
			cmd->data_size = 1000;
			cmd->compressed = true;
			break;
		case ALB_CMD_CONSOLE_SUBSCRIBE:
			cmd->history.has_count = true;
			cmd->history.count = 10;
			break;
		case ALB_CMD_LOG_SUBSCRIBE:
			cmd->history.has_since = true;
			cmd->history.since_us = 1700000000000000;
			break;
		case ALB_CMD_CONSOLE_DATA:
			cmd->time_us = 1700000000000000;
			cmd->output = (uint8_t *)strdup("Hello, World\r\n");
			cmd->output_len = 14;
			cmd->dropped = 3;
			break;
		case ALB_CMD_CONSOLE_END:
			cmd->dropped = 7;
			break;
		case ALB_CMD_STATS_ADD:
			cmd->pid = 4242;
			cmd->taps = V("vmtap0", "vmtap1");
			cmd->n_taps = 2;
			break;
		case ALB_CMD_LOG_EVENT:
			cmd->event = event();
			break;
		case ALB_CMD_SERVICE_DEPLOY:
			cmd->config = config();
			cmd->service = spec(ALB_READY_LINE);
			break;
		default:
			break;
		}
		snprintf(file, sizeof(file), "command-%s", alb_command_to_string(command));
		write_msg(file, msg);
	}
}

static alb_msg *services_reply(void)
{
	alb_msg *msg = M(ALB_MSG_SUCCESS, "alice:");
	struct alb_reply *r = &msg->reply;
	r->kind = ALB_REPLY_SERVICES;
	r->n_services = 2;
	r->services = calloc(2, sizeof(*r->services));
	if (!r->services)
		abort();
	struct alb_service_info *a = &r->services[0], *b = &r->services[1];
	*a = (struct alb_service_info){.name = N("alice:web"),
				       .config = config(),
				       .spec = spec(ALB_READY_LINE),
				       .generation = 7,
				       .n_instances = 2,
				       .instances = calloc(2, sizeof(*a->instances))};
	*b = (struct alb_service_info){.name = N("alice:dns"),
				       .config = config(),
				       .spec = spec(ALB_READY_UDP),
				       .generation = 3,
				       .n_instances = 1,
				       .instances = calloc(1, sizeof(*b->instances)),
				       .last_error = strdup("generation 3 was not ready in 30 s")};
	if (!a->instances || !b->instances)
		abort();
	a->instances[0] = (struct alb_service_instance){6, N("alice:web.6"), IP4(10, 0, 0, 3),
							ALB_INSTANCE_DRAINING, 1700000005000000};
	a->instances[1] = (struct alb_service_instance){7, N("alice:web.7"), IP4(10, 0, 0, 4),
							ALB_INSTANCE_PUBLISHED, 0};
	b->instances[0] = (struct alb_service_instance){3, N("alice:dns.3"), IP4(10, 0, 0, 5),
							ALB_INSTANCE_STARTING, 1700000030000000};
	return msg;
}

static void services_replies(void)
{
	write_msg("success-services", services_reply());

	alb_msg *msg = M(ALB_MSG_SUCCESS, ":");
	struct alb_reply *r = &msg->reply;
	r->kind = ALB_REPLY_COLLECTED;
	r->n_collected = 2;
	r->collected = calloc(2, sizeof(*r->collected));
	if (!r->collected)
		abort();
	r->collected[0] = (struct alb_collected){N("alice:web.5"), strdup("br0"), IP4(10, 0, 0, 7)};
	r->collected[1] = (struct alb_collected){NULL, strdup("br1"), IP4(192, 168, 3, 9)};
	write_msg("success-collected", msg);

	/* Events of services in the log. */
	static const int kinds[] = {ALB_EVENT_SERVICE_ALLOCATED, ALB_EVENT_SERVICE_SWITCHED,
				    ALB_EVENT_SERVICE_RETIRED, ALB_EVENT_SERVICE_UPDATE_FAILED,
				    ALB_EVENT_SERVICE_REMOVED};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct alb_log_event *ev = NULL;
		alb_name *name = N(i < 3 ? "alice:web.7" : "alice:web");
		char file[64];
		if (alb_log_event_new(kinds[i], name, 1700000000000000, &ev) < 0 ||
		    alb_log_event_set_identity(ev, "uid 0") < 0 ||
		    alb_log_event_set_message(ev, "10.0.0.4 on br0") < 0)
			abort();
		alb_name_free(name);
		msg = M(ALB_MSG_DATA, ":");
		msg->data.kind = ALB_DATA_LOG;
		msg->data.event = ev;
		snprintf(file, sizeof(file), "data-log-%s", alb_log_event_kind_to_string(kinds[i]));
		write_msg(file, msg);
	}
}

static void replies(void)
{
	alb_msg *msg = M(ALB_MSG_SUCCESS, "alice:");
	msg->reply.kind = ALB_REPLY_EMPTY;
	write_msg("success-empty", msg);

	msg = M(ALB_MSG_SUCCESS, "alice:");
	msg->reply.kind = ALB_REPLY_STRING;
	msg->reply.string = strdup("destroyed alice:hello");
	write_msg("success-string", msg);

	msg = M(ALB_MSG_SUCCESS, "alice:");
	msg->reply.kind = ALB_REPLY_UNIKERNELS;
	msg->reply.n_unikernels = 1;
	msg->reply.unikernels = calloc(1, sizeof(*msg->reply.unikernels));
	msg->reply.unikernels[0] = (struct alb_unikernel_info){
	    .name = N("alice:hello"),
	    .config = config(),
	    .state = ALB_STATE_RUNNING,
	    .pid = 4242,
	    .started_us = 1700000000000000,
	    .restarts = 1,
	    .last_exit = {ALB_EXIT_SIGNAL, 9},
	    .taps = V("vmtap0", "vmtap1"),
	    .n_taps = 2,
	};
	write_msg("success-unikernels", msg);

	msg = M(ALB_MSG_SUCCESS, ":");
	msg->reply.kind = ALB_REPLY_POLICIES;
	msg->reply.n_policies = 1;
	msg->reply.policies = calloc(1, sizeof(*msg->reply.policies));
	msg->reply.policies[0] = (struct alb_policy_info){N("alice:"), policy()};
	write_msg("success-policies", msg);

	msg = M(ALB_MSG_SUCCESS, "alice:");
	msg->reply.kind = ALB_REPLY_BLOCKS;
	msg->reply.n_blocks = 1;
	msg->reply.blocks = calloc(1, sizeof(*msg->reply.blocks));
	msg->reply.blocks[0] = (struct alb_block_info){N("alice:disk"), 10, 4096, N("alice:hello")};
	write_msg("success-blocks", msg);

	msg = M(ALB_MSG_SUCCESS, "alice:hello");
	msg->reply.kind = ALB_REPLY_IMAGE;
	msg->reply.image_size = 5000;
	msg->reply.compressed = true;
	msg->reply.tender = ALB_TENDER_SPT;
	write_msg("success-image", msg);

	msg = M(ALB_MSG_SUCCESS, "alice:");
	msg->reply.kind = ALB_REPLY_NAMES;
	msg->reply.n_names = 2;
	msg->reply.names = calloc(2, sizeof(alb_name *));
	msg->reply.names[0] = N("alice:hello");
	msg->reply.names[1] = N("alice:bye");
	write_msg("success-names", msg);

	msg = M(ALB_MSG_SUCCESS, ":");
	msg->reply.kind = ALB_REPLY_TENDERS;
	msg->reply.n_tenders = 2;
	msg->reply.tenders = calloc(2, sizeof(*msg->reply.tenders));
	msg->reply.tenders[0] = (struct alb_tender_info){strdup("solo5-hvt.2"),
							 strdup("/usr/lib/albatross/solo5-hvt.2"),
							 ALB_TENDER_HVT, strdup("v0.12.1"), 2};
	msg->reply.tenders[1] =
	    (struct alb_tender_info){strdup("solo5-spt"), strdup("/usr/local/bin/solo5-spt"),
				     ALB_TENDER_SPT, strdup("v0.12.1"), 2};
	write_msg("success-tenders", msg);

	msg = M(ALB_MSG_FAILURE, "alice:hello");
	msg->failure.code = 17;
	msg->failure.message = strdup("unikernel alice:hello exists");
	write_msg("failure", msg);
}

static void data(void)
{
	alb_msg *msg = M(ALB_MSG_DATA, "alice:hello");
	msg->data.kind = ALB_DATA_CHUNK;
	msg->data.chunk = (uint8_t *)strdup("\x7f"
					    "ELF solo5 image bytes");
	msg->data.chunk_len = 22;
	write_msg("data-chunk", msg);

	/* The envelope of a chunk, without the chunk: fuzz-wire follows it with a long one. */
	msg = M(ALB_MSG_DATA, "alice:hello");
	msg->data.kind = ALB_DATA_CHUNK;
	msg->data.chunk = (uint8_t *)strdup("\x7f");
	msg->data.chunk_len = 1;
	{
		uint8_t *buf;
		uint64_t len;
		if (alb_msg_encode(NULL, msg, &buf, &len) < 0 || len < 2)
			abort();
		write_file("data-chunk-envelope", buf, len - 2); /* 0x41 and the byte cut */
		alb_free(buf);
		alb_msg_free(msg);
	}

	msg = M(ALB_MSG_DATA, "alice:hello");
	msg->data.kind = ALB_DATA_CONSOLE;
	msg->data.console = (struct alb_console_line){1700000000000000,
						      (uint8_t *)strdup("Solo5: hello"), 12, false};
	write_msg("data-console", msg);

	msg = M(ALB_MSG_DATA, ":");
	msg->data.kind = ALB_DATA_LOG;
	msg->data.event = event();
	write_msg("data-log", msg);

	struct alb_stats *s = calloc(1, sizeof(*s));
	*s = (struct alb_stats){.time_us = 1700000000000000,
				.pid = 4242,
				.utime_us = 100,
				.rss_bytes = 1 << 20,
				.start_time_us = 1600000000000000,
				.n_ifs = 1,
				.n_kvm = 1};
	s->ifs = calloc(1, sizeof(*s->ifs));
	s->ifs[0] = (struct alb_if_stats){strdup("vmtap0"), 1, 2, 0, 0, 3, 4, 0, 0};
	s->kvm = calloc(1, sizeof(*s->kvm));
	s->kvm[0] = (struct alb_kv){strdup("exits"), 99};
	msg = M(ALB_MSG_DATA, "alice:hello");
	msg->data.kind = ALB_DATA_STATS;
	msg->data.stats = s;
	write_msg("data-stats", msg);
}

static void malformed(void)
{
	static const uint8_t version2[] = {0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02};
	static const uint8_t huge[] = {0x9a, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t tag[] = {0xc0, 0x61, 'a'};
	static const uint8_t indefinite[] = {0xbf, 0x61, 'a', 0x01, 0xff};
	uint8_t deep[64];

	write_file("bad-version-2", version2, sizeof(version2));
	write_file("bad-huge-array", huge, sizeof(huge));
	write_file("bad-tag", tag, sizeof(tag));
	write_file("bad-indefinite-map", indefinite, sizeof(indefinite));
	memset(deep, 0x81, sizeof(deep));
	deep[sizeof(deep) - 1] = 0;
	write_file("bad-deep", deep, sizeof(deep));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	commands();
	services_commands();
	replies();
	services_replies();
	data();
	malformed();
	return 0;
}
