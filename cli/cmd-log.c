/* SPDX-License-Identifier: ISC */
/*
 * albatross-client log [PATH] [--since T | --count N] [--follow]: the events
 * of albatross-log (RUNDIR/log.sock), one line each, or JSON: one array, or
 * with --follow one object per line as the events come.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <time.h>

#include "cli-private.h"

enum { OPT_SINCE = OPT_COMMAND_BASE, OPT_COUNT, OPT_FOLLOW };

/* RFC 3339 in UTC ("2024-01-31T12:00:00Z", optional fraction) or µs since the epoch. */
static void format_utc(char *buf, size_t size, uint64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	char date[32];

	if (!gmtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(buf, size, "%" PRIu64, us);
	else
		snprintf(buf, size, "%s.%06" PRIu64 "Z", date, us % 1000000);
}

/* A value quoted, with quotes, backslashes and control characters escaped. */
static void print_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void print_strv(FILE *f, const char *key, char *const *v, uint32_t n)
{
	if (!v)
		return;
	fprintf(f, " %s=", key);
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", v[i]);
}

static void print_text(const struct alb_log_event *ev)
{
	char when[64], hex[65];
	_cleanup_free_ char *name = ev->name ? alb_name_to_string(ev->name) : NULL;
	const char *kind = alb_log_event_kind_to_string(ev->kind);

	format_utc(when, sizeof(when), ev->time_us);
	printf("%s %s %s", when, kind ? kind : "?", name ? name : "-");
	if (ev->pid)
		printf(" pid=%" PRIu32, ev->pid);
	if (ev->has_digest) {
		format_hex(hex, ev->digest, 32);
		printf(" digest=%.12s", hex);
	}
	print_strv(stdout, "taps", ev->taps, ev->n_taps);
	print_strv(stdout, "blocks", ev->blocks, ev->n_blocks);
	if (ev->exit.kind)
		printf(" %s=%" PRIu32, ev->exit.kind == ALB_EXIT_CODE ? "exit" : "signal",
		       ev->exit.value);
	if (ev->attempt)
		printf(" attempt=%" PRIu32, ev->attempt);
	if (ev->delay_us)
		printf(" delay=%" PRIu64 ".%03" PRIu64 "s", ev->delay_us / 1000000,
		       ev->delay_us % 1000000 / 1000);
	if (ev->identity) {
		fputs(" by=", stdout);
		print_quoted(stdout, ev->identity);
	}
	if (ev->message) {
		fputs(" message=", stdout);
		print_quoted(stdout, ev->message);
	}
	putchar('\n');
}

static void json_event(struct json *j, const struct alb_log_event *ev)
{
	char hex[65];
	_cleanup_free_ char *name = ev->name ? alb_name_to_string(ev->name) : NULL;

	json_object_open(j);
	json_kv_uint(j, "time", ev->time_us);
	json_kv_string(j, "kind", alb_log_event_kind_to_string(ev->kind));
	json_kv_string(j, "name", name);
	/* Every key, null where the event has none (as every --json output). */
	json_key(j, "pid");
	if (ev->pid)
		json_uint(j, ev->pid);
	else
		json_null(j);
	json_key(j, "digest");
	if (ev->has_digest) {
		format_hex(hex, ev->digest, 32);
		json_string(j, hex);
	} else {
		json_null(j);
	}
	json_key(j, "taps");
	if (ev->taps) {
		json_array_open(j);
		for (uint32_t i = 0; i < ev->n_taps; i++)
			json_string(j, ev->taps[i]);
		json_array_close(j);
	} else {
		json_null(j);
	}
	json_key(j, "blocks");
	if (ev->blocks) {
		json_array_open(j);
		for (uint32_t i = 0; i < ev->n_blocks; i++)
			json_string(j, ev->blocks[i]);
		json_array_close(j);
	} else {
		json_null(j);
	}
	json_key(j, "exit");
	if (ev->exit.kind) {
		json_object_open(j);
		json_kv_uint(j, ev->exit.kind == ALB_EXIT_CODE ? "code" : "signal", ev->exit.value);
		json_object_close(j);
	} else {
		json_null(j);
	}
	json_key(j, "attempt");
	if (ev->attempt)
		json_uint(j, ev->attempt);
	else
		json_null(j);
	json_key(j, "delay");
	if (ev->delay_us)
		json_uint(j, ev->delay_us);
	else
		json_null(j);
	json_kv_string(j, "identity", ev->identity);
	json_kv_string(j, "message", ev->message);
	json_object_close(j);
}

static int connect_log(struct cli *cli, const alb_msg *msg, alb_client **ret)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/log.sock", cli->rundir) >= sizeof(path))
		return cli_error(EXIT_USAGE, "--rundir is too long");
	return cli_connect_service(cli, msg, "albatross-log", path, ret);
}

int cli_cmd_log(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"count", required_argument, NULL, OPT_COUNT},
	    {"follow", no_argument, NULL, OPT_FOLLOW},
	    {0},
	};
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	struct alb_history h = {0};
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r != -1) {
			if (r == -2)
				continue;
			return r;
		}
		switch (c) {
		case OPT_SINCE:
			if ((r = cli_parse_time(optarg, &h.since_us)) != 0)
				return r;
			if (h.since_us > alb_now_realtime())
				return cli_error(EXIT_USAGE, "--since %s is in the future", optarg);
			h.has_since = true;
			break;
		case OPT_COUNT:
			if ((r = cli_parse_u32("count", optarg, 1, ALB_HISTORY_MAX, &h.count)) != 0)
				return r;
			h.has_count = true;
			break;
		case OPT_FOLLOW:
			h.follow = true;
			break;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (h.has_since && h.has_count)
		return cli_usage_error(cmd, "--since and --count cannot be used together");
	if (argc - optind > 1)
		return cli_usage_error(cmd, "too many arguments");
	r = cli_parse_name(cli, optind < argc ? argv[optind] : ":", 'a', &name);
	if (r != 0)
		return r;
	/* Without a selection, the whole history (as much as the daemon gives). */
	if (!h.has_since && !h.has_count && !h.follow) {
		h.has_since = true;
		h.since_us = 0;
	}
	msg = cli_command_new(ALB_CMD_LOG_SUBSCRIBE, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	msg->cmd.history = h;
	return cli_run_log(cli, msg);
}

int cli_run_log(struct cli *cli, alb_msg *msg)
{
	_cleanup_(alb_client_freep) alb_client *client = NULL;
	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	const struct alb_history h = msg->cmd.history;
	struct json j;
	int r;

	if ((r = connect_log(cli, msg, &client)) != EXIT_OK || !client)
		return r;
	r = alb_client_request(client, msg, &reply);
	if (r < 0)
		return cli_client_error(cli, client, r);
	if (reply->reply.kind != ALB_REPLY_EMPTY)
		return cli_error(EXIT_PROTOCOL, "log: unexpected reply");

	bool array = cli->json && !h.follow;
	if (array) {
		json_begin(&j, stdout);
		json_array_open(&j);
	}
	uint64_t shown = 0;
	for (;;) {
		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		r = alb_client_receive(client, &m);
		if (r == ALB_CLIENT_END)
			break;
		if (r < 0)
			return cli_client_error(cli, client, r);
		if (m->kind == ALB_MSG_FAILURE) {
			return cli_error(EXIT_FAILED, "log: %s",
					 m->failure.message ? m->failure.message : "failed");
		}
		if (m->kind != ALB_MSG_DATA || m->data.kind != ALB_DATA_LOG || m->seq != reply->seq)
			return cli_error(EXIT_PROTOCOL, "log: unexpected message in the stream");
		if (array) {
			json_event(&j, m->data.event);
		} else if (cli->json) {
			struct json line;
			json_begin(&line, stdout);
			json_event(&line, m->data.event);
			json_end(&line);
		} else {
			print_text(m->data.event);
			shown++;
			if (h.follow)
				fflush(stdout);
		}
	}
	/* People are told that nothing matched, as info and block tell them. */
	if (!cli->json && !shown)
		puts("(none)");
	if (array) {
		json_array_close(&j);
		json_end(&j);
	}
	return EXIT_OK;
}
