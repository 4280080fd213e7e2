/* SPDX-License-Identifier: ISC */
/*
 * albatross-client: services (docs/services.md). "service deploy" sends a service's
 * configuration and its image as "create" sends a unikernel's; "service info",
 * "service remove" and "collect" are plain requests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-help.h"
#include "cli-private.h"

static int parse_ipv4(const char *what, const char *s, uint32_t *ret)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return cli_error(EXIT_USAGE, "invalid %s '%s': expected an IPv4 address A.B.C.D",
				 what, s);
	*ret = ntohl(a.s_addr);
	return 0;
}

static int parse_prefix(const char *s, uint32_t *ret_addr, uint32_t *ret_len)
{
	char buf[32];
	char *slash, *end;
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (!slash || strlen(s) >= sizeof(buf))
		return cli_error(EXIT_USAGE, "invalid --prefix '%s': expected A.B.C.D/N", s);
	*slash = 0;
	unsigned long len = strtoul(slash + 1, &end, 10);
	if (!slash[1] || *end || len < 8 || len > 30)
		return cli_error(EXIT_USAGE, "invalid --prefix '%s': its length must be 8 to 30",
				 s);
	if (parse_ipv4("--prefix", buf, ret_addr))
		return EXIT_USAGE;
	*ret_len = (uint32_t)len;
	if (*ret_addr & ~(0xffffffffu << (32 - len)))
		return cli_error(EXIT_USAGE, "invalid --prefix '%s': host bits are set", s);
	return 0;
}

/* [HOSTIP:]HOSTPORT:PORT[/tcp|/udp] */
static int parse_publish(const char *arg, struct alb_publish *p)
{
	char buf[64];
	if (strlen(arg) >= sizeof(buf))
		return cli_error(EXIT_USAGE, "invalid --publish '%s'", arg);
	snprintf(buf, sizeof(buf), "%s", arg);
	*p = (struct alb_publish){.proto = 6};
	char *slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		if (streq(slash + 1, "udp"))
			p->proto = 17;
		else if (!streq(slash + 1, "tcp"))
			return cli_error(EXIT_USAGE, "invalid --publish '%s': tcp or udp after '/'",
					 arg);
	}
	char *last = strrchr(buf, ':');
	if (!last)
		return cli_error(EXIT_USAGE, "invalid --publish '%s': expected HOSTPORT:PORT", arg);
	*last = 0;
	char *hostport = strrchr(buf, ':');
	if (hostport) {
		*hostport++ = 0;
		if (parse_ipv4("--publish host address", buf, &p->host_addr))
			return EXIT_USAGE;
	} else
		hostport = buf;
	if (cli_parse_u32("host port", hostport, 1, 65535, &p->host_port) ||
	    cli_parse_u32("port", last + 1, 1, 65535, &p->port))
		return EXIT_USAGE;
	return 0;
}

static int escape_arg(const char *s, char **ret)
{
	size_t n = 0;
	for (const char *p = s; *p; p++)
		n += (*p == '{' || *p == '}') ? 2 : 1;
	char *o = malloc(n + 1), *q = o;
	if (!o)
		return -ENOMEM;
	for (const char *p = s; *p; p++) {
		*q++ = *p;
		if (*p == '{' || *p == '}')
			*q++ = *p;
	}
	*q = 0;
	*ret = o;
	return 0;
}

static int deploy(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum {
		O_EXTRA_NET = OPT_COMMAND_BASE,
		O_ARG,
		O_ARG_TEMPLATE,
		O_NET,
		O_PREFIX,
		O_GATEWAY,
		O_EXCLUDE,
		O_PUBLISH,
		O_READY_LINE,
		O_READY_TCP,
		O_READY_UDP,
		O_READY_DELAY,
		O_READY_TIMEOUT,
		O_DRAIN,
		O_DEVICE,
		O_CREATE,
	};
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    CLI_CREATE_OPTIONS(O_CREATE),
	    {"extra-net", required_argument, NULL, O_EXTRA_NET},
	    {"arg", required_argument, NULL, O_ARG},
	    {"arg-template", required_argument, NULL, O_ARG_TEMPLATE},
	    {"net", required_argument, NULL, O_NET},
	    {"prefix", required_argument, NULL, O_PREFIX},
	    {"gateway", required_argument, NULL, O_GATEWAY},
	    {"exclude", required_argument, NULL, O_EXCLUDE},
	    {"publish", required_argument, NULL, O_PUBLISH},
	    {"ready-line", required_argument, NULL, O_READY_LINE},
	    {"ready-tcp", required_argument, NULL, O_READY_TCP},
	    {"ready-udp", required_argument, NULL, O_READY_UDP},
	    {"ready-delay", required_argument, NULL, O_READY_DELAY},
	    {"ready-timeout", required_argument, NULL, O_READY_TIMEOUT},
	    {"drain", required_argument, NULL, O_DRAIN},
	    {"device", required_argument, NULL, O_DEVICE},
	    {0},
	};
	_cleanup_(alb_unikernel_config_freep) alb_unikernel_config *config = NULL, *probe = NULL;
	_cleanup_(alb_service_spec_freep) struct alb_service_spec *spec = calloc(1, sizeof(*spec));
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	struct cli_create_opts o = {0};
	bool has_gateway = false, no_gateway = false;
	int c, r, readies = 0;
	size_t len;

	if (!spec || alb_unikernel_config_new(cli->ctx, &config) < 0 ||
	    !(spec->device = strdup("service")) ||
	    !(spec->excluded = calloc(ALB_SERVICE_EXCLUDE_MAX, sizeof(uint32_t))) ||
	    !(spec->publish = calloc(ALB_SERVICE_PUBLISH_MAX, sizeof(*spec->publish))))
		return cli_error(EXIT_FAILED, "out of memory");
	spec->ready_timeout_ms = 30000;
	spec->drain_ms = 5000;
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
		case O_EXTRA_NET:
			if ((r = cli_parse_net(cli, config, optarg)) != 0)
				return r;
			break;
		case O_ARG:
		case O_ARG_TEMPLATE: {
			_cleanup_free_ char *t = NULL;
			if (c == O_ARG ? escape_arg(optarg, &t) < 0 : !(t = strdup(optarg)))
				return cli_error(EXIT_FAILED, "out of memory");
			if (alb_unikernel_config_add_argument(config, t) < 0)
				return cli_error(EXIT_USAGE, "invalid --%s: %s",
						 c == O_ARG ? "arg" : "arg-template",
						 alb_ctx_last_error(cli->ctx));
			break;
		}
		case O_NET:
			if (alb_bridge_name_validate(cli->ctx, optarg) < 0)
				return cli_error(EXIT_USAGE, "invalid --net '%s': %s", optarg,
						 alb_ctx_last_error(cli->ctx));
			free(spec->bridge);
			if (!(spec->bridge = strdup(optarg)))
				return cli_error(EXIT_FAILED, "out of memory");
			break;
		case O_PREFIX:
			if (parse_prefix(optarg, &spec->prefix, &spec->prefix_len))
				return EXIT_USAGE;
			break;
		case O_GATEWAY:
			if (streq(optarg, "none")) {
				no_gateway = true;
				has_gateway = false;
			} else if (parse_ipv4("--gateway", optarg, &spec->gateway))
				return EXIT_USAGE;
			else
				has_gateway = true;
			break;
		case O_EXCLUDE:
			if (spec->n_excluded >= ALB_SERVICE_EXCLUDE_MAX)
				return cli_error(EXIT_USAGE, "too many --exclude (at most %u)",
						 ALB_SERVICE_EXCLUDE_MAX);
			if (parse_ipv4("--exclude", optarg, &spec->excluded[spec->n_excluded]))
				return EXIT_USAGE;
			spec->n_excluded++;
			break;
		case O_PUBLISH:
			if (spec->n_publish >= ALB_SERVICE_PUBLISH_MAX)
				return cli_error(EXIT_USAGE, "too many --publish (at most %u)",
						 ALB_SERVICE_PUBLISH_MAX);
			if (parse_publish(optarg, &spec->publish[spec->n_publish]))
				return EXIT_USAGE;
			spec->n_publish++;
			break;
		case O_READY_LINE:
			readies++;
			spec->ready = ALB_READY_LINE;
			free(spec->ready_line);
			if (!(spec->ready_line = strdup(optarg)))
				return cli_error(EXIT_FAILED, "out of memory");
			break;
		case O_READY_TCP:
		case O_READY_UDP:
			readies++;
			spec->ready = c == O_READY_TCP ? ALB_READY_TCP : ALB_READY_UDP;
			if (cli_parse_u32("readiness port", optarg, 1, 65535, &spec->ready_port))
				return EXIT_USAGE;
			break;
		case O_READY_DELAY:
			readies++;
			spec->ready = ALB_READY_DELAY;
			if (cli_parse_u64("readiness delay", optarg, 1, ALB_SERVICE_MS_MAX,
					  &spec->ready_delay_ms))
				return EXIT_USAGE;
			break;
		case O_READY_TIMEOUT:
			if (cli_parse_u64("readiness timeout", optarg, 1, ALB_SERVICE_MS_MAX,
					  &spec->ready_timeout_ms))
				return EXIT_USAGE;
			break;
		case O_DRAIN:
			if (cli_parse_u64("drain time", optarg, 0, ALB_SERVICE_MS_MAX,
					  &spec->drain_ms))
				return EXIT_USAGE;
			break;
		case O_DEVICE:
			if (alb_device_name_validate(cli->ctx, optarg) < 0)
				return cli_error(EXIT_USAGE, "invalid --device '%s': %s", optarg,
						 alb_ctx_last_error(cli->ctx));
			free(spec->device);
			if (!(spec->device = strdup(optarg)))
				return cli_error(EXIT_FAILED, "out of memory");
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 2)
		return cli_usage_missing(cmd, argc - optind);
	if (argc - optind > 2)
		return cli_usage_error(cmd, "too many arguments");
	if (!spec->bridge || !spec->prefix_len)
		return cli_usage_error(cmd, "deploy needs --net BRIDGE and --prefix A.B.C.D/N");
	if (readies > 1)
		return cli_usage_error(cmd, "give one readiness rule at most");
	if (!has_gateway && !no_gateway)
		spec->gateway = spec->prefix + 1; /* the first address, as is usual */
	if (alb_service_spec_validate(cli->ctx, spec) < 0)
		return cli_usage_error(cmd, "%s", alb_ctx_last_error(cli->ctx));
	if ((r = cli_parse_name(cli, argv[optind], 'n', &name)) != 0 ||
	    (r = cli_create_finish(cli, config, &o)) != 0)
		return r;
	/* The image's manifest is checked with the service's net device in the config. */
	if (alb_unikernel_config_dup(config, &probe) < 0 ||
	    alb_unikernel_config_add_net(probe, spec->device, spec->bridge, NULL) < 0)
		return cli_error(EXIT_USAGE, "net device '%s' is given twice", spec->device);
	if ((r = cli_load_image(cli, config, probe, argv[optind + 1], &o, &data, &len)) != 0)
		return r;
	msg = cli_command_new(ALB_CMD_SERVICE_DEPLOY, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	msg->cmd.config = TAKE_PTR(config);
	msg->cmd.service = TAKE_PTR(spec);
	return cli_upload_and_print(cli, msg, data, -1, len, "upload");
}

static int simple(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		  int command, int kind, int reply)
{
	static const struct option options[] = {CLI_COMMON_OPTIONS, {0}};
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	int c, r;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r != -2)
			return r >= 0 ? r : EXIT_USAGE;
	}
	if (argc - optind > 1)
		return cli_usage_error(cmd, "too many arguments");
	if (kind == 'n' && argc - optind < 1)
		return cli_usage_missing(cmd, 0);
	if ((r = cli_parse_name(cli, optind < argc ? argv[optind] : ":", kind, &name)) != 0)
		return r;
	if (!(msg = cli_command_new(command, name)))
		return cli_error(EXIT_FAILED, "out of memory");
	return cli_request_and_print(cli, msg, reply,
				     reply == ALB_REPLY_STRING ? ALB_REPLY_EMPTY : 0);
}

int cli_cmd_service(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	/* Each subcommand with its own synopsis and help (the man page's), for its messages
	 * ("service deploy: missing IMAGE") and its --help. */
	static const struct cli_command deploy_cmd = {"service deploy", CLI_SYNOPSIS_service_deploy,
						      cli_cmd_service};
	static const struct cli_command info_cmd = {"service info", CLI_SYNOPSIS_service_info,
						    cli_cmd_service};
	static const struct cli_command remove_cmd = {"service remove", CLI_SYNOPSIS_service_remove,
						      cli_cmd_service};

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h")))
			return cli_help_print(cmd->name) == EXIT_OK ? EXIT_OK : EXIT_FAILED;
		return cli_usage_error(cmd, "missing deploy, info or remove");
	}
	const char *sub = argv[1];
	if (streq(sub, "deploy"))
		return deploy(cli, &deploy_cmd, argc - 1, argv + 1);
	if (streq(sub, "info"))
		return simple(cli, &info_cmd, argc - 1, argv + 1, ALB_CMD_SERVICE_INFO, 'a',
			      ALB_REPLY_SERVICES);
	if (streq(sub, "remove"))
		return simple(cli, &remove_cmd, argc - 1, argv + 1, ALB_CMD_SERVICE_REMOVE, 'n',
			      ALB_REPLY_STRING);
	return cli_usage_error(cmd, "unknown service command '%s' (deploy, info or remove)", sub);
}

int cli_cmd_collect(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return simple(cli, cmd, argc, argv, ALB_CMD_COLLECT, 'p', ALB_REPLY_COLLECTED);
}

/* ---- output ------------------------------------------------------------------------------ */

static const char *state_name(int state)
{
	return state == ALB_INSTANCE_STARTING	 ? "starting"
	       : state == ALB_INSTANCE_PUBLISHED ? "published"
	       : state == ALB_INSTANCE_DRAINING	 ? "draining"
						 : "?";
}

static void addr(uint32_t a, char buf[16])
{
	struct in_addr x = {htonl(a)};
	inet_ntop(AF_INET, &x, buf, 16);
}

static void publish_text(const struct alb_publish *p, char *buf, size_t size)
{
	char h[16] = "";
	if (p->host_addr)
		addr(p->host_addr, h);
	snprintf(buf, size, "%s%s%u:%u/%s", h, p->host_addr ? ":" : "", p->host_port, p->port,
		 p->proto == 17 ? "udp" : "tcp");
}

void cli_print_services(const struct alb_reply *reply)
{
	if (reply->kind == ALB_REPLY_COLLECTED) {
		if (!reply->n_collected)
			puts("nothing to collect");
		for (uint32_t i = 0; i < reply->n_collected; i++) {
			const struct alb_collected *c = &reply->collected[i];
			char a[16];
			_cleanup_free_ char *n =
			    c->unikernel ? alb_name_to_string(c->unikernel) : NULL;
			addr(c->address, a);
			if (n)
				printf("destroyed %s, freed %s on %s\n", n, a, c->bridge);
			else
				printf("freed %s on %s\n", a, c->bridge);
		}
		return;
	}
	if (!reply->n_services)
		puts("(none)");
	for (uint32_t i = 0; i < reply->n_services; i++) {
		const struct alb_service_info *s = &reply->services[i];
		const struct alb_service_spec *sp = s->spec;
		_cleanup_free_ char *n = alb_name_to_string(s->name);
		char a[16], p[48];
		addr(sp->prefix, a);
		printf("%s%s: generation %" PRIu64 ", %s/%u on %s\n", i ? "\n" : "", n ? n : "?",
		       s->generation, a, sp->prefix_len, sp->bridge);
		printf("  publish:");
		for (uint32_t k = 0; k < sp->n_publish; k++) {
			publish_text(&sp->publish[k], p, sizeof(p));
			printf(" %s", p);
		}
		printf("%s\n", sp->n_publish ? "" : " (none)");
		for (uint32_t k = 0; k < s->n_instances; k++) {
			const struct alb_service_instance *in = &s->instances[k];
			_cleanup_free_ char *un = alb_name_to_string(in->unikernel);
			char t[64] = "";
			addr(in->address, a);
			if (in->until_us) {
				char when[40];
				format_time(when, sizeof(when), in->until_us);
				snprintf(t, sizeof(t), " until %s", when);
			}
			printf("  %s %s %s%s\n", un ? un : "?", a, state_name(in->state), t);
		}
		if (s->last_error)
			printf("  last update failed: %s\n", s->last_error);
	}
}

static void json_addr(struct json *j, const char *key, uint32_t a)
{
	char buf[16];
	addr(a, buf);
	json_kv_string(j, key, buf);
}

void cli_json_services(struct json *j, const struct alb_reply *reply)
{
	json_array_open(j);
	if (reply->kind == ALB_REPLY_COLLECTED) {
		for (uint32_t i = 0; i < reply->n_collected; i++) {
			const struct alb_collected *c = &reply->collected[i];
			_cleanup_free_ char *n =
			    c->unikernel ? alb_name_to_string(c->unikernel) : NULL;
			json_object_open(j);
			json_key(j, "unikernel");
			if (n)
				json_string(j, n);
			else
				json_null(j);
			json_kv_string(j, "bridge", c->bridge);
			json_addr(j, "address", c->address);
			json_object_close(j);
		}
		json_array_close(j);
		return;
	}
	for (uint32_t i = 0; i < reply->n_services; i++) {
		const struct alb_service_info *s = &reply->services[i];
		const struct alb_service_spec *sp = s->spec;
		_cleanup_free_ char *n = alb_name_to_string(s->name);
		char p[32];
		json_object_open(j);
		json_kv_string(j, "name", n);
		json_kv_uint(j, "generation", s->generation);
		json_kv_string(j, "bridge", sp->bridge);
		json_kv_string(j, "device", sp->device);
		addr(sp->prefix, p);
		snprintf(p + strlen(p), sizeof(p) - strlen(p), "/%u", sp->prefix_len);
		json_kv_string(j, "prefix", p);
		json_key(j, "gateway");
		if (sp->gateway) {
			addr(sp->gateway, p);
			json_string(j, p);
		} else
			json_null(j);
		json_key(j, "exclude");
		json_array_open(j);
		for (uint32_t k = 0; k < sp->n_excluded; k++) {
			addr(sp->excluded[k], p);
			json_string(j, p);
		}
		json_array_close(j);
		json_key(j, "publish");
		json_array_open(j);
		for (uint32_t k = 0; k < sp->n_publish; k++) {
			const struct alb_publish *pb = &sp->publish[k];
			json_object_open(j);
			json_kv_string(j, "proto", pb->proto == 17 ? "udp" : "tcp");
			json_key(j, "host_address");
			if (pb->host_addr) {
				addr(pb->host_addr, p);
				json_string(j, p);
			} else
				json_null(j);
			json_kv_uint(j, "host_port", pb->host_port);
			json_kv_uint(j, "port", pb->port);
			json_object_close(j);
		}
		json_array_close(j);
		static const char *const ready[] = {"none", "line", "tcp", "udp", "delay"};
		json_kv_string(j, "ready",
			       sp->ready >= 0 && sp->ready <= 4 ? ready[sp->ready] : "?");
		json_key(j, "ready_line");
		if (sp->ready_line)
			json_string(j, sp->ready_line);
		else
			json_null(j);
		json_key(j, "ready_port");
		if (sp->ready_port)
			json_uint(j, sp->ready_port);
		else
			json_null(j);
		json_key(j, "ready_delay");
		if (sp->ready_delay_ms)
			json_uint(j, sp->ready_delay_ms);
		else
			json_null(j);
		json_kv_uint(j, "ready_timeout", sp->ready_timeout_ms);
		json_kv_uint(j, "drain", sp->drain_ms);
		json_key(j, "instances");
		json_array_open(j);
		for (uint32_t k = 0; k < s->n_instances; k++) {
			const struct alb_service_instance *in = &s->instances[k];
			_cleanup_free_ char *un = alb_name_to_string(in->unikernel);
			json_object_open(j);
			json_kv_uint(j, "generation", in->generation);
			json_kv_string(j, "unikernel", un);
			json_addr(j, "address", in->address);
			json_kv_string(j, "state", state_name(in->state));
			json_key(j, "until");
			if (in->until_us)
				json_uint(j, in->until_us);
			else
				json_null(j);
			json_object_close(j);
		}
		json_array_close(j);
		json_key(j, "last_error");
		if (s->last_error)
			json_string(j, s->last_error);
		else
			json_null(j);
		json_key(j, "config");
		cli_json_config(j, s->config);
		json_object_close(j);
	}
	json_array_close(j);
}
