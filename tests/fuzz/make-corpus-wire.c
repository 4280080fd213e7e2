/* SPDX-License-Identifier: ISC */
/* Writes seed messages to the directory argv[1] (tests/fuzz/corpus/wire): a valid
 * encoding of every command, reply and data kind, and a few malformed ones. */
#include <stdio.h>
#include <stdlib.h>

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

static void commands(void)
{
	for (int command = ALB_CMD_UNIKERNEL_INFO; command <= ALB_CMD_CONSOLE_END; command++) {
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
		default:
			break;
		}
		snprintf(file, sizeof(file), "command-%s", alb_command_to_string(command));
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
	replies();
	data();
	malformed();
	return 0;
}
