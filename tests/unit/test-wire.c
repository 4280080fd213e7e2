/* SPDX-License-Identifier: ISC */
/* The wire protocol: round trips of every message, malformed input, framing. */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

#include "test-common.h"

#include "cbor-private.h"
#include "wire-private.h"

static const uint8_t DIGEST[32] = {0xde, 0xad, 0xbe, 0xef, 1,  2,  3,  4,  5,  6,  7,
				   8,	 9,    10,   11,   12, 13, 14, 15, 16, 17, 18,
				   19,	 20,   21,   22,   23, 24, 25, 26, 27, 28};

static alb_name *N(const char *s)
{
	alb_name *name = NULL;
	ck_assert_alb_ok(test_ctx, alb_name_parse(test_ctx, s, &name));
	return name;
}

static char **V(uint32_t n, ...)
{
	char *v[16];
	va_list ap;
	va_start(ap, n);
	for (uint32_t i = 0; i < n; i++)
		v[i] = va_arg(ap, char *);
	va_end(ap);
	char **copy = alb_strv_dup(v, n);
	ck_assert_ptr_nonnull(copy);
	return copy;
}

/* Samples: every field set to something other than its default. */
static alb_unikernel_config *sample_config(void)
{
	alb_unikernel_config *c = NULL;
	const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x42};

	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &c));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_tender(c, ALB_TENDER_SPT));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_memory(c, 64));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(c, 3));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_cpuid(c, 1));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_fail_behaviour(c, ALB_FAIL_RESTART_ON));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(c, 2));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_exit_code(c, 1));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_startup(c, 10));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_image(c, 123456, 1));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_set_digest(c, DIGEST));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_block(c, "storage", "disk", 4096));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_block(c, "data", NULL, 0));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_net(c, "service", "br0", mac));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_net(c, "mgmt", "br1", NULL));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(c, "--hello=Grüße"));
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_add_argument(c, "-v"));
	return c;
}

static alb_policy *sample_policy(void)
{
	alb_policy *p = NULL;

	ck_assert_alb_ok(test_ctx, alb_policy_new(&p));
	ck_assert_alb_ok(test_ctx, alb_policy_set_unikernels(p, 8));
	ck_assert_alb_ok(test_ctx, alb_policy_set_memory(p, 1024));
	ck_assert_alb_ok(test_ctx, alb_policy_set_block(p, 500));
	ck_assert_alb_ok(test_ctx, alb_policy_add_cpuid(p, 2));
	ck_assert_alb_ok(test_ctx, alb_policy_add_cpuid(p, 0));
	ck_assert_alb_ok(test_ctx, alb_policy_add_bridge(p, "br1"));
	ck_assert_alb_ok(test_ctx, alb_policy_add_bridge(p, "br0"));
	return p;
}

/* sample_policy() with the services' ports and prefixes. */
static alb_policy *sample_services_policy(void)
{
	alb_policy *p = sample_policy();

	ck_assert_alb_ok(test_ctx, alb_policy_set_ports(p, 8000, 8080));
	ck_assert_alb_ok(test_ctx, alb_policy_add_prefix(p, "br1", "192.168.0.0/16"));
	ck_assert_alb_ok(test_ctx, alb_policy_add_prefix(p, "br0", "10.1.0.0/16"));
	ck_assert_alb_ok(test_ctx, alb_policy_add_prefix(p, "br0", "10.0.0.0/24"));
	return p;
}

static struct alb_log_event *sample_event(int kind)
{
	struct alb_log_event *ev = calloc(1, sizeof(*ev));

	ck_assert_ptr_nonnull(ev);
	ev->kind = kind;
	ev->time_us = UINT64_C(1700000000000000);
	if (kind == ALB_EVENT_DAEMON_START)
		return ev;
	ev->name = N("alice:hello");
	ev->pid = 4242;
	ev->has_digest = true;
	memcpy(ev->digest, DIGEST, 32);
	ev->taps = V(2, "vmtap0", "vmtap1");
	ev->n_taps = 2;
	ev->blocks = V(1, "/var/lib/albatross/block/alice:disk");
	ev->n_blocks = 1;
	ev->exit = (struct alb_exit){ALB_EXIT_SIGNAL, 9};
	ev->attempt = 3;
	ev->delay_us = 2000000;
	ev->identity = strdup("uid 0");
	ev->message = strdup("exited with signal 9");
	return ev;
}

static struct alb_stats *sample_stats(void)
{
	struct alb_stats *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	*s = (struct alb_stats){.time_us = 1700000000000001,
				.pid = 77,
				.utime_us = 1,
				.stime_us = 2,
				.rss_bytes = 3,
				.vsize_bytes = 4,
				.minflt = 5,
				.majflt = 6,
				.nvcsw = 7,
				.nivcsw = UINT64_MAX,
				.start_time_us = 1600000000000000};
	s->n_ifs = 2;
	s->ifs = calloc(2, sizeof(*s->ifs));
	ck_assert_ptr_nonnull(s->ifs);
	s->ifs[0] = (struct alb_if_stats){strdup("vmtap0"), 1, 2, 3, 4, 5, 6, 7, 8};
	s->ifs[1] = (struct alb_if_stats){strdup("vmtap1"), 9, 10, 11, 12, 13, 14, 15, 16};
	s->n_kvm = 2;
	s->kvm = calloc(2, sizeof(*s->kvm));
	ck_assert_ptr_nonnull(s->kvm);
	s->kvm[0] = (struct alb_kv){strdup("exits"), 1000};
	s->kvm[1] = (struct alb_kv){strdup("io_exits"), 12};
	return s;
}

/* IPv4 addresses in host byte order, as struct alb_service_spec holds them. */
#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

/* A service's spec with every field set: a gateway, two excluded addresses, ports published
 * on every host address and on one, and the readiness fields of ready (enum alb_ready_kind). */
static struct alb_service_spec *sample_spec(int ready)
{
	struct alb_service_spec *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->device = strdup("service");
	s->bridge = strdup("br0");
	s->prefix = IP4(10, 0, 0, 0);
	s->prefix_len = 24;
	s->gateway = IP4(10, 0, 0, 1);
	s->n_excluded = 2;
	s->excluded = calloc(2, sizeof(*s->excluded));
	ck_assert_ptr_nonnull(s->excluded);
	s->excluded[0] = IP4(10, 0, 0, 2);
	s->excluded[1] = IP4(10, 0, 0, 254);
	s->n_publish = 3;
	s->publish = calloc(3, sizeof(*s->publish));
	ck_assert_ptr_nonnull(s->publish);
	s->publish[0] = (struct alb_publish){6, 0, 8080, 80};
	s->publish[1] = (struct alb_publish){6, IP4(192, 0, 2, 1), 8443, 443};
	s->publish[2] = (struct alb_publish){17, IP4(192, 0, 2, 1), 5353, 53};
	s->ready = ready;
	switch (ready) {
	case ALB_READY_LINE:
		s->ready_line = strdup("listening on port 80");
		break;
	case ALB_READY_TCP:
		s->ready_port = 80;
		break;
	case ALB_READY_UDP:
		s->ready_port = 53;
		break;
	case ALB_READY_DELAY:
		s->ready_delay_ms = 1500;
		break;
	default:
		break;
	}
	s->ready_timeout_ms = 30000;
	s->drain_ms = 5000;
	return s;
}

/* Services: one with a starting instance beside the published one, one with a draining
 * instance and a last error, one without instances (generation 0). */
static void sample_services(struct alb_reply *reply)
{
	reply->n_services = 3;
	reply->services = calloc(3, sizeof(*reply->services));
	ck_assert_ptr_nonnull(reply->services);

	struct alb_service_info *a = &reply->services[0];
	*a = (struct alb_service_info){.name = N("alice:web"),
				       .config = sample_config(),
				       .spec = sample_spec(ALB_READY_LINE),
				       .generation = 7,
				       .n_instances = 2};
	a->instances = calloc(2, sizeof(*a->instances));
	ck_assert_ptr_nonnull(a->instances);
	a->instances[0] = (struct alb_service_instance){6, N("alice:web.6"), IP4(10, 0, 0, 3),
							ALB_INSTANCE_PUBLISHED, 0};
	a->instances[1] = (struct alb_service_instance){7, N("alice:web.7"), IP4(10, 0, 0, 4),
							ALB_INSTANCE_STARTING, 1700000030000000};

	struct alb_service_info *b = &reply->services[1];
	*b = (struct alb_service_info){.name = N("alice:dns"),
				       .config = sample_config(),
				       .spec = sample_spec(ALB_READY_UDP),
				       .generation = 3,
				       .n_instances = 2,
				       .last_error = strdup("generation 3 was not ready in 30 s")};
	b->instances = calloc(2, sizeof(*b->instances));
	ck_assert_ptr_nonnull(b->instances);
	b->instances[0] = (struct alb_service_instance){1, N("alice:dns.1"), IP4(10, 0, 0, 5),
							ALB_INSTANCE_DRAINING, 1700000005000000};
	b->instances[1] = (struct alb_service_instance){2, N("alice:dns.2"), IP4(10, 0, 0, 6),
							ALB_INSTANCE_PUBLISHED, 0};

	struct alb_service_info *c = &reply->services[2];
	*c = (struct alb_service_info){.name = N("bob:idle"), .spec = sample_spec(ALB_READY_NONE)};
	ck_assert_alb_ok(test_ctx, alb_unikernel_config_new(test_ctx, &c->config));
}

/* What a collect removed: a unikernel with its address, an address alone. */
static void sample_collected(struct alb_reply *reply)
{
	reply->n_collected = 2;
	reply->collected = calloc(2, sizeof(*reply->collected));
	ck_assert_ptr_nonnull(reply->collected);
	reply->collected[0] =
	    (struct alb_collected){N("alice:web.5"), strdup("br0"), IP4(10, 0, 0, 7)};
	reply->collected[1] = (struct alb_collected){NULL, strdup("br1"), IP4(192, 168, 3, 9)};
}

static alb_msg *new_msg(int kind, const char *name)
{
	alb_msg *msg = NULL;
	alb_name *n = N(name);

	ck_assert_alb_ok(test_ctx, alb_msg_new(&msg, kind, 42, n));
	alb_name_free(n);
	return msg;
}

/* A command; variant picks among the shapes of a command's optional keys. */
static alb_msg *sample_command(int command, int variant)
{
	alb_msg *msg = new_msg(ALB_MSG_COMMAND, "alice:hello");
	struct alb_cmd *cmd = &msg->cmd;

	cmd->kind = command;
	/* Any command may say whom it runs for: variant 2 does. */
	if (variant == 2)
		cmd->on_behalf_of = strdup("certificate 'hello' serial 0a0b from 192.0.2.7:50312");
	switch (command) {
	case ALB_CMD_UNIKERNEL_CREATE:
	case ALB_CMD_UNIKERNEL_FORCE_CREATE:
		cmd->config = sample_config();
		break;
	case ALB_CMD_UNIKERNEL_RESTART:
		if (variant > 0) {
			cmd->has_argv = true;
			cmd->argv = variant == 1 ? V(2, "--a=1", "b") : V(0);
			cmd->argc = variant == 1 ? 2 : 0;
		}
		break;
	case ALB_CMD_UNIKERNEL_GET:
	case ALB_CMD_BLOCK_DUMP:
		cmd->compress = variant == 1;
		break;
	case ALB_CMD_POLICY_ADD:
		cmd->policy = variant == 1 ? sample_policy() : sample_services_policy();
		if (variant == 1)
			alb_policy_set_block_none(cmd->policy);
		break;
	case ALB_CMD_BLOCK_ADD:
		cmd->block_size_mb = 100;
		cmd->sector_size = variant == 1 ? 0 : 4096;
		cmd->data_size = variant == 1 ? 0 : 1234567;
		cmd->compressed = variant != 1;
		break;
	case ALB_CMD_BLOCK_SET:
		cmd->data_size = 104857600;
		cmd->compressed = variant == 1;
		break;
	case ALB_CMD_CONSOLE_SUBSCRIBE:
	case ALB_CMD_LOG_SUBSCRIBE:
		if (variant == 1) {
			cmd->history.has_since = true;
			cmd->history.since_us = 1700000000000000;
		} else if (variant == 2) {
			cmd->history.has_count = true;
			cmd->history.count = 10;
			cmd->history.follow = true;
		}
		break;
	case ALB_CMD_CONSOLE_DATA:
		cmd->time_us = 1700000000000001;
		cmd->output_len = 5;
		cmd->output = malloc(5);
		ck_assert_ptr_nonnull(cmd->output);
		memcpy(cmd->output, "a\\\0\n\xff", 5);
		cmd->dropped = variant == 1 ? 4096 : 0;
		break;
	case ALB_CMD_CONSOLE_END:
		cmd->dropped = variant == 1 ? 1 : 0;
		break;
	case ALB_CMD_STATS_ADD:
		cmd->pid = 4242;
		cmd->taps = variant == 1 ? V(0) : V(2, "vmtap0", "vmtap1");
		cmd->n_taps = variant == 1 ? 0 : 2;
		break;
	case ALB_CMD_LOG_EVENT:
		cmd->event = sample_event(variant == 1 ? ALB_EVENT_DAEMON_START
						       : ALB_EVENT_UNIKERNEL_EXITED);
		break;
	case ALB_CMD_SERVICE_DEPLOY:
		/* variant 0: a console line, 1: a TCP port, 2: none (the other kinds:
		 * test_round_trip_service_deploy) */
		cmd->config = sample_config();
		cmd->service = sample_spec(variant == 0	  ? ALB_READY_LINE
					   : variant == 1 ? ALB_READY_TCP
							  : ALB_READY_NONE);
		break;
	default:
		break;
	}
	return msg;
}

static alb_msg *sample_reply(int kind)
{
	alb_msg *msg = new_msg(ALB_MSG_SUCCESS, "alice:");
	struct alb_reply *reply = &msg->reply;

	reply->kind = kind;
	switch (kind) {
	case ALB_REPLY_STRING:
		reply->string = strdup("created unikernel alice:hello");
		break;
	case ALB_REPLY_UNIKERNELS:
		reply->n_unikernels = 2;
		reply->unikernels = calloc(2, sizeof(*reply->unikernels));
		ck_assert_ptr_nonnull(reply->unikernels);
		reply->unikernels[0] = (struct alb_unikernel_info){
		    .name = N("alice:hello"),
		    .config = sample_config(),
		    .state = ALB_STATE_RUNNING,
		    .pid = 4242,
		    .started_us = 1700000000000000,
		    .restarts = 2,
		    .last_exit = {ALB_EXIT_CODE, 1},
		    .taps = V(2, "vmtap0", "vmtap1"),
		    .n_taps = 2,
		    .block_files = V(2, "/b/storage", "/b/data"),
		    .n_block_files = 2,
		};
		reply->unikernels[1] = (struct alb_unikernel_info){
		    .name = N("alice:bye"),
		    .state = ALB_STATE_FAILED,
		    .failure = strdup("crash loop: it exited 5 times within 60 s"),
		};
		ck_assert_alb_ok(test_ctx,
				 alb_unikernel_config_new(test_ctx, &reply->unikernels[1].config));
		break;
	case ALB_REPLY_POLICIES:
		reply->n_policies = 2;
		reply->policies = calloc(2, sizeof(*reply->policies));
		ck_assert_ptr_nonnull(reply->policies);
		reply->policies[0] = (struct alb_policy_info){N(":"), sample_services_policy()};
		reply->policies[1] = (struct alb_policy_info){N("alice:"), sample_policy()};
		alb_policy_set_block_none(reply->policies[1].policy);
		break;
	case ALB_REPLY_BLOCKS:
		reply->n_blocks = 2;
		reply->blocks = calloc(2, sizeof(*reply->blocks));
		ck_assert_ptr_nonnull(reply->blocks);
		reply->blocks[0] =
		    (struct alb_block_info){N("alice:disk"), 10, 4096, N("alice:hello")};
		reply->blocks[1] = (struct alb_block_info){N("alice:spare"), 1, 0, NULL};
		break;
	case ALB_REPLY_IMAGE:
		reply->image_size = 5000000;
		reply->compressed = true;
		memcpy(reply->digest, DIGEST, 32);
		reply->tender = ALB_TENDER_HVT;
		break;
	case ALB_REPLY_NAMES:
		reply->n_names = 3;
		reply->names = calloc(3, sizeof(*reply->names));
		ck_assert_ptr_nonnull(reply->names);
		reply->names[0] = N("alice:hello");
		reply->names[1] = N("bob:");
		reply->names[2] = N("vm");
		break;
	case ALB_REPLY_TENDERS:
		reply->n_tenders = 3;
		reply->tenders = calloc(3, sizeof(*reply->tenders));
		ck_assert_ptr_nonnull(reply->tenders);
		reply->tenders[0] =
		    (struct alb_tender_info){strdup("solo5-hvt.2"),
					     strdup("/usr/lib/albatross/solo5-hvt.2"),
					     ALB_TENDER_HVT,
					     strdup("v0.12.1"),
					     2,
					     strdup("solo5-hvt cannot run on this host: no KVM")};
		reply->tenders[1] =
		    (struct alb_tender_info){strdup("solo5-spt"), strdup("/usr/bin/solo5-spt"),
					     ALB_TENDER_SPT, strdup(""), 0};
		/* No path: as albatross-tls-endpoint relays it to a remote client. */
		reply->tenders[2] = (struct alb_tender_info){strdup("solo5-spt.3"), NULL,
							     ALB_TENDER_SPT, strdup("v0.13.0"), 3};
		break;
	case ALB_REPLY_SERVICES:
		sample_services(reply);
		break;
	case ALB_REPLY_COLLECTED:
		sample_collected(reply);
		break;
	default:
		break;
	}
	return msg;
}

static alb_msg *sample_failure(void)
{
	alb_msg *msg = new_msg(ALB_MSG_FAILURE, "alice:hello");

	msg->failure.code = EDQUOT;
	msg->failure.message = strdup("memory 128 MB exceeds 64 MB");
	return msg;
}

static alb_msg *sample_data(int kind)
{
	alb_msg *msg = new_msg(ALB_MSG_DATA, "alice:hello");
	struct alb_data *data = &msg->data;

	data->kind = kind;
	switch (kind) {
	case ALB_DATA_CHUNK:
		data->chunk_len = 1000;
		data->chunk = malloc(1000);
		ck_assert_ptr_nonnull(data->chunk);
		for (int i = 0; i < 1000; i++)
			data->chunk[i] = (uint8_t)(i * 7);
		break;
	case ALB_DATA_CONSOLE:
		data->console.time_us = 1700000000000002;
		data->console.len = 4;
		data->console.line = malloc(4);
		ck_assert_ptr_nonnull(data->console.line);
		memcpy(data->console.line, "a\xff\0b", 4);
		data->console.truncated = true;
		data->console.dropped = true;
		break;
	case ALB_DATA_LOG:
		data->event = sample_event(ALB_EVENT_UNIKERNEL_STARTED);
		break;
	default:
		data->stats = sample_stats();
		break;
	}
	return msg;
}

/* Field by field comparison. */
static void assert_strv_eq(char **a, uint32_t na, char **b, uint32_t nb)
{
	ck_assert_uint_eq(na, nb);
	ck_assert(!a == !b);
	for (uint32_t i = 0; a && i < na; i++)
		ck_assert_str_eq(a[i], b[i]);
	if (a)
		ck_assert_ptr_null(b[nb]);
}

static void assert_name_eq(const alb_name *a, const alb_name *b)
{
	ck_assert(!a == !b);
	ck_assert(!a || alb_name_equal(a, b));
}

static void assert_opt_str_eq(const char *a, const char *b)
{
	ck_assert(!a == !b);
	if (a)
		ck_assert_str_eq(a, b);
}

static void assert_event_eq(const struct alb_log_event *a, const struct alb_log_event *b)
{
	ck_assert(!a == !b);
	if (!a)
		return;
	ck_assert_int_eq(a->kind, b->kind);
	ck_assert_uint_eq(a->time_us, b->time_us);
	assert_name_eq(a->name, b->name);
	ck_assert_uint_eq(a->pid, b->pid);
	ck_assert_int_eq(a->has_digest, b->has_digest);
	ck_assert_mem_eq(a->digest, b->digest, 32);
	assert_strv_eq(a->taps, a->n_taps, b->taps, b->n_taps);
	assert_strv_eq(a->blocks, a->n_blocks, b->blocks, b->n_blocks);
	ck_assert_int_eq(a->exit.kind, b->exit.kind);
	ck_assert_uint_eq(a->exit.value, b->exit.value);
	ck_assert_uint_eq(a->attempt, b->attempt);
	ck_assert_uint_eq(a->delay_us, b->delay_us);
	assert_opt_str_eq(a->identity, b->identity);
	assert_opt_str_eq(a->message, b->message);
}

static void assert_config_eq(const alb_unikernel_config *a, const alb_unikernel_config *b)
{
	ck_assert(!a == !b);
	ck_assert(!a || alb_unikernel_config_equal(a, b));
}

static void assert_policy_eq(const alb_policy *a, const alb_policy *b)
{
	ck_assert(!a == !b);
	ck_assert(!a || alb_policy_equal(a, b));
}

static void assert_spec_eq(const struct alb_service_spec *a, const struct alb_service_spec *b)
{
	ck_assert(!a == !b);
	if (!a)
		return;
	assert_opt_str_eq(a->device, b->device);
	assert_opt_str_eq(a->bridge, b->bridge);
	ck_assert_uint_eq(a->prefix, b->prefix);
	ck_assert_uint_eq(a->prefix_len, b->prefix_len);
	ck_assert_uint_eq(a->gateway, b->gateway);
	ck_assert_uint_eq(a->n_excluded, b->n_excluded);
	if (a->n_excluded)
		ck_assert_mem_eq(a->excluded, b->excluded, a->n_excluded * sizeof(*a->excluded));
	ck_assert_uint_eq(a->n_publish, b->n_publish);
	for (uint32_t i = 0; i < a->n_publish; i++) {
		ck_assert_uint_eq(a->publish[i].proto, b->publish[i].proto);
		ck_assert_uint_eq(a->publish[i].host_addr, b->publish[i].host_addr);
		ck_assert_uint_eq(a->publish[i].host_port, b->publish[i].host_port);
		ck_assert_uint_eq(a->publish[i].port, b->publish[i].port);
	}
	ck_assert_int_eq(a->ready, b->ready);
	assert_opt_str_eq(a->ready_line, b->ready_line);
	ck_assert_uint_eq(a->ready_port, b->ready_port);
	ck_assert_uint_eq(a->ready_delay_ms, b->ready_delay_ms);
	ck_assert_uint_eq(a->ready_timeout_ms, b->ready_timeout_ms);
	ck_assert_uint_eq(a->drain_ms, b->drain_ms);
}

static void assert_cmd_eq(const struct alb_cmd *a, const struct alb_cmd *b)
{
	ck_assert_int_eq(a->kind, b->kind);
	assert_config_eq(a->config, b->config);
	ck_assert_int_eq(a->has_argv, b->has_argv);
	assert_strv_eq(a->argv, a->argc, b->argv, b->argc);
	ck_assert_int_eq(a->compress, b->compress);
	assert_policy_eq(a->policy, b->policy);
	ck_assert_uint_eq(a->block_size_mb, b->block_size_mb);
	ck_assert_uint_eq(a->sector_size, b->sector_size);
	ck_assert_uint_eq(a->data_size, b->data_size);
	ck_assert_int_eq(a->compressed, b->compressed);
	ck_assert_int_eq(a->history.has_since, b->history.has_since);
	ck_assert_uint_eq(a->history.since_us, b->history.since_us);
	ck_assert_int_eq(a->history.has_count, b->history.has_count);
	ck_assert_uint_eq(a->history.count, b->history.count);
	ck_assert_int_eq(a->history.follow, b->history.follow);
	ck_assert_uint_eq(a->time_us, b->time_us);
	ck_assert_uint_eq(a->output_len, b->output_len);
	if (a->output_len)
		ck_assert_mem_eq(a->output, b->output, a->output_len);
	ck_assert_uint_eq(a->dropped, b->dropped);
	assert_opt_str_eq(a->on_behalf_of, b->on_behalf_of);
	ck_assert_uint_eq(a->pid, b->pid);
	assert_strv_eq(a->taps, a->n_taps, b->taps, b->n_taps);
	assert_event_eq(a->event, b->event);
	assert_spec_eq(a->service, b->service);
}

static void assert_reply_eq(const struct alb_reply *a, const struct alb_reply *b)
{
	ck_assert_int_eq(a->kind, b->kind);
	assert_opt_str_eq(a->string, b->string);
	ck_assert_uint_eq(a->n_unikernels, b->n_unikernels);
	for (uint32_t i = 0; i < a->n_unikernels; i++) {
		const struct alb_unikernel_info *x = &a->unikernels[i], *y = &b->unikernels[i];
		assert_name_eq(x->name, y->name);
		assert_config_eq(x->config, y->config);
		ck_assert_int_eq(x->state, y->state);
		ck_assert_uint_eq(x->pid, y->pid);
		ck_assert_uint_eq(x->started_us, y->started_us);
		ck_assert_uint_eq(x->restarts, y->restarts);
		ck_assert_int_eq(x->last_exit.kind, y->last_exit.kind);
		ck_assert_uint_eq(x->last_exit.value, y->last_exit.value);
		assert_strv_eq(x->taps, x->n_taps, y->taps, y->n_taps);
		assert_strv_eq(x->block_files, x->n_block_files, y->block_files, y->n_block_files);
		if (x->failure || y->failure) {
			ck_assert_ptr_nonnull(x->failure);
			ck_assert_ptr_nonnull(y->failure);
			ck_assert_str_eq(x->failure, y->failure);
		}
	}
	ck_assert_uint_eq(a->n_policies, b->n_policies);
	for (uint32_t i = 0; i < a->n_policies; i++) {
		assert_name_eq(a->policies[i].path, b->policies[i].path);
		assert_policy_eq(a->policies[i].policy, b->policies[i].policy);
	}
	ck_assert_uint_eq(a->n_blocks, b->n_blocks);
	for (uint32_t i = 0; i < a->n_blocks; i++) {
		assert_name_eq(a->blocks[i].name, b->blocks[i].name);
		ck_assert_uint_eq(a->blocks[i].size_mb, b->blocks[i].size_mb);
		ck_assert_uint_eq(a->blocks[i].sector_size, b->blocks[i].sector_size);
		assert_name_eq(a->blocks[i].used_by, b->blocks[i].used_by);
	}
	ck_assert_uint_eq(a->image_size, b->image_size);
	ck_assert_int_eq(a->compressed, b->compressed);
	ck_assert_mem_eq(a->digest, b->digest, 32);
	ck_assert_int_eq(a->tender, b->tender);
	ck_assert_uint_eq(a->n_names, b->n_names);
	for (uint32_t i = 0; i < a->n_names; i++)
		assert_name_eq(a->names[i], b->names[i]);
	ck_assert_uint_eq(a->n_tenders, b->n_tenders);
	for (uint32_t i = 0; i < a->n_tenders; i++) {
		const struct alb_tender_info *x = &a->tenders[i], *y = &b->tenders[i];
		ck_assert_str_eq(x->name, y->name);
		assert_opt_str_eq(x->path, y->path);
		ck_assert_int_eq(x->target, y->target);
		ck_assert_str_eq(x->version, y->version);
		ck_assert_uint_eq(x->abi, y->abi);
		assert_opt_str_eq(x->unusable, y->unusable);
	}
	ck_assert_uint_eq(a->n_services, b->n_services);
	ck_assert(!a->services == !b->services);
	for (uint32_t i = 0; i < a->n_services; i++) {
		const struct alb_service_info *x = &a->services[i], *y = &b->services[i];
		assert_name_eq(x->name, y->name);
		assert_config_eq(x->config, y->config);
		assert_spec_eq(x->spec, y->spec);
		ck_assert_uint_eq(x->generation, y->generation);
		assert_opt_str_eq(x->last_error, y->last_error);
		ck_assert_uint_eq(x->n_instances, y->n_instances);
		for (uint32_t j = 0; j < x->n_instances; j++) {
			const struct alb_service_instance *u = &x->instances[j],
							  *v = &y->instances[j];
			ck_assert_uint_eq(u->generation, v->generation);
			assert_name_eq(u->unikernel, v->unikernel);
			ck_assert_uint_eq(u->address, v->address);
			ck_assert_int_eq(u->state, v->state);
			ck_assert_uint_eq(u->until_us, v->until_us);
		}
	}
	ck_assert_uint_eq(a->n_collected, b->n_collected);
	ck_assert(!a->collected == !b->collected);
	for (uint32_t i = 0; i < a->n_collected; i++) {
		assert_name_eq(a->collected[i].unikernel, b->collected[i].unikernel);
		assert_opt_str_eq(a->collected[i].bridge, b->collected[i].bridge);
		ck_assert_uint_eq(a->collected[i].address, b->collected[i].address);
	}
}

static void assert_stats_eq(const struct alb_stats *a, const struct alb_stats *b)
{
	ck_assert(!a == !b);
	if (!a)
		return;
	ck_assert_uint_eq(a->time_us, b->time_us);
	ck_assert_uint_eq(a->pid, b->pid);
	ck_assert_uint_eq(a->utime_us, b->utime_us);
	ck_assert_uint_eq(a->stime_us, b->stime_us);
	ck_assert_uint_eq(a->rss_bytes, b->rss_bytes);
	ck_assert_uint_eq(a->vsize_bytes, b->vsize_bytes);
	ck_assert_uint_eq(a->minflt, b->minflt);
	ck_assert_uint_eq(a->majflt, b->majflt);
	ck_assert_uint_eq(a->nvcsw, b->nvcsw);
	ck_assert_uint_eq(a->nivcsw, b->nivcsw);
	ck_assert_uint_eq(a->start_time_us, b->start_time_us);
	ck_assert_uint_eq(a->n_ifs, b->n_ifs);
	for (uint32_t i = 0; i < a->n_ifs; i++) {
		const struct alb_if_stats *x = &a->ifs[i], *y = &b->ifs[i];
		ck_assert_str_eq(x->name, y->name);
		ck_assert(x->rx_bytes == y->rx_bytes && x->rx_packets == y->rx_packets &&
			  x->rx_errors == y->rx_errors && x->rx_drops == y->rx_drops &&
			  x->tx_bytes == y->tx_bytes && x->tx_packets == y->tx_packets &&
			  x->tx_errors == y->tx_errors && x->tx_drops == y->tx_drops);
	}
	ck_assert_uint_eq(a->n_kvm, b->n_kvm);
	for (uint32_t i = 0; i < a->n_kvm; i++) {
		ck_assert_str_eq(a->kvm[i].key, b->kvm[i].key);
		ck_assert_uint_eq(a->kvm[i].value, b->kvm[i].value);
	}
}

static void assert_msg_eq(const alb_msg *a, const alb_msg *b)
{
	ck_assert_uint_eq(a->version, b->version);
	ck_assert_uint_eq(a->seq, b->seq);
	assert_name_eq(a->name, b->name);
	ck_assert_int_eq(a->kind, b->kind);
	assert_cmd_eq(&a->cmd, &b->cmd);
	assert_reply_eq(&a->reply, &b->reply);
	ck_assert_uint_eq(a->failure.code, b->failure.code);
	assert_opt_str_eq(a->failure.message, b->failure.message);
	ck_assert_int_eq(a->data.kind, b->data.kind);
	ck_assert_uint_eq(a->data.chunk_len, b->data.chunk_len);
	ck_assert(!a->data.chunk == !b->data.chunk);
	if (a->data.chunk)
		ck_assert_mem_eq(a->data.chunk, b->data.chunk, a->data.chunk_len);
	ck_assert_uint_eq(a->data.console.time_us, b->data.console.time_us);
	ck_assert_uint_eq(a->data.console.len, b->data.console.len);
	if (a->data.console.len)
		ck_assert_mem_eq(a->data.console.line, b->data.console.line, a->data.console.len);
	ck_assert_int_eq(a->data.console.truncated, b->data.console.truncated);
	ck_assert_int_eq(a->data.console.dropped, b->data.console.dropped);
	assert_event_eq(a->data.event, b->data.event);
	assert_stats_eq(a->data.stats, b->data.stats);
}

/* Encodes, decodes, compares every field, encodes again and compares the bytes. */
static void round_trip(alb_msg *msg)
{
	uint8_t *a = NULL, *b = NULL;
	uint64_t la, lb;
	alb_msg *decoded = NULL;

	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, msg, &a, &la));
	ck_assert_alb_ok(test_ctx, alb_msg_decode(test_ctx, a, la, &decoded));
	assert_msg_eq(msg, decoded);
	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, decoded, &b, &lb));
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(a, b, la);
	alb_free(a);
	alb_free(b);
	alb_msg_free(decoded);
	alb_msg_free(msg);
}

START_TEST(test_round_trip_commands)
{
	for (int command = ALB_CMD_UNIKERNEL_INFO; command <= ALB_CMD_COLLECT; command++)
		for (int variant = 0; variant < 3; variant++)
			round_trip(sample_command(command, variant));
}
END_TEST

START_TEST(test_on_behalf_of_bounds)
{
	uint8_t *buf = NULL;
	uint64_t len;
	alb_msg *msg = new_msg(ALB_MSG_COMMAND, "alice:hello"), *out = NULL;

	msg->cmd.kind = ALB_CMD_UNIKERNEL_DESTROY;
	/* Empty and over 256 bytes: the encoder refuses what the decoder would. */
	msg->cmd.on_behalf_of = strdup("");
	ck_assert_int_lt(alb_msg_encode(test_ctx, msg, &buf, &len), 0);
	free(msg->cmd.on_behalf_of);
	msg->cmd.on_behalf_of = calloc(1, ALB_ON_BEHALF_OF_MAX + 2);
	memset(msg->cmd.on_behalf_of, 'x', ALB_ON_BEHALF_OF_MAX + 1);
	ck_assert_int_lt(alb_msg_encode(test_ctx, msg, &buf, &len), 0);
	msg->cmd.on_behalf_of[ALB_ON_BEHALF_OF_MAX] = '\0';
	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, msg, &buf, &len));
	ck_assert_alb_ok(test_ctx, alb_msg_decode(test_ctx, buf, len, &out));
	ck_assert_uint_eq(strlen(out->cmd.on_behalf_of), ALB_ON_BEHALF_OF_MAX);
	alb_free(buf);
	alb_msg_free(out);
	alb_msg_free(msg);
}
END_TEST

START_TEST(test_round_trip_replies)
{
	for (int kind = ALB_REPLY_EMPTY; kind <= ALB_REPLY_COLLECTED; kind++)
		round_trip(sample_reply(kind));
	round_trip(sample_failure());
}
END_TEST

/* A deploy with each readiness kind, and with the least a spec holds. */
START_TEST(test_round_trip_service_deploy)
{
	for (int ready = ALB_READY_NONE; ready <= ALB_READY_DELAY; ready++) {
		alb_msg *msg = new_msg(ALB_MSG_COMMAND, "alice:web");
		msg->cmd.kind = ALB_CMD_SERVICE_DEPLOY;
		msg->cmd.config = sample_config();
		msg->cmd.service = sample_spec(ready);
		round_trip(msg);
	}

	/* No gateway, nothing excluded or published, no drain, the bounds of the times and
	 * prefix lengths. */
	static const uint32_t lens[] = {8, 30};
	for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
		alb_msg *msg = new_msg(ALB_MSG_COMMAND, "alice:web");
		struct alb_service_spec *s = sample_spec(ALB_READY_DELAY);
		msg->cmd.kind = ALB_CMD_SERVICE_DEPLOY;
		msg->cmd.config = sample_config();
		msg->cmd.service = s;
		s->prefix = lens[i] == 8 ? IP4(10, 0, 0, 0) : IP4(10, 0, 0, 252);
		s->prefix_len = lens[i];
		s->gateway = 0;
		s->excluded = (free(s->excluded), NULL);
		s->n_excluded = 0;
		s->publish = (free(s->publish), NULL);
		s->n_publish = 0;
		s->ready_delay_ms = i == 0 ? 0 : ALB_SERVICE_MS_MAX - 1;
		if (i == 0) /* a timeout of 1 ms leaves no room for a delay */
			s->ready = ALB_READY_NONE;
		s->ready_timeout_ms = i == 0 ? 1 : ALB_SERVICE_MS_MAX;
		s->drain_ms = i == 0 ? 0 : ALB_SERVICE_MS_MAX;
		round_trip(msg);
	}

	/* The largest lists, and the longest readiness line. */
	alb_msg *msg = new_msg(ALB_MSG_COMMAND, "alice:web");
	struct alb_service_spec *s = sample_spec(ALB_READY_LINE);
	msg->cmd.kind = ALB_CMD_SERVICE_DEPLOY;
	msg->cmd.config = sample_config();
	msg->cmd.service = s;
	s->prefix = IP4(10, 0, 0, 0);
	s->prefix_len = 16;
	s->excluded = realloc(s->excluded, ALB_SERVICE_EXCLUDE_MAX * sizeof(*s->excluded));
	ck_assert_ptr_nonnull(s->excluded);
	s->n_excluded = ALB_SERVICE_EXCLUDE_MAX;
	for (uint32_t i = 0; i < ALB_SERVICE_EXCLUDE_MAX; i++)
		s->excluded[i] = IP4(10, 0, 1, i);
	s->publish = realloc(s->publish, ALB_SERVICE_PUBLISH_MAX * sizeof(*s->publish));
	ck_assert_ptr_nonnull(s->publish);
	s->n_publish = ALB_SERVICE_PUBLISH_MAX;
	for (uint32_t i = 0; i < ALB_SERVICE_PUBLISH_MAX; i++)
		s->publish[i] = (struct alb_publish){i % 2 ? 17 : 6, i % 3 ? IP4(192, 0, 2, i) : 0,
						     9000 + i, 1 + i};
	free(s->ready_line);
	s->ready_line = malloc(ALB_READY_LINE_MAX + 1);
	ck_assert_ptr_nonnull(s->ready_line);
	memset(s->ready_line, 'r', ALB_READY_LINE_MAX);
	s->ready_line[ALB_READY_LINE_MAX] = '\0';
	round_trip(msg);
}
END_TEST

/* Services without instances, an empty list of each, a collected address alone, and the
 * events of services. */
START_TEST(test_round_trip_services)
{
	alb_msg *msg = sample_reply(ALB_REPLY_SERVICES);
	for (uint32_t i = 0; i < msg->reply.n_services; i++)
		ck_assert_uint_le(msg->reply.services[i].n_instances, ALB_SERVICE_INSTANCES_MAX);
	round_trip(msg);

	msg = new_msg(ALB_MSG_SUCCESS, "alice:");
	msg->reply.kind = ALB_REPLY_SERVICES;
	msg->reply.services = calloc(1, sizeof(*msg->reply.services));
	round_trip(msg);

	msg = new_msg(ALB_MSG_SUCCESS, "alice:");
	msg->reply.kind = ALB_REPLY_COLLECTED;
	msg->reply.collected = calloc(1, sizeof(*msg->reply.collected));
	round_trip(msg);

	msg = new_msg(ALB_MSG_SUCCESS, ":");
	msg->reply.kind = ALB_REPLY_COLLECTED;
	msg->reply.n_collected = 1;
	msg->reply.collected = calloc(1, sizeof(*msg->reply.collected));
	ck_assert_ptr_nonnull(msg->reply.collected);
	msg->reply.collected[0] = (struct alb_collected){NULL, strdup("br0"), IP4(10, 0, 0, 9)};
	round_trip(msg);

	for (int kind = ALB_EVENT_SERVICE_ALLOCATED; kind <= ALB_EVENT_SERVICE_REMOVED; kind++) {
		struct alb_log_event *ev = NULL;
		alb_name *name = N(kind <= ALB_EVENT_SERVICE_RETIRED ? "alice:web.7" : "alice:web");

		ck_assert_alb_ok(test_ctx, alb_log_event_new(kind, name, 1700000000000000, &ev));
		ck_assert_alb_ok(test_ctx, alb_log_event_set_identity(ev, "uid 0"));
		ck_assert_alb_ok(test_ctx,
				 alb_log_event_set_message(ev, "10.0.0.4 on br0, generation 7"));
		alb_name_free(name);
		msg = new_msg(ALB_MSG_COMMAND, "alice:web");
		msg->cmd.kind = ALB_CMD_LOG_EVENT;
		msg->cmd.event = ev;
		round_trip(msg);
		msg = new_msg(ALB_MSG_DATA, ":");
		msg->data.kind = ALB_DATA_LOG;
		ck_assert_alb_ok(test_ctx, alb_log_event_new(kind, NULL, 1, &msg->data.event));
		round_trip(msg);
	}
}
END_TEST

START_TEST(test_round_trip_data)
{
	for (int kind = ALB_DATA_CHUNK; kind <= ALB_DATA_STATS; kind++)
		round_trip(sample_data(kind));

	/* The largest chunk and an empty console line. */
	alb_msg *msg = sample_data(ALB_DATA_CHUNK);
	free(msg->data.chunk);
	msg->data.chunk = calloc(1, ALB_CHUNK_MAX);
	msg->data.chunk_len = ALB_CHUNK_MAX;
	round_trip(msg);
	msg = sample_data(ALB_DATA_CONSOLE);
	msg->data.console.len = 0;
	round_trip(msg);
}
END_TEST

/* A frame the caller owns: a long chunk takes the frame's buffer, everything else is
 * decoded as alb_msg_decode() does, with its reasons. */
static void decode_frame_as_decode(const uint8_t *enc, uint64_t len, bool taken)
{
	uint8_t *buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, enc, len);
	alb_msg *a = NULL, *b = NULL;
	int ra = alb_msg_decode(test_ctx, enc, len, &a);
	char why[512];
	snprintf(why, sizeof(why), "%s", alb_ctx_last_error(test_ctx));
	int rb = alb_msg_decode_frame(test_ctx, &buf, len, &b);
	ck_assert_int_eq(rb, ra);
	if (ra < 0)
		ck_assert_str_eq(alb_ctx_last_error(test_ctx), why);
	else {
		uint8_t *ea, *eb;
		uint64_t la, lb;
		ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, a, &ea, &la));
		ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, b, &eb, &lb));
		ck_assert_uint_eq(la, lb);
		ck_assert_mem_eq(ea, eb, la);
		free(ea);
		free(eb);
	}
	ck_assert(taken ? buf == NULL : buf != NULL);
	free(buf);
	alb_msg_free(a);
	alb_msg_free(b);
}

START_TEST(test_decode_frame)
{
	/* Chunks: short (the general way), long (taken), the largest, one over. */
	static const size_t sizes[] = {1000,   65535,	      65536,
				       300000, ALB_CHUNK_MAX, ALB_CHUNK_MAX + 1};
	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		alb_msg *msg = sample_data(ALB_DATA_CHUNK);
		free(msg->data.chunk);
		msg->data.chunk = malloc(sizes[i]);
		ck_assert_ptr_nonnull(msg->data.chunk);
		for (size_t k = 0; k < sizes[i]; k++)
			msg->data.chunk[k] = (uint8_t)(k * 13 + k / 977);
		msg->data.chunk_len = (uint32_t)sizes[i];
		uint8_t *enc;
		uint64_t len;
		ck_assert_alb_ok(test_ctx, alb_msg_encode_unchecked(test_ctx, msg, &enc, &len));
		bool fast = sizes[i] > 65535 && sizes[i] <= ALB_CHUNK_MAX;
		decode_frame_as_decode(enc, len, fast);
		if (fast) {
			uint8_t *buf = malloc(len);
			memcpy(buf, enc, len);
			alb_msg *got = NULL;
			ck_assert_alb_ok(test_ctx, alb_msg_decode_frame(test_ctx, &buf, len, &got));
			ck_assert_uint_eq(got->data.chunk_len, sizes[i]);
			ck_assert_mem_eq(got->data.chunk, msg->data.chunk, sizes[i]);
			ck_assert(alb_name_equal(got->name, msg->name));
			ck_assert_uint_eq(got->seq, msg->seq);
			alb_msg_free(got);
			/* Cut short, one byte too many, a bad envelope: refused as decode does. */
			decode_frame_as_decode(enc, len - 1, false);
			uint8_t *more = malloc(len + 1);
			memcpy(more, enc, len);
			more[len] = 0;
			decode_frame_as_decode(more, len + 1, false);
			more[0] ^= 0x01; /* a map of 3 or 5 entries */
			decode_frame_as_decode(more, len, false);
			free(more);
			/* An envelope encoded otherwise (a 5-byte seq): the general way. */
			size_t at = 0;
			while (memcmp(enc + at, "cseq", 4) != 0)
				at++;
			at += 4;
			ck_assert_uint_eq(enc[at], 0x18); /* 42: one byte after 0x18 */
			ck_assert_uint_eq(enc[at + 1], 42);
			uint8_t *odd = malloc(len + 3);
			memcpy(odd, enc, at);
			memcpy(odd + at, "\x1a\0\0\0\x2a", 5);
			memcpy(odd + at + 5, enc + at + 2, len - at - 2);
			decode_frame_as_decode(odd, len + 3, false);
			free(odd);
		}
		free(enc);
		alb_msg_free(msg);
	}
	/* A long console line ends a frame in a byte string too: not a chunk. */
	alb_msg *msg = sample_data(ALB_DATA_CONSOLE);
	msg->data.console.line = realloc(msg->data.console.line, 70000);
	memset(msg->data.console.line, 'x', 70000);
	msg->data.console.len = 70000;
	msg->data.console.dropped = false;
	uint8_t *enc;
	uint64_t len;
	ck_assert_alb_ok(test_ctx, alb_msg_encode_unchecked(test_ctx, msg, &enc, &len));
	decode_frame_as_decode(enc, len, false);
	free(enc);
	alb_msg_free(msg);
}
END_TEST

START_TEST(test_accessors)
{
	alb_msg *msg = sample_failure();
	int32_t code;
	const char *message;

	ck_assert_int_eq(alb_msg_get_kind(msg), ALB_MSG_FAILURE);
	ck_assert_uint_eq(alb_msg_get_seq(msg), 42);
	ck_assert(alb_name_equal(alb_msg_get_name(msg), msg->name));
	ck_assert_int_eq(alb_msg_get_command(msg), -EINVAL);
	ck_assert_alb_ok(test_ctx, alb_msg_get_failure(msg, &code, &message));
	ck_assert_int_eq(code, EDQUOT);
	ck_assert_str_eq(message, "memory 128 MB exceeds 64 MB");
	alb_msg_free(msg);

	msg = sample_command(ALB_CMD_BLOCK_SET, 0);
	ck_assert_int_eq(alb_msg_get_command(msg), ALB_CMD_BLOCK_SET);
	ck_assert_int_eq(alb_msg_get_failure(msg, &code, &message), -EINVAL);
	alb_msg_free(msg);

	ck_assert_int_eq(alb_msg_get_kind(NULL), -EINVAL);
	ck_assert_ptr_null(alb_msg_get_name(NULL));
	ck_assert_ptr_null(alb_msg_free(NULL));
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_UNIKERNEL_FORCE_CREATE),
			 "unikernel-force-create");
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_LOG_EVENT), "log-event");
	ck_assert_ptr_null(alb_command_to_string(0));
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_TENDERS_INFO), "tenders-info");
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_CONSOLE_DATA), "console-data");
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_CONSOLE_END), "console-end");
	ck_assert_int_eq(ALB_CMD_LOG_EVENT, 22); /* appending kept the values */
	ck_assert_int_eq(ALB_CMD_TENDERS_INFO, 23);
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_FEED), "feed");
	ck_assert_int_eq(ALB_CMD_FEED, ALB_CMD_CONSOLE_END + 1);
	ck_assert_str_eq(alb_log_event_kind_to_string(ALB_EVENT_BLOCK_REMOVED), "block-removed");
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_SERVICE_DEPLOY), "service-deploy");
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_SERVICE_INFO), "service-info");
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_SERVICE_REMOVE), "service-remove");
	ck_assert_str_eq(alb_command_to_string(ALB_CMD_COLLECT), "collect");
	ck_assert_int_eq(ALB_CMD_SERVICE_DEPLOY, ALB_CMD_FEED + 1); /* appended */
	ck_assert_ptr_null(alb_command_to_string(ALB_CMD_COLLECT + 1));
	ck_assert_int_eq(ALB_EVENT_SERVICE_ALLOCATED, ALB_EVENT_BLOCK_REMOVED + 1);
	ck_assert_str_eq(alb_log_event_kind_to_string(ALB_EVENT_SERVICE_ALLOCATED),
			 "service-allocated");
	ck_assert_str_eq(alb_log_event_kind_to_string(ALB_EVENT_SERVICE_SWITCHED),
			 "service-switched");
	ck_assert_str_eq(alb_log_event_kind_to_string(ALB_EVENT_SERVICE_RETIRED),
			 "service-retired");
	ck_assert_str_eq(alb_log_event_kind_to_string(ALB_EVENT_SERVICE_UPDATE_FAILED),
			 "service-update-failed");
	ck_assert_str_eq(alb_log_event_kind_to_string(ALB_EVENT_SERVICE_REMOVED),
			 "service-removed");
	ck_assert_ptr_null(alb_log_event_kind_to_string(ALB_EVENT_SERVICE_REMOVED + 1));
	ck_assert_str_eq(alb_unikernel_state_to_string(ALB_STATE_RESTARTING), "restarting");
	ck_assert_ptr_null(alb_unikernel_state_to_string(-1));
	ck_assert_int_eq(alb_msg_new(&msg, 5, 0, NULL), -EINVAL);
}
END_TEST

/* Encoding a structure that would not decode fails with -EINVAL, naming the field. */
static void assert_encode_invalid(alb_msg *msg, const char *needle)
{
	uint8_t *buf = NULL;
	uint64_t len;

	ck_assert_alb_err(test_ctx, alb_msg_encode(test_ctx, msg, &buf, &len), EINVAL);
	ck_assert_last_error_has(test_ctx, needle);
	ck_assert_ptr_null(buf);
	alb_msg_free(msg);
}

START_TEST(test_encode_invalid)
{
	alb_msg *msg = sample_data(ALB_DATA_CHUNK);
	msg->data.chunk_len = 0;
	assert_encode_invalid(msg, "data.chunk");

	msg = sample_failure();
	msg->failure.code = 0;
	assert_encode_invalid(msg, "failure.code: 0 is out of range 1..4095");

	msg = sample_failure();
	free(msg->failure.message);
	msg->failure.message = NULL;
	assert_encode_invalid(msg, "failure.message: expected a text string, got null");

	msg = sample_command(ALB_CMD_UNIKERNEL_CREATE, 0);
	msg->cmd.config->memory_mb = 0;
	assert_encode_invalid(msg, "command.config.memory");

	msg = sample_command(ALB_CMD_CONSOLE_SUBSCRIBE, 1);
	msg->cmd.history.has_count = true;
	msg->cmd.history.count = 5;
	assert_encode_invalid(msg, "command.count");

	msg = sample_reply(ALB_REPLY_UNIKERNELS);
	msg->reply.unikernels[0].n_taps = 1;
	assert_encode_invalid(msg, "success.unikernels[0].taps");

	msg = sample_command(ALB_CMD_STATS_REMOVE, 0);
	msg->cmd.kind = 99;
	assert_encode_invalid(msg, "command.op");

	msg = sample_failure();
	msg->kind = 7;
	assert_encode_invalid(msg, "exactly one of");

	msg = sample_failure();
	msg->name = alb_name_free(msg->name);
	assert_encode_invalid(msg, "name: expected a text string");

	msg = sample_failure();
	msg->version = 2;
	assert_encode_invalid(msg, "version 2");
}
END_TEST

/* Malformed input. */
static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;

	for (const char *p = hex; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		unsigned v;
		ck_assert_int_eq(sscanf(p, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

static int decode(const uint8_t *buf, size_t len)
{
	alb_msg *msg = NULL;
	int r = alb_msg_decode(test_ctx, buf, len, &msg);

	ck_assert(r < 0 || msg);
	alb_msg_free(msg);
	return r;
}

struct raw_case {
	const char *what;
	const char *hex;
	int err;
	const char *needle;
};

static const struct raw_case raw_cases[] = {
    {"empty input", "", EBADMSG, "truncated"},
    {"truncated map", "a3 67 76657273696f6e 01", EBADMSG, "truncated"},
    {"truncated integer", "1a 0000", EBADMSG, "truncated"},
    {"trailing byte", "a0 00", EBADMSG, "trailing"},
    {"indefinite-length array", "9f 01 ff", EBADMSG, "indefinite"},
    {"indefinite-length text", "7f 6161 ff", EBADMSG, "indefinite"},
    {"huge array count in 5 bytes", "9a ffffffff", EBADMSG, "cannot fit"},
    {"huge map count in 5 bytes", "ba ffffffff", EBADMSG, "cannot fit"},
    {"huge string length", "7b 00000000ffffffff 61", EBADMSG, "exceeds the 1 bytes left"},
    {"tag", "c0 6161", EBADMSG, "tags"},
    {"half float", "f9 3c00", EBADMSG, "floats"},
    {"double", "fb 3ff0000000000000", EBADMSG, "floats"},
    {"undefined", "f7", EBADMSG, "simple value"},
    {"simple value 32", "f8 20", EBADMSG, "simple value"},
    {"reserved additional information", "1c", EBADMSG, "reserved"},
    {"lone break", "ff", EBADMSG, "indefinite"},
    {"not a map", "01", EBADMSG, "message: expected a map, got an unsigned integer"},
    {"non-text key", "a1 01 01", EBADMSG, "key 0 is an unsigned integer"},
    {"duplicate key", "a4 67 76657273696f6e 01 67 76657273696f6e 01 63 736571 00 64 6e616d65 61 61",
     EBADMSG, "version: duplicate key"},
    {"version 2", "a1 67 76657273696f6e 02", EPROTO, "unsupported protocol version 2"},
    {"missing version", "a1 63 736571 00", EBADMSG, "version: missing"},
};

START_TEST(test_malformed_raw)
{
	const struct raw_case *c = &raw_cases[_i];
	uint8_t buf[256];
	size_t len = unhex(c->hex, buf);

	ck_assert_msg(decode(buf, len) == -c->err, "%s: got '%s'", c->what,
		      alb_ctx_last_error(test_ctx));
	ck_assert_last_error_has(test_ctx, c->needle);
}
END_TEST

START_TEST(test_malformed_depth)
{
	uint8_t buf[101];

	memset(buf, 0x81, 100); /* 100 nested one-element arrays */
	buf[100] = 0;
	ck_assert_alb_err(test_ctx, decode(buf, sizeof(buf)), EBADMSG);
	ck_assert_last_error_has(test_ctx, "nesting deeper than 16");
}
END_TEST

START_TEST(test_malformed_container_bound)
{
	size_t n = ALB_CBOR_CONTAINER_MAX + 1;
	uint8_t *buf = calloc(5 + n, 1);

	buf[0] = 0x9a;
	buf[1] = (uint8_t)(n >> 24);
	buf[2] = (uint8_t)(n >> 16);
	buf[3] = (uint8_t)(n >> 8);
	buf[4] = (uint8_t)n;
	ck_assert_alb_err(test_ctx, decode(buf, 5 + n), EBADMSG);
	ck_assert_last_error_has(test_ctx, "65537 elements exceed the bound 65536");
	free(buf);
}
END_TEST

/*
 * Mutations of valid messages: the value at a path (keys and array indices
 * joined by '.') is replaced, added or (value NULL) removed.
 */
static cbor_item_t *mutate(const cbor_item_t *item, const char *path, cbor_item_t *value)
{
	const char *dot = strchr(path, '.');
	size_t seg = dot ? (size_t)(dot - path) : strlen(path);
	const char *rest = dot ? dot + 1 : "";
	cbor_item_t *out;

	if (cbor_isa_array(item)) {
		size_t index = strtoul(path, NULL, 10);
		out = cbor_new_definite_array(cbor_array_size(item));
		for (size_t i = 0; i < cbor_array_size(item); i++) {
			cbor_item_t *elt = cbor_array_handle(item)[i];
			cbor_item_t *child = i != index ? cbor_incref(elt)
					     : rest[0]	? mutate(elt, rest, value)
					     : value	? cbor_incref(value)
							: NULL;
			if (child) {
				ck_assert(cbor_array_push(out, child));
				cbor_decref(&child);
			}
		}
		return out;
	}
	ck_assert(cbor_isa_map(item));
	bool found = false;
	out = cbor_new_definite_map(cbor_map_size(item) + 1);
	for (size_t i = 0; i < cbor_map_size(item); i++) {
		struct cbor_pair pair = cbor_map_handle(item)[i];
		cbor_item_t *child = cbor_incref(pair.value);
		if (cbor_string_length(pair.key) == seg &&
		    memcmp(cbor_string_handle(pair.key), path, seg) == 0) {
			found = true;
			cbor_decref(&child);
			child = rest[0] ? mutate(pair.value, rest, value)
				: value ? cbor_incref(value)
					: NULL;
		}
		if (child) {
			ck_assert(cbor_map_add(out, (struct cbor_pair){pair.key, child}));
			cbor_decref(&child);
		}
	}
	if (!found && value) {
		ck_assert(!rest[0]);
		cbor_item_t *key = cbor_build_stringn(path, seg);
		ck_assert(cbor_map_add(out, (struct cbor_pair){key, value}));
		cbor_decref(&key);
	}
	return out;
}

/* Decodes msg (freed) after the mutation. */
static int decode_mutated(alb_msg *msg, const char *path, cbor_item_t *value)
{
	uint8_t *buf = NULL;
	uint64_t len;
	struct cbor_load_result result;
	unsigned char *out = NULL;
	size_t size;

	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, msg, &buf, &len));
	alb_msg_free(msg);
	cbor_item_t *item = cbor_load(buf, len, &result);
	ck_assert_ptr_nonnull(item);
	alb_free(buf);
	cbor_item_t *mutated = mutate(item, path, value);
	len = cbor_serialize_alloc(mutated, &out, &size);
	ck_assert_uint_gt(len, 0);
	int r = decode(out, len);
	free(out);
	cbor_decref(&mutated);
	cbor_decref(&item);
	if (value)
		cbor_decref(&value);
	return r;
}

/* A CBOR item in hex, or "T:" and the bytes of a text string (which may be invalid UTF-8,
 * which cbor_load() would refuse), or "S:" and a text string as it is. */
static cbor_item_t *hex_item(const char *hex)
{
	uint8_t buf[256];
	struct cbor_load_result result;

	if (strncmp(hex, "T:", 2) == 0) {
		size_t len = unhex(hex + 2, buf);
		return cbor_build_stringn((const char *)buf, len);
	}
	if (strncmp(hex, "S:", 2) == 0) /* "S:" and the text itself */
		return cbor_build_string(hex + 2);
	size_t len = unhex(hex, buf);
	cbor_item_t *item = cbor_load(buf, len, &result);

	ck_assert_ptr_nonnull(item);
	ck_assert_uint_eq(result.read, len);
	return item;
}

enum {
	B_CREATE,
	B_RESTART,
	B_POLICY_ADD,
	B_BLOCK_ADD,
	B_BLOCK_SET,
	B_SUBSCRIBE,
	B_STATS_ADD,
	B_LOG_EVENT,
	B_UNIKERNELS,
	B_POLICIES,
	B_IMAGE,
	B_TENDERS,
	B_FAILURE,
	B_CHUNK,
	B_CONSOLE,
	B_STATS,
	B_DEPLOY,      /* readiness: a console line */
	B_DEPLOY_TCP,  /* readiness: a TCP port */
	B_DEPLOY_NONE, /* readiness: none */
	B_SERVICES,
	B_COLLECTED,
};

static alb_msg *base_msg(int base)
{
	switch (base) {
	case B_CREATE:
		return sample_command(ALB_CMD_UNIKERNEL_CREATE, 0);
	case B_RESTART:
		return sample_command(ALB_CMD_UNIKERNEL_RESTART, 1);
	case B_POLICY_ADD:
		return sample_command(ALB_CMD_POLICY_ADD, 0);
	case B_BLOCK_ADD:
		return sample_command(ALB_CMD_BLOCK_ADD, 0);
	case B_BLOCK_SET:
		return sample_command(ALB_CMD_BLOCK_SET, 0);
	case B_SUBSCRIBE:
		return sample_command(ALB_CMD_CONSOLE_SUBSCRIBE, 1);
	case B_STATS_ADD:
		return sample_command(ALB_CMD_STATS_ADD, 0);
	case B_LOG_EVENT:
		return sample_command(ALB_CMD_LOG_EVENT, 0);
	case B_UNIKERNELS:
		return sample_reply(ALB_REPLY_UNIKERNELS);
	case B_POLICIES:
		return sample_reply(ALB_REPLY_POLICIES);
	case B_IMAGE:
		return sample_reply(ALB_REPLY_IMAGE);
	case B_TENDERS:
		return sample_reply(ALB_REPLY_TENDERS);
	case B_FAILURE:
		return sample_failure();
	case B_CHUNK:
		return sample_data(ALB_DATA_CHUNK);
	case B_CONSOLE:
		return sample_data(ALB_DATA_CONSOLE);
	case B_DEPLOY:
		return sample_command(ALB_CMD_SERVICE_DEPLOY, 0);
	case B_DEPLOY_TCP:
		return sample_command(ALB_CMD_SERVICE_DEPLOY, 1);
	case B_DEPLOY_NONE:
		return sample_command(ALB_CMD_SERVICE_DEPLOY, 2);
	case B_SERVICES:
		return sample_reply(ALB_REPLY_SERVICES);
	case B_COLLECTED:
		return sample_reply(ALB_REPLY_COLLECTED);
	default:
		return sample_data(ALB_DATA_STATS);
	}
}

struct mutation_case {
	int base;
	const char *path;
	const char *hex; /* the new value; NULL removes the key */
	int err;
	const char *needle;
};

static const struct mutation_case mutation_cases[] = {
    {B_FAILURE, "version", "02", EPROTO, "unsupported protocol version 2"},
    {B_FAILURE, "version", "1b ffffffffffffffff", EPROTO, "unsupported protocol version"},
    {B_FAILURE, "version", "61 31", EBADMSG, "version: expected an unsigned integer"},
    {B_FAILURE, "seq", NULL, EBADMSG, "seq: missing"},
    {B_FAILURE, "seq", "63 343231", EBADMSG, "seq: expected an unsigned integer, got a text"},
    {B_FAILURE, "seq", "20", EBADMSG, "seq: expected an unsigned integer, got a negative"},
    {B_FAILURE, "foo", "00", EBADMSG, "message: unknown key 'foo'"},
    {B_FAILURE, "data", "a0", EBADMSG, "exactly one of command, success, failure, data"},
    {B_FAILURE, "failure", NULL, EBADMSG, "exactly one of command, success, failure, data"},
    {B_FAILURE, "name", "64 613a3a62", EBADMSG, "name: "},
    {B_FAILURE, "name", "60", EBADMSG, "name: "},
    {B_FAILURE, "failure.code", "00", EBADMSG, "failure.code: 0 is out of range 1..4095"},
    {B_FAILURE, "failure.code", "19 1000", EBADMSG, "failure.code: 4096 is out of range"},
    {B_FAILURE, "failure.message", "T:c328", EBADMSG, "failure.message: string is not valid UTF-8"},
    {B_FAILURE, "failure.message", "63 610062", EBADMSG, "failure.message: string contains a NUL"},
    {B_FAILURE, "failure.message", "40", EBADMSG,
     "failure.message: expected a text string, got a byte string"},
    {B_FAILURE, "failure.extra", "f5", EBADMSG, "failure: unknown key 'extra'"},
    {B_CREATE, "command.op", "6d 756e696b65726e656c2d666c79", EBADMSG,
     "command.op: unknown value 'unikernel-fly'"},
    {B_CREATE, "command.op", NULL, EBADMSG, "command.op: missing"},
    {B_CREATE, "command.op", "01", EBADMSG, "command.op: expected a text string"},
    {B_CREATE, "command.compress", "f5", EBADMSG, "command: unknown key 'compress'"},
    {B_CREATE, "command.config", NULL, EBADMSG, "command.config: missing"},
    {B_CREATE, "command", "80", EBADMSG, "command: expected a map, got an array"},
    {B_CREATE, "command.config.memory", "00", EBADMSG,
     "command.config.memory: 0 is out of range 1..1048576"},
    {B_CREATE, "command.config.memory", "f4", EBADMSG,
     "command.config.memory: expected an unsigned integer, got a boolean"},
    {B_CREATE, "command.config.cpuids", "81 1a 00011170", EBADMSG,
     "command.config.cpuids[0]: 70000 is out of range 0..65535"},
    {B_CREATE, "command.config.cpuids", "82 02 01", EBADMSG,
     "command.config.cpuids[1]: 1 is not above 2"},
    {B_CREATE, "command.config.cpuids", "82 01 01", EBADMSG,
     "command.config.cpuids[1]: 1 is not above 1"},
    {B_CREATE, "command.config.exit-codes", "81 19 0100", EBADMSG,
     "command.config.exit-codes[0]: 256 is out of range 0..255"},
    {B_CREATE, "command.config.tender", "63 78656e", EBADMSG,
     "command.config.tender: unknown value 'xen'"},
    {B_CREATE, "command.config.fail-behaviour", "65 6e65766572", EBADMSG,
     "command.config.fail-behaviour: unknown value 'never'"},
    {B_CREATE, "command.config.startup", "18 65", EBADMSG,
     "command.config.startup: 101 is out of range 0..100"},
    {B_CREATE, "command.config.image-size", "1b 0000000100000001", EBADMSG,
     "command.config.image-size: 4294967297 is out of range"},
    {B_CREATE, "command.config.digest", "45 0102030405", EBADMSG,
     "command.config.digest: expected 32 bytes, got 5"},
    {B_CREATE, "command.config.nets.0.mac", "45 0200000000", EBADMSG,
     "command.config.nets[0].mac: expected 6 bytes, got 5"},
    {B_CREATE, "command.config.nets.0.mac", "46 010000000001", EBADMSG,
     "command.config.nets[0].mac: a multicast address"},
    {B_CREATE, "command.config.nets.0.bridge", "64 62722030", EBADMSG, "command.config.nets[0]: "},
    {B_CREATE, "command.config.nets.0.name", "63 612d62", EBADMSG, "command.config.nets[0]: "},
    {B_CREATE, "command.config.nets.0.name", "67 73746f72616765", EBADMSG,
     "command.config.nets[0]: device name 'storage' is used twice"},
    {B_CREATE, "command.config.nets.1.speed", "01", EBADMSG,
     "command.config.nets[1]: unknown key 'speed'"},
    {B_CREATE, "command.config.blocks.0.sector-size", "19 03e8", EBADMSG,
     "command.config.blocks[0].sector-size: 1000 is not a power of two"},
    {B_CREATE, "command.config.blocks.0.sector-size", "19 0100", EBADMSG,
     "command.config.blocks[0].sector-size: 256 is out of range 512..65536"},
    {B_CREATE, "command.config.blocks.1.host", "64 612f2f62", EBADMSG,
     "command.config.blocks[1]: "},
    {B_CREATE, "command.config.arguments.1", "T:2d2d 80", EBADMSG,
     "command.config.arguments[1]: string is not valid UTF-8"},
    {B_RESTART, "command.arguments", "a0", EBADMSG,
     "command.arguments: expected an array, got a map"},
    {B_POLICY_ADD, "command.policy.memory", "1b 0000000100000001", EBADMSG,
     "command.policy.memory: 4294967297 is out of range 0..4294967296"},
    {B_POLICY_ADD, "command.policy.unikernels", "1a 000f4241", EBADMSG,
     "command.policy.unikernels: 1000001 is out of range 0..1000000"},
    {B_POLICY_ADD, "command.policy.bridges", "82 63 627231 63 627230", EBADMSG,
     "command.policy.bridges[1]: 'br0' does not sort after 'br1'"},
    {B_POLICY_ADD, "command.policy.bridges", "81 64 62722030", EBADMSG,
     "command.policy.bridges[0]: bridge name has an invalid byte 0x20"},
    {B_POLICY_ADD, "command.policy.block", "f6", EBADMSG,
     "command.policy.block: expected an unsigned integer, got null"},
    {B_POLICY_ADD, "command.policy.ports", "82 19 1f90 19 1f40", EBADMSG,
     "command.policy.ports: the first port 8080 is above the last 8000"},
    {B_POLICY_ADD, "command.policy.ports", "82 00 19 1f40", EBADMSG,
     "command.policy.ports[0]: 0 is out of range 1..65535"},
    {B_POLICY_ADD, "command.policy.ports", "82 01 1a 00010000", EBADMSG,
     "command.policy.ports[1]: 65536 is out of range 1..65535"},
    {B_POLICY_ADD, "command.policy.ports", "81 01", EBADMSG,
     "command.policy.ports: expected [first, last]"},
    {B_POLICY_ADD, "command.policy.ports", "83 01 02 03", EBADMSG,
     "command.policy.ports: 3 elements exceed the bound 2"},
    {B_POLICY_ADD, "command.policy.ports", "a0", EBADMSG,
     "command.policy.ports: expected an array"},
    {B_POLICY_ADD, "command.policy.prefixes", "80", EBADMSG,
     "command.policy.prefixes: none is written by leaving the key out"},
    {B_POLICY_ADD, "command.policy.prefixes.0.prefix", "T:31302e302e302e312f3234", EBADMSG,
     "command.policy.prefixes[0]: invalid prefix '10.0.0.1/24'"},
    {B_POLICY_ADD, "command.policy.prefixes.0.prefix", "T:31302e302e302e302f3331", EBADMSG,
     "command.policy.prefixes[0]: invalid prefix '10.0.0.0/31'"},
    {B_POLICY_ADD, "command.policy.prefixes.0.prefix", "T:31302e302e302e302f303234", EBADMSG,
     "command.policy.prefixes[0]: invalid prefix"},
    {B_POLICY_ADD, "command.policy.prefixes.0.prefix", "T:3235352e3235352e3235352e3235352f333231",
     EBADMSG, "command.policy.prefixes[0].prefix: string of 19 bytes exceeds the bound 18"},
    {B_POLICY_ADD, "command.policy.prefixes.0.prefix", "0a", EBADMSG,
     "command.policy.prefixes[0].prefix: expected a text string"},
    {B_POLICY_ADD, "command.policy.prefixes.0.bridge", "T:627239", EBADMSG,
     "command.policy.prefixes[0]: prefix 10.0.0.0/24: bridge 'br9' is not one of the "
     "policy's bridges"},
    {B_POLICY_ADD, "command.policy.prefixes.0.bridge", "T:62722030", EBADMSG,
     "command.policy.prefixes[0]: bridge name has an invalid byte 0x20"},
    {B_POLICY_ADD, "command.policy.prefixes.0.prefix", "T:31302e322e302e302f3136", EBADMSG,
     "command.policy.prefixes[1]: br0=10.1.0.0/16 does not sort after the previous pair"},
    {B_POLICY_ADD, "command.policy.prefixes.1.prefix", "T:31302e302e302e302f3234", EBADMSG,
     "command.policy.prefixes[1]: br0=10.0.0.0/24 does not sort after the previous pair"},
    {B_POLICY_ADD, "command.policy.prefixes.0.vlan", "01", EBADMSG,
     "command.policy.prefixes[0]: unknown key 'vlan'"},
    {B_POLICY_ADD, "command.policy.prefixes.0.bridge", NULL, EBADMSG,
     "command.policy.prefixes[0].bridge: missing"},
    {B_POLICY_ADD, "command.policy.bridges", "81 63 627231", EBADMSG,
     "command.policy.prefixes[0]: prefix 10.0.0.0/24: bridge 'br0' is not one of the "
     "policy's bridges"},
    {B_BLOCK_ADD, "command.size", "00", EBADMSG, "command.size: 0 is out of range"},
    {B_BLOCK_ADD, "command.sector-size", "19 03e8", EBADMSG,
     "command.sector-size: 1000 is not a power of two"},
    {B_BLOCK_SET, "command.data-size", "00", EBADMSG, "command.data-size: 0 is out of range"},
    {B_BLOCK_SET, "command.size", "01", EBADMSG, "command: unknown key 'size'"},
    {B_SUBSCRIBE, "command.count", "0a", EBADMSG, "command.count: not allowed together with since"},
    {B_SUBSCRIBE, "command.since", "1b 0019c93860f84001", EBADMSG,
     "command.since: 7258118400000001 is out of range 0..7258118400000000"},
    {B_SUBSCRIBE, "command.count", "00", EBADMSG, "command.count: 0 is out of range 1..65536"},
    {B_SUBSCRIBE, "command.follow", "f4", EBADMSG,
     "command.follow: false is written by leaving the key out"},
    {B_SUBSCRIBE, "command.follow", "01", EBADMSG, "command.follow: expected"},
    {B_STATS_ADD, "command.pid", "00", EBADMSG, "command.pid: 0 is out of range 1..4194304"},
    {B_STATS_ADD, "command.taps", "81 70 61616161616161616161616161616161", EBADMSG,
     "command.taps[0]: string of 16 bytes exceeds the bound 15"},
    {B_LOG_EVENT, "command.event.kind", "63 666f6f", EBADMSG,
     "command.event.kind: unknown value 'foo'"},
    {B_LOG_EVENT, "command.event.exit", "a2 64 636f6465 01 66 7369676e616c 09", EBADMSG,
     "command.event.exit: expected exactly one of code, signal"},
    {B_LOG_EVENT, "command.event.exit", "a1 66 7369676e616c 18 41", EBADMSG,
     "command.event.exit.signal: 65 is out of range 1..64"},
    {B_LOG_EVENT, "command.event.time", "1b 0019c93860f84001", EBADMSG,
     "command.event.time: 7258118400000001 is out of range"},
    {B_UNIKERNELS, "success.unikernels.0.taps", "81 66 766d74617030", EBADMSG,
     "success.unikernels[0].taps: 1 taps for 2 network devices"},
    {B_UNIKERNELS, "success.unikernels.1.block-files", "81 61 78", EBADMSG,
     "success.unikernels[1].block-files: 1 block files for 0 block devices"},
    {B_UNIKERNELS, "success.unikernels.1.failure", "05", EBADMSG,
     "success.unikernels[1].failure: expected"},
    {B_UNIKERNELS, "success.unikernels.0.name", "66 616c6963653a", EBADMSG,
     "success.unikernels[0].name: expected a name, not a path"},
    {B_UNIKERNELS, "success.unikernels.0.state", "64 64656164", EBADMSG,
     "success.unikernels[0].state: unknown value 'dead'"},
    {B_UNIKERNELS, "success.kind", "65 656d707479", EBADMSG, "success: unknown key 'unikernels'"},
    {B_POLICIES, "success.policies.1.path", "65 616c696365", EBADMSG,
     "success.policies[1].path: expected a path"},
    {B_IMAGE, "success.digest",
     "58 1f 00000000000000000000000000000000000000000000000000000000000000", EBADMSG,
     "success.digest: expected 32 bytes, got 31"},
    {B_IMAGE, "success.tender", "63 78656e", EBADMSG, "success.tender: unknown value 'xen'"},
    {B_TENDERS, "success.tenders.0.target", "63 78656e", EBADMSG,
     "success.tenders[0].target: unknown value 'xen'"},
    {B_TENDERS, "success.tenders.0.name", "63 612f62", EBADMSG,
     "success.tenders[0].name: 'a/b' is not a file name"},
    {B_TENDERS, "success.tenders.0.name", "60", EBADMSG,
     "success.tenders[0].name: '' is not a file name"},
    {B_TENDERS, "success.tenders.0.name", "62 2e2e", EBADMSG,
     "success.tenders[0].name: '..' is not a file name"},
    {B_TENDERS, "success.tenders.1.path", "63 62696e", EBADMSG,
     "success.tenders[1].path: 'bin' is not an absolute path"},
    {B_TENDERS, "success.tenders.1.abi", "1b 0000000100000000", EBADMSG,
     "success.tenders[1].abi: 4294967296 is out of range 0..4294967295"},
    {B_TENDERS, "success.tenders.1.abi", NULL, EBADMSG, "success.tenders[1].abi: missing"},
    {B_TENDERS, "success.tenders.0.version", "01", EBADMSG,
     "success.tenders[0].version: expected a text string"},
    {B_TENDERS, "success.tenders.0.extra", "01", EBADMSG,
     "success.tenders[0]: unknown key 'extra'"},
    {B_TENDERS, "success.names", "80", EBADMSG, "success: unknown key 'names'"},
    {B_CREATE, "command.op", "6c 74656e646572732d696e666f", EBADMSG,
     "command: unknown key 'config'"},
    {B_CHUNK, "data.chunk", "40", EBADMSG, "data.chunk: 0 bytes is out of range 1..1048576"},
    {B_CHUNK, "data.kind", "65 766964656f", EBADMSG, "data.kind: unknown value 'video'"},
    {B_CONSOLE, "data.line", "61 61", EBADMSG, "data.line: expected a byte string"},
    {B_CONSOLE, "data.truncated", NULL, EBADMSG, "data.truncated: missing"},
    {B_STATS, "data.stats.kvm", "a1 63 426164 01", EBADMSG,
     "data.stats.kvm[0]: key 'Bad' is not 1 or more of [a-z0-9_]"},
    {B_STATS, "data.stats.kvm", "a1 01 01", EBADMSG, "data.stats.kvm[0]: expected a text string"},
    {B_STATS, "data.stats.ifs.1.rx-bytes", "20", EBADMSG,
     "data.stats.ifs[1].rx-bytes: expected an unsigned integer"},
    {B_STATS, "data.stats.pid", "1a 00400001", EBADMSG,
     "data.stats.pid: 4194305 is out of range 1..4194304"}, /* Services: the spec of a deploy. */
    {B_DEPLOY, "command.service.vlan", "01", EBADMSG, "command.service: unknown key 'vlan'"},
    {B_DEPLOY, "command.service.prefix", NULL, EBADMSG, "command.service.prefix: missing"},
    {B_DEPLOY, "command.service.device", NULL, EBADMSG, "command.service.device: missing"},
    {B_DEPLOY, "command.service.exclude", NULL, EBADMSG, "command.service.exclude: missing"},
    {B_DEPLOY, "command.service.publish", NULL, EBADMSG, "command.service.publish: missing"},
    {B_DEPLOY, "command.service.ready", NULL, EBADMSG, "command.service.ready: missing"},
    {B_DEPLOY, "command.service.ready-timeout", NULL, EBADMSG,
     "command.service.ready-timeout: missing"},
    {B_DEPLOY, "command.service.drain", NULL, EBADMSG, "command.service.drain: missing"},
    {B_DEPLOY, "command.service", NULL, EBADMSG, "command.service: missing"},
    {B_DEPLOY, "command.service", "f6", EBADMSG, "command.service: expected a map, got null"},
    {B_DEPLOY, "command.config", NULL, EBADMSG, "command.config: missing"},
    {B_CREATE, "command.service", "a0", EBADMSG, "command: unknown key 'service'"},
    {B_DEPLOY, "command.op", "S:service-info", EBADMSG, "command: unknown key 'config'"},
    {B_DEPLOY, "command.service.device", "S:a-b", EBADMSG, "invalid net device name"},
    {B_DEPLOY, "command.service.bridge", "S:br 0", EBADMSG, "command.service: "},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0.0", EBADMSG,
     "command.service.prefix: not an IPv4 prefix A.B.C.D/N: '10.0.0.0'"},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0.0/33", EBADMSG,
     "command.service.prefix: not an IPv4 prefix A.B.C.D/N: '10.0.0.0/33'"},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0.0/", EBADMSG,
     "command.service.prefix: not an IPv4 prefix A.B.C.D/N: '10.0.0.0/'"},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0.0/024", EBADMSG,
     "command.service.prefix: not an IPv4 prefix A.B.C.D/N: '10.0.0.0/024'"},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0.0/24x", EBADMSG,
     "command.service.prefix: not an IPv4 prefix A.B.C.D/N: '10.0.0.0/24x'"},
    {B_DEPLOY, "command.service.prefix", "S:x/24", EBADMSG,
     "command.service.prefix: not an IPv4 prefix A.B.C.D/N"},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0/24", EBADMSG,
     "command.service.prefix: not an IPv4 prefix A.B.C.D/N"},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0.1/24", EBADMSG,
     "command.service: prefix 10.0.0.1/24 has host bits set"},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0.0/7", EBADMSG,
     "command.service: prefix 10.0.0.0/7: its length must be 8 to 30"},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0.0/31", EBADMSG,
     "command.service: prefix 10.0.0.0/31: its length must be 8 to 30"},
    {B_DEPLOY, "command.service.prefix", "S:10.0.0.0/32", EBADMSG,
     "command.service: prefix 10.0.0.0/32: its length must be 8 to 30"},
    {B_DEPLOY, "command.service.prefix", "0a", EBADMSG,
     "command.service.prefix: expected a text string"},
    {B_DEPLOY, "command.service.gateway", "S:10.0.1.1", EBADMSG,
     "command.service: the gateway is not a host address of 10.0.0.0/24"},
    {B_DEPLOY, "command.service.gateway", "S:10.0.0.0", EBADMSG,
     "command.service: the gateway is not a host address of 10.0.0.0/24"},
    {B_DEPLOY, "command.service.gateway", "S:10.0.0.255", EBADMSG,
     "command.service: the gateway is not a host address of 10.0.0.0/24"},
    {B_DEPLOY, "command.service.gateway", "S:10.0.0.1/24", EBADMSG,
     "command.service.gateway: not an IPv4 address: '10.0.0.1/24'"},
    {B_DEPLOY, "command.service.gateway", "S:::1", EBADMSG,
     "command.service.gateway: not an IPv4 address: '::1'"},
    {B_DEPLOY, "command.service.exclude.1", "S:10.0.1.2", EBADMSG,
     "command.service: excluded address 10.0.1.2 is not in 10.0.0.0/24"},
    {B_DEPLOY, "command.service.exclude.0", "S:10.0.0", EBADMSG,
     "command.service.exclude[0]: not an IPv4 address: '10.0.0'"},
    {B_DEPLOY, "command.service.exclude", "a0", EBADMSG,
     "command.service.exclude: expected an array, got a map"},
    {B_DEPLOY, "command.service.publish.0.proto", "S:sctp", EBADMSG,
     "command.service.publish[0].proto: unknown value 'sctp'"},
    {B_DEPLOY, "command.service.publish.0.proto", "06", EBADMSG,
     "command.service.publish[0].proto: expected a text string"},
    {B_DEPLOY, "command.service.publish.0.port", "00", EBADMSG,
     "command.service.publish[0].port: 0 is out of range 1..65535"},
    {B_DEPLOY, "command.service.publish.2.port", "1a 00010000", EBADMSG,
     "command.service.publish[2].port: 65536 is out of range 1..65535"},
    {B_DEPLOY, "command.service.publish.1.host-port", "00", EBADMSG,
     "command.service.publish[1].host-port: 0 is out of range 1..65535"},
    {B_DEPLOY, "command.service.publish.0.host-port", "1a 00010000", EBADMSG,
     "command.service.publish[0].host-port: 65536 is out of range 1..65535"},
    {B_DEPLOY, "command.service.publish.0.port", NULL, EBADMSG,
     "command.service.publish[0].port: missing"},
    {B_DEPLOY, "command.service.publish.0.host-address", "S:0.0.0.0", EBADMSG,
     "command.service.publish[0].host-address: 0.0.0.0 is written by leaving the key out"},
    {B_DEPLOY, "command.service.publish.1.host-address", "S:192.0.2", EBADMSG,
     "command.service.publish[1].host-address: not an IPv4 address: '192.0.2'"},
    {B_DEPLOY, "command.service.publish.1.weight", "01", EBADMSG,
     "command.service.publish[1]: unknown key 'weight'"},
    /* publish[0] is tcp 8080 on every host address, [1] tcp 8443 and [2] udp 5353 on
     * 192.0.2.1 */
    {B_DEPLOY, "command.service.publish.1.host-port", "19 1f90", EBADMSG,
     "command.service: host port 8080/tcp is published twice"},
    {B_DEPLOY, "command.service.publish.2",
     "a4 65 70726f746f 63 746370 6c 686f73742d61646472657373 69 3139322e302e322e31 69 "
     "686f73742d706f7274 19 20fb 64 706f7274 01",
     EBADMSG, "command.service: host port 8443/tcp is published twice"},
    {B_DEPLOY, "command.service.ready", "S:http", EBADMSG,
     "command.service.ready: unknown value 'http'"},
    {B_DEPLOY, "command.service.ready-line", NULL, EBADMSG,
     "command.service: the readiness line must be 1 to 1024 bytes of one line"},
    {B_DEPLOY, "command.service.ready-line", "60", EBADMSG,
     "command.service: the readiness line must be 1 to 1024 bytes of one line"},
    {B_DEPLOY, "command.service.ready-line", "T:6120 0a 62", EBADMSG,
     "command.service: the readiness line must be 1 to 1024 bytes of one line"},
    {B_DEPLOY, "command.service.ready-line", "T:61 0d", EBADMSG,
     "command.service: the readiness line must be 1 to 1024 bytes of one line"},
    {B_DEPLOY, "command.service.ready-port", "18 50", EBADMSG,
     "command.service: the readiness port must be 1 to 65535"},
    {B_DEPLOY, "command.service.ready", "S:tcp", EBADMSG,
     "command.service: the readiness line must be 1 to 1024 bytes of one line"},
    {B_DEPLOY_TCP, "command.service.ready-port", NULL, EBADMSG,
     "command.service: the readiness port must be 1 to 65535"},
    {B_DEPLOY_TCP, "command.service.ready-port", "00", EBADMSG,
     "command.service.ready-port: 0 is out of range 1..65535"},
    {B_DEPLOY_TCP, "command.service.ready-port", "1a 00010000", EBADMSG,
     "command.service.ready-port: 65536 is out of range 1..65535"},
    {B_DEPLOY_TCP, "command.service.ready", "S:line", EBADMSG,
     "command.service: the readiness line must be 1 to 1024 bytes of one line"},
    {B_DEPLOY_TCP, "command.service.ready", "S:delay", EBADMSG,
     "command.service: the readiness port must be 1 to 65535"},
    {B_DEPLOY_TCP, "command.service.ready", "S:none", EBADMSG,
     "command.service: the readiness port must be 1 to 65535"},
    {B_DEPLOY_NONE, "command.service.ready-line", "S:up", EBADMSG,
     "command.service: the readiness line must be 1 to 1024 bytes of one line"},
    {B_DEPLOY_NONE, "command.service.ready-port", "18 50", EBADMSG,
     "command.service: the readiness port must be 1 to 65535"},
    {B_DEPLOY_NONE, "command.service.ready-delay", "19 03e8", EBADMSG,
     "command.service: the readiness delay must be 1 ms to a day"},
    {B_DEPLOY_NONE, "command.service.ready", "S:delay", EBADMSG,
     "command.service: the readiness delay must be 1 ms to a day"},
    {B_DEPLOY_NONE, "command.service.ready-delay", "00", EBADMSG,
     "command.service.ready-delay: 0 is out of range 1..86400000"},
    {B_DEPLOY_NONE, "command.service.ready-delay", "1a 05265c01", EBADMSG,
     "command.service.ready-delay: 86400001 is out of range 1..86400000"},
    {B_DEPLOY, "command.service.ready-timeout", "00", EBADMSG,
     "command.service.ready-timeout: 0 is out of range 1..86400000"},
    {B_DEPLOY, "command.service.ready-timeout", "1a 05265c01", EBADMSG,
     "command.service.ready-timeout: 86400001 is out of range 1..86400000"},
    {B_DEPLOY, "command.service.drain", "1a 05265c01", EBADMSG,
     "command.service.drain: 86400001 is out of range 0..86400000"},
    {B_DEPLOY, "command.service.drain", "20", EBADMSG,
     "command.service.drain: expected an unsigned integer, got a negative"},
    /* Services: a service-info reply. */
    {B_SERVICES, "success.services.0.spare", "01", EBADMSG,
     "success.services[0]: unknown key 'spare'"},
    {B_SERVICES, "success.services.0.spec", NULL, EBADMSG, "success.services[0].spec: missing"},
    {B_SERVICES, "success.services.2.instances", NULL, EBADMSG,
     "success.services[2].instances: missing"},
    {B_SERVICES, "success.services.1.generation", "1b 0000000100000000", EBADMSG,
     "success.services[1].generation: 4294967296 is out of range 0..4294967295"},
    {B_SERVICES, "success.services.0.name", "S:alice:", EBADMSG,
     "success.services[0].name: a path, not a service's name"},
    {B_SERVICES, "success.services.1.name", "S:alice:a b", EBADMSG, "success.services[1].name: "},
    {B_SERVICES, "success.services.1.last-error", "01", EBADMSG,
     "success.services[1].last-error: expected a text string"},
    {B_SERVICES, "success.services.1.spec.prefix", "S:10.0.0.1/24", EBADMSG,
     "success.services[1].spec: prefix 10.0.0.1/24 has host bits set"},
    {B_SERVICES, "success.services.2.spec.publish.0.proto", "S:sctp", EBADMSG,
     "success.services[2].spec.publish[0].proto: unknown value 'sctp'"},
    {B_SERVICES, "success.services.0.instances.0.unikernel", "S:alice:", EBADMSG,
     "success.services[0].instances[0].unikernel: a path, not a unikernel's name"},
    {B_SERVICES, "success.services.0.instances.1.address", "S:10.0.0", EBADMSG,
     "success.services[0].instances[1].address: not an IPv4 address: '10.0.0'"},
    {B_SERVICES, "success.services.0.instances.1.state", "S:running", EBADMSG,
     "success.services[0].instances[1].state: unknown value 'running'"},
    {B_SERVICES, "success.services.0.instances.1.generation", "00", EBADMSG,
     "success.services[0].instances[1].generation: 0 is out of range 1..4294967295"},
    {B_SERVICES, "success.services.0.instances.1.until", "00", EBADMSG,
     "success.services[0].instances[1].until: 0 is out of range"},
    {B_SERVICES, "success.services.0.instances.0.unikernel", NULL, EBADMSG,
     "success.services[0].instances[0].unikernel: missing"},
    {B_SERVICES, "success.services.0.instances.0.port", "01", EBADMSG,
     "success.services[0].instances[0]: unknown key 'port'"},
    {B_SERVICES, "success.kind", "S:collected", EBADMSG, "success: unknown key 'services'"},
    /* Services: a collect's reply. */
    {B_COLLECTED, "success.collected.0.bridge", NULL, EBADMSG,
     "success.collected[0].bridge: missing"},
    {B_COLLECTED, "success.collected.1.address", NULL, EBADMSG,
     "success.collected[1].address: missing"},
    {B_COLLECTED, "success.collected.1.address", "S:10.0.0.300", EBADMSG,
     "success.collected[1].address: not an IPv4 address: '10.0.0.300'"},
    {B_COLLECTED, "success.collected.0.unikernel", "S:a b", EBADMSG,
     "success.collected[0].unikernel: "},
    {B_COLLECTED, "success.collected.0.bridge", "S:abcdefghijklmnop", EBADMSG,
     "success.collected[0].bridge: string of 16 bytes exceeds the bound 15"},
    {B_COLLECTED, "success.collected.0.extra", "01", EBADMSG,
     "success.collected[0]: unknown key 'extra'"},
    {B_COLLECTED, "success.collected", "a0", EBADMSG,
     "success.collected: expected an array, got a map"},
};

START_TEST(test_malformed_mutation)
{
	const struct mutation_case *c = &mutation_cases[_i];
	int r = decode_mutated(base_msg(c->base), c->path, c->hex ? hex_item(c->hex) : NULL);

	ck_assert_msg(r == -c->err, "%s = %s: returned %d, last error '%s'", c->path,
		      c->hex ? c->hex : "(removed)", r, alb_ctx_last_error(test_ctx));
	ck_assert_last_error_has(test_ctx, c->needle);
}
END_TEST

static cbor_item_t *text_of(size_t len, char c)
{
	char *s = malloc(len + 1);
	memset(s, c, len);
	s[len] = '\0';
	cbor_item_t *item = cbor_build_string(s);
	free(s);
	return item;
}

START_TEST(test_malformed_large)
{
	/* A message over ALB_WIRE_STRING_MAX. */
	ck_assert_alb_err(test_ctx,
			  decode_mutated(base_msg(B_FAILURE), "failure.message",
					 text_of(ALB_WIRE_STRING_MAX + 1, 'x')),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx,
				 "failure.message: string of 4097 bytes exceeds the bound 4096");

	/* A label of 64 characters. */
	ck_assert_alb_err(test_ctx, decode_mutated(base_msg(B_FAILURE), "name", text_of(64, 'a')),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "name: ");

	/* 1025 arguments. */
	cbor_item_t *args = cbor_new_definite_array(ALB_ARGS_MAX + 1);
	for (unsigned i = 0; i <= ALB_ARGS_MAX; i++)
		ck_assert(alb_cbor_push(args, cbor_build_string("a")));
	ck_assert_alb_err(test_ctx,
			  decode_mutated(base_msg(B_CREATE), "command.config.arguments", args),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx,
				 "command.config.arguments: 1025 elements exceed the bound 1024");

	/* Arguments longer than ALB_ARGS_LENGTH_MAX together. */
	args = cbor_new_definite_array(2);
	ck_assert(alb_cbor_push(args, text_of(4096, 'a')));
	ck_assert(alb_cbor_push(args, text_of(4095, 'b')));
	ck_assert_alb_err(test_ctx, decode_mutated(base_msg(B_RESTART), "command.arguments", args),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "command.arguments: the arguments are longer than 8191");

	/* A chunk over ALB_CHUNK_MAX. */
	uint8_t *big = calloc(1, ALB_CHUNK_MAX + 1);
	ck_assert_alb_err(test_ctx,
			  decode_mutated(base_msg(B_CHUNK), "data.chunk",
					 cbor_build_bytestring(big, ALB_CHUNK_MAX + 1)),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "data.chunk: 1048577 bytes is out of range 1..1048576");
	free(big);

	/* 257 tenders, a version of 257 bytes. */
	cbor_item_t *tenders = cbor_new_definite_array(ALB_TENDERS_MAX + 1);
	for (unsigned i = 0; i <= ALB_TENDERS_MAX; i++)
		ck_assert(alb_cbor_push(tenders, cbor_new_definite_map(0)));
	ck_assert_alb_err(test_ctx, decode_mutated(base_msg(B_TENDERS), "success.tenders", tenders),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "success.tenders: 257 elements exceed the bound 256");
	ck_assert_alb_err(test_ctx,
			  decode_mutated(base_msg(B_TENDERS), "success.tenders.0.version",
					 text_of(ALB_TENDER_VERSION_MAX + 1, 'v')),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "success.tenders[0].version: string of 257 bytes");

	/* 65 interfaces. */
	cbor_item_t *ifs = cbor_new_definite_array(ALB_STATS_IFS_MAX + 1);
	for (unsigned i = 0; i <= ALB_STATS_IFS_MAX; i++)
		ck_assert(alb_cbor_push(ifs, cbor_new_definite_map(0)));
	ck_assert_alb_err(test_ctx, decode_mutated(base_msg(B_STATS), "data.stats.ifs", ifs),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx, "data.stats.ifs: 65 elements exceed the bound 64");

	/* Services: 257 excluded addresses, 65 published ports, 3 instances. */
	cbor_item_t *ex = cbor_new_definite_array(ALB_SERVICE_EXCLUDE_MAX + 1);
	for (unsigned i = 0; i <= ALB_SERVICE_EXCLUDE_MAX; i++)
		ck_assert(alb_cbor_push(ex, cbor_build_string("10.0.0.9")));
	ck_assert_alb_err(
	    test_ctx, decode_mutated(base_msg(B_DEPLOY), "command.service.exclude", ex), EBADMSG);
	ck_assert_last_error_has(test_ctx,
				 "command.service.exclude: 257 elements exceed the bound 256");
	cbor_item_t *pub = cbor_new_definite_array(ALB_SERVICE_PUBLISH_MAX + 1);
	for (unsigned i = 0; i <= ALB_SERVICE_PUBLISH_MAX; i++)
		ck_assert(alb_cbor_push(pub, cbor_new_definite_map(0)));
	ck_assert_alb_err(
	    test_ctx, decode_mutated(base_msg(B_DEPLOY), "command.service.publish", pub), EBADMSG);
	ck_assert_last_error_has(test_ctx,
				 "command.service.publish: 65 elements exceed the bound 64");
	cbor_item_t *ins = cbor_new_definite_array(ALB_SERVICE_INSTANCES_MAX + 1);
	for (unsigned i = 0; i <= ALB_SERVICE_INSTANCES_MAX; i++)
		ck_assert(alb_cbor_push(ins, cbor_new_definite_map(0)));
	ck_assert_alb_err(test_ctx,
			  decode_mutated(base_msg(B_SERVICES), "success.services.0.instances", ins),
			  EBADMSG);
	ck_assert_last_error_has(test_ctx,
				 "success.services[0].instances: 3 elements exceed the bound 2");
	/* A readiness line of 1025 bytes. */
	ck_assert_alb_err(test_ctx,
			  decode_mutated(base_msg(B_DEPLOY), "command.service.ready-line",
					 text_of(ALB_READY_LINE_MAX + 1, 'r')),
			  EBADMSG);
	ck_assert_last_error_has(
	    test_ctx, "command.service.ready-line: string of 1025 bytes exceeds the bound 1024");
}
END_TEST

START_TEST(test_uppercase_name_normalised)
{
	alb_msg *msg = base_msg(B_FAILURE), *decoded = NULL;
	uint8_t *buf = NULL;
	uint64_t len;
	struct cbor_load_result result;
	unsigned char *out = NULL;
	size_t size;

	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, msg, &buf, &len));
	cbor_item_t *item = cbor_load(buf, len, &result);
	cbor_item_t *upper = cbor_build_string("Alice:HELLO");
	cbor_item_t *mutated = mutate(item, "name", upper);
	len = cbor_serialize_alloc(mutated, &out, &size);
	ck_assert_alb_ok(test_ctx, alb_msg_decode(test_ctx, out, len, &decoded));
	ck_assert(alb_name_equal(alb_msg_get_name(decoded), msg->name));
	char *s = alb_name_to_string(alb_msg_get_name(decoded));
	ck_assert_str_eq(s, "alice:hello");
	alb_free(s);
	free(out);
	alb_free(buf);
	cbor_decref(&upper);
	cbor_decref(&mutated);
	cbor_decref(&item);
	alb_msg_free(decoded);
	alb_msg_free(msg);
}
END_TEST

/* Framing. */
static void make_socketpair(int fds[2], int flags)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0, fds), 0);
}

START_TEST(test_frame_write_read)
{
	int fds[2];
	uint8_t *buf = NULL;
	uint64_t len;

	make_socketpair(fds, 0);
	ck_assert_alb_ok(test_ctx, alb_frame_write(test_ctx, fds[0], (const uint8_t *)"hello", 5));
	ck_assert_alb_ok(test_ctx, alb_frame_write(test_ctx, fds[0], NULL, 0));
	ck_assert_alb_ok(test_ctx, alb_frame_read(test_ctx, fds[1], 0, &buf, &len));
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(buf, "hello", 5);
	alb_free(buf);
	ck_assert_alb_ok(test_ctx, alb_frame_read(test_ctx, fds[1], 0, &buf, &len));
	ck_assert_ptr_null(buf);
	ck_assert_uint_eq(len, 0);

	/* Over the bound. */
	ck_assert_alb_ok(test_ctx,
			 alb_frame_write(test_ctx, fds[0], (const uint8_t *)"0123456789x", 11));
	ck_assert_alb_err(test_ctx, alb_frame_read(test_ctx, fds[1], 10, &buf, &len), EBADMSG);
	ck_assert_last_error_has(test_ctx, "frame of 11 bytes exceeds the bound 10");

	ck_assert_int_eq(
	    alb_frame_write(test_ctx, fds[0], (const uint8_t *)"x", (uint64_t)UINT32_MAX + 1),
	    -EMSGSIZE);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(test_frame_truncated)
{
	int fds[2];
	uint8_t *buf = NULL;
	uint64_t len;

	/* Peer closed before a frame began. */
	make_socketpair(fds, 0);
	close(fds[0]);
	ck_assert_alb_err(test_ctx, alb_frame_read(test_ctx, fds[1], 0, &buf, &len), EPIPE);
	close(fds[1]);

	/* A header cut short. */
	make_socketpair(fds, 0);
	ck_assert_int_eq(write(fds[0], "\0\0", 2), 2);
	close(fds[0]);
	ck_assert_alb_err(test_ctx, alb_frame_read(test_ctx, fds[1], 0, &buf, &len), EBADMSG);
	ck_assert_last_error_has(test_ctx, "header cut short");
	close(fds[1]);

	/* A payload cut short. */
	make_socketpair(fds, 0);
	ck_assert_int_eq(write(fds[0],
			       "\0\0\0\x0a"
			       "abc",
			       7),
			 7);
	close(fds[0]);
	ck_assert_alb_err(test_ctx, alb_frame_read(test_ctx, fds[1], 0, &buf, &len), EBADMSG);
	ck_assert_last_error_has(test_ctx, "frame cut short after 3 of 10 bytes");
	close(fds[1]);

	/* Writing to a closed peer. */
	signal(SIGPIPE, SIG_IGN);
	make_socketpair(fds, 0);
	close(fds[1]);
	ck_assert_alb_err(test_ctx, alb_frame_write(test_ctx, fds[0], (const uint8_t *)"x", 1),
			  EPIPE);
	close(fds[0]);
}
END_TEST

/* A message, an end-of-stream frame and a chunk, as a writer sends them. */
static size_t sample_stream(uint8_t **ret)
{
	uint8_t *a = NULL, *b = NULL;
	uint64_t la, lb;
	alb_msg *msg = sample_command(ALB_CMD_UNIKERNEL_CREATE, 0);
	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, msg, &a, &la));
	alb_msg_free(msg);
	msg = sample_data(ALB_DATA_CHUNK);
	ck_assert_alb_ok(test_ctx, alb_msg_encode(test_ctx, msg, &b, &lb));
	alb_msg_free(msg);

	size_t len = 4 + la + 4 + 4 + lb;
	uint8_t *s = calloc(1, len), *p = s;
	p[2] = (uint8_t)(la >> 8);
	p[3] = (uint8_t)la;
	memcpy(p + 4, a, la);
	p += 4 + la + 4;
	p[2] = (uint8_t)(lb >> 8);
	p[3] = (uint8_t)lb;
	memcpy(p + 4, b, lb);
	alb_free(a);
	alb_free(b);
	*ret = s;
	return len;
}

/* Takes the frames ready and checks them against the sample stream's. */
static void take_frames(alb_frame_reader *reader, unsigned *count)
{
	uint8_t *buf;
	uint64_t len;
	int r;

	while ((r = alb_frame_reader_next(test_ctx, reader, &buf, &len)) == 1) {
		static const int kinds[] = {ALB_MSG_COMMAND, 0, ALB_MSG_DATA};
		ck_assert_uint_lt(*count, 3);
		if (kinds[*count] == 0) {
			ck_assert_ptr_null(buf);
			ck_assert_uint_eq(len, 0);
		} else {
			alb_msg *msg = NULL;
			ck_assert_alb_ok(test_ctx, alb_msg_decode(test_ctx, buf, len, &msg));
			ck_assert_int_eq(alb_msg_get_kind(msg), kinds[*count]);
			alb_msg_free(msg);
			free(buf);
		}
		(*count)++;
	}
	ck_assert_alb_ok(test_ctx, r);
}

START_TEST(test_frame_reader_bytewise)
{
	alb_frame_reader *reader = NULL;
	uint8_t *stream;
	size_t len = sample_stream(&stream);
	unsigned count = 0;

	ck_assert_alb_ok(test_ctx, alb_frame_reader_new(0, &reader));
	for (size_t i = 0; i < len; i++) {
		ck_assert_alb_ok(test_ctx, alb_frame_reader_feed(test_ctx, reader, stream + i, 1));
		take_frames(reader, &count);
	}
	ck_assert_uint_eq(count, 3);
	ck_assert(alb_frame_reader_is_empty(reader));
	alb_frame_reader_free(reader);

	/* A header over the bound is refused as soon as it is complete. */
	ck_assert_alb_ok(test_ctx, alb_frame_reader_new(100, &reader));
	ck_assert_alb_ok(test_ctx, alb_frame_reader_feed(test_ctx, reader, "\0\0\0", 3));
	ck_assert_alb_err(test_ctx, alb_frame_reader_feed(test_ctx, reader, "\x65", 1), EBADMSG);
	ck_assert_last_error_has(test_ctx, "frame of 101 bytes exceeds the bound 100");
	alb_frame_reader_free(reader);
	free(stream);
}
END_TEST

START_TEST(test_frame_reader_fd)
{
	alb_frame_reader *reader = NULL;
	uint8_t *stream;
	size_t len = sample_stream(&stream);
	unsigned count = 0;
	int fds[2];

	make_socketpair(fds, SOCK_NONBLOCK);
	ck_assert_alb_ok(test_ctx, alb_frame_reader_new(0, &reader));
	ck_assert_int_eq(alb_frame_reader_read(test_ctx, reader, fds[1]), -EAGAIN);

	/* All but the last byte: two frames come out, the third waits. */
	ck_assert_int_eq(write(fds[0], stream, len - 1), (ssize_t)len - 1);
	ck_assert_int_eq(alb_frame_reader_read(test_ctx, reader, fds[1]), (ssize_t)len - 1);
	take_frames(reader, &count);
	ck_assert_uint_eq(count, 2);
	ck_assert(!alb_frame_reader_is_empty(reader));
	ck_assert_int_eq(write(fds[0], stream + len - 1, 1), 1);
	ck_assert_int_eq(alb_frame_reader_read(test_ctx, reader, fds[1]), 1);
	take_frames(reader, &count);
	ck_assert_uint_eq(count, 3);

	/* End of file between frames is a clean close; within one, a frame cut short. */
	ck_assert_int_eq(write(fds[0], "\0\0", 2), 2);
	close(fds[0]);
	ck_assert_int_eq(alb_frame_reader_read(test_ctx, reader, fds[1]), 2);
	ck_assert_int_eq(alb_frame_reader_read(test_ctx, reader, fds[1]), 0);
	ck_assert(!alb_frame_reader_is_empty(reader));
	alb_frame_reader_free(reader);
	close(fds[1]);
	free(stream);
}
END_TEST

/* The command map alone (alb_cmd_to_cbor/alb_cmd_from_cbor), as certificates carry it. */
START_TEST(test_cmd_cbor_round_trip)
{
	struct alb_cmd cmds[5] = {
	    {.kind = ALB_CMD_UNIKERNEL_CREATE, .config = sample_config()},
	    {.kind = ALB_CMD_UNIKERNEL_RESTART,
	     .has_argv = true,
	     .argv = V(2, "-a", "b"),
	     .argc = 2},
	    {.kind = ALB_CMD_BLOCK_ADD, .block_size_mb = 10, .sector_size = 4096, .data_size = 5},
	    {.kind = ALB_CMD_CONSOLE_SUBSCRIBE,
	     .history = {.has_count = true, .count = 3, .follow = true}},
	    {.kind = ALB_CMD_UNIKERNEL_DESTROY},
	};

	for (size_t i = 0; i < ELEMENTSOF(cmds); i++) {
		_cleanup_(cbor_decref_ptrp) cbor_item_t *item = alb_cmd_to_cbor(&cmds[i]);
		_cleanup_(cbor_decref_ptrp) cbor_item_t *loaded = NULL, *again = NULL;
		_cleanup_free_ uint8_t *buf = NULL, *buf2 = NULL;
		struct alb_cmd back;
		size_t len, len2;

		ck_assert_ptr_nonnull(item);
		ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, item, &buf, &len));
		ck_assert_alb_ok(test_ctx, alb_cbor_load(test_ctx, buf, len, &loaded));
		ck_assert_alb_ok(test_ctx,
				 alb_cmd_from_cbor(test_ctx, loaded, "x509.command", &back));
		ck_assert_int_eq(back.kind, cmds[i].kind);
		again = alb_cmd_to_cbor(&back);
		ck_assert_alb_ok(test_ctx, alb_cbor_serialize(test_ctx, again, &buf2, &len2));
		ck_assert_uint_eq(len, len2);
		ck_assert_mem_eq(buf, buf2, len);
		if (cmds[i].config)
			ck_assert(alb_unikernel_config_equal(back.config, cmds[i].config));
		alb_cmd_clear(&back);
		alb_cmd_clear(&cmds[i]);
		ck_assert_int_eq(cmds[i].kind, 0);
	}

	/* Strict, with the caller's path in the reason; nothing filled on failure. */
	{
		/* {"op": "unikernel-destroy", "bogus": 1} */
		const uint8_t bad[] = {0xa2, 0x62, 'o',	 'p', 0x71, 'u', 'n', 'i', 'k', 'e',
				       'r',  'n',  'e',	 'l', '-',  'd', 'e', 's', 't', 'r',
				       'o',  'y',  0x65, 'b', 'o',  'g', 'u', 's', 0x01};
		_cleanup_(cbor_decref_ptrp) cbor_item_t *loaded = NULL;
		struct alb_cmd back = {.kind = -1};

		ck_assert_alb_ok(test_ctx, alb_cbor_load(test_ctx, bad, sizeof(bad), &loaded));
		ck_assert_alb_err(
		    test_ctx, alb_cmd_from_cbor(test_ctx, loaded, "x509.command", &back), EBADMSG);
		ck_assert_last_error_has(test_ctx, "x509.command");
		ck_assert_int_eq(back.kind, -1);
	}
	{
		struct alb_cmd unknown = {.kind = 999};
		ck_assert_ptr_null(alb_cmd_to_cbor(&unknown));
	}
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc;

	tc = tcase_create("round-trip");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_round_trip_commands);
	tcase_add_test(tc, test_on_behalf_of_bounds);
	tcase_add_test(tc, test_round_trip_replies);
	tcase_add_test(tc, test_round_trip_service_deploy);
	tcase_add_test(tc, test_round_trip_services);
	tcase_add_test(tc, test_round_trip_data);
	tcase_add_test(tc, test_decode_frame);
	tcase_add_test(tc, test_accessors);
	tcase_add_test(tc, test_encode_invalid);
	tcase_add_test(tc, test_cmd_cbor_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_loop_test(tc, test_malformed_raw, 0, ELEMENTSOF(raw_cases));
	tcase_add_loop_test(tc, test_malformed_mutation, 0, ELEMENTSOF(mutation_cases));
	tcase_add_test(tc, test_malformed_depth);
	tcase_add_test(tc, test_malformed_container_bound);
	tcase_add_test(tc, test_malformed_large);
	tcase_add_test(tc, test_uppercase_name_normalised);
	suite_add_tcase(s, tc);

	tc = tcase_create("frame");
	tcase_add_checked_fixture(tc, tc_ctx_setup, tc_ctx_teardown);
	tcase_add_test(tc, test_frame_write_read);
	tcase_add_test(tc, test_frame_truncated);
	tcase_add_test(tc, test_frame_reader_bytewise);
	tcase_add_test(tc, test_frame_reader_fd);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(wire_suite());
}
