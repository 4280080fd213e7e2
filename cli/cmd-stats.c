/* SPDX-License-Identifier: ISC */
/*
 * albatross-client stats [NAME|PATH] [--follow]: the statistics of a
 * unikernel, or of every unikernel below a path, from albatross-stats
 * (RUNDIR/stats.sock; docs/metrics.md). Without --follow, one round of
 * samples (the next) is printed.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>

#include "cli-private.h"

#define STATS_SOCKET_NAME "stats.sock"
/* Without --follow, a round has ended when nothing more came for this long. */
#define ROUND_IDLE_MS 1000

static void print_text(const alb_name *name, const struct alb_stats *s)
{
	_cleanup_free_ char *n = alb_name_to_string(name);
	char started[64];

	format_time(started, sizeof(started), s->start_time_us);
	printf("%s: pid %" PRIu32 ", started %s\n", n ? n : "?", s->pid, started);
	printf("  cpu: user %" PRIu64 ".%06" PRIu64 " s, system %" PRIu64 ".%06" PRIu64 " s\n",
	       s->utime_us / 1000000, s->utime_us % 1000000, s->stime_us / 1000000,
	       s->stime_us % 1000000);
	printf("  memory: resident %" PRIu64 " bytes, virtual %" PRIu64 " bytes\n", s->rss_bytes,
	       s->vsize_bytes);
	printf("  page faults: %" PRIu64 " minor, %" PRIu64 " major; context switches: %" PRIu64
	       " voluntary, %" PRIu64 " involuntary\n",
	       s->minflt, s->majflt, s->nvcsw, s->nivcsw);
	for (uint32_t i = 0; i < s->n_ifs; i++) {
		const struct alb_if_stats *f = &s->ifs[i];
		printf("  %s: rx %" PRIu64 " bytes, %" PRIu64 " packets, %" PRIu64
		       " errors, %" PRIu64 " drops; tx %" PRIu64 " bytes, %" PRIu64
		       " packets, %" PRIu64 " errors, %" PRIu64 " drops\n",
		       f->name, f->rx_bytes, f->rx_packets, f->rx_errors, f->rx_drops, f->tx_bytes,
		       f->tx_packets, f->tx_errors, f->tx_drops);
	}
	if (s->n_kvm) {
		printf("  kvm:");
		for (uint32_t i = 0; i < s->n_kvm; i++)
			printf(" %s=%" PRIu64, s->kvm[i].key, s->kvm[i].value);
		printf("\n");
	}
}

static void print_json(struct json *j, const alb_name *name, const struct alb_stats *s)
{
	_cleanup_free_ char *n = alb_name_to_string(name);

	json_object_open(j);
	json_kv_string(j, "name", n);
	json_kv_uint(j, "time", s->time_us);
	json_kv_uint(j, "pid", s->pid);
	json_kv_uint(j, "start_time", s->start_time_us);
	json_kv_uint(j, "utime", s->utime_us);
	json_kv_uint(j, "stime", s->stime_us);
	json_kv_uint(j, "rss", s->rss_bytes);
	json_kv_uint(j, "vsize", s->vsize_bytes);
	json_kv_uint(j, "minflt", s->minflt);
	json_kv_uint(j, "majflt", s->majflt);
	json_kv_uint(j, "nvcsw", s->nvcsw);
	json_kv_uint(j, "nivcsw", s->nivcsw);
	json_key(j, "ifs");
	json_array_open(j);
	for (uint32_t i = 0; i < s->n_ifs; i++) {
		const struct alb_if_stats *f = &s->ifs[i];
		json_object_open(j);
		json_kv_string(j, "name", f->name);
		json_kv_uint(j, "rx_bytes", f->rx_bytes);
		json_kv_uint(j, "rx_packets", f->rx_packets);
		json_kv_uint(j, "rx_errors", f->rx_errors);
		json_kv_uint(j, "rx_drops", f->rx_drops);
		json_kv_uint(j, "tx_bytes", f->tx_bytes);
		json_kv_uint(j, "tx_packets", f->tx_packets);
		json_kv_uint(j, "tx_errors", f->tx_errors);
		json_kv_uint(j, "tx_drops", f->tx_drops);
		json_object_close(j);
	}
	json_array_close(j);
	json_key(j, "kvm");
	json_object_open(j);
	for (uint32_t i = 0; i < s->n_kvm; i++)
		json_kv_uint(j, s->kvm[i].key, s->kvm[i].value);
	json_object_close(j);
	json_object_close(j);
}

int cli_cmd_stats(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_FOLLOW = OPT_COMMAND_BASE };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"follow", no_argument, NULL, O_FOLLOW},
	    {0},
	};
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	bool follow = false;
	int c, r;

	while ((c = getopt_long(argc, argv, ":hf", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r == -2)
			continue;
		if (r >= 0)
			return r;
		if (c != O_FOLLOW && c != 'f')
			return EXIT_USAGE;
		follow = true;
	}
	if (argc - optind > 1)
		return cli_usage_error(cmd, "too many arguments");
	if ((r = cli_parse_name(cli, optind < argc ? argv[optind] : ":", 'a', &name)) != 0)
		return r;
	msg = cli_command_new(ALB_CMD_STATS_SUBSCRIBE, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	return cli_run_stats(cli, msg, follow);
}

int cli_run_stats(struct cli *cli, alb_msg *msg, bool follow)
{
	_cleanup_(alb_client_freep) alb_client *client = NULL;
	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	const alb_name *name = msg->name;
	bool path = alb_name_is_path(name);
	char sock[PATH_MAX];
	int r;

	if ((size_t)snprintf(sock, sizeof(sock), "%s/%s", cli->rundir, STATS_SOCKET_NAME) >=
	    sizeof(sock))
		return cli_error(EXIT_USAGE, "--rundir is too long");
	r = cli_connect_service(cli, msg, "albatross-stats", sock, &client);
	if (r != EXIT_OK || !client)
		return r;
	r = alb_client_request(client, msg, &reply);
	if (r < 0)
		return cli_client_error(cli, client, r);
	if (reply->kind != ALB_MSG_SUCCESS || reply->reply.kind != ALB_REPLY_EMPTY)
		return cli_error(EXIT_PROTOCOL, "%s: an unexpected reply", cli->command);

	struct json j;
	bool any = false;
	uint64_t round = 0;
	if (cli->json && !follow) {
		json_begin(&j, stdout);
		json_array_open(&j);
	}
	for (;;) {
		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		r = alb_client_receive(client, &m);
		if (r == -ETIMEDOUT && any && !follow)
			break; /* the round is complete */
		if (r == ALB_CLIENT_END) {
			if (any || follow)
				break;
			return cli_error(EXIT_FAILED, "%s: the subject went away", cli->command);
		}
		if (r < 0)
			return cli_client_error(cli, client, r);
		if (m->kind == ALB_MSG_FAILURE)
			return cli_error(EXIT_FAILED, "%s: %s", cli->command, m->failure.message);
		if (m->kind != ALB_MSG_DATA || m->data.kind != ALB_DATA_STATS ||
		    alb_msg_get_seq(m) != alb_msg_get_seq(msg))
			return cli_error(EXIT_PROTOCOL, "%s: an unexpected message", cli->command);
		const struct alb_stats *s = m->data.stats;
		/* Every sample of a round carries the round's time. */
		if (!follow && any && s->time_us != round)
			break;
		round = s->time_us;
		_cleanup_(alb_name_freep) alb_name *full = NULL;
		const alb_name *shown = m->name;
		/* Remotely the domain comes from the certificate: the reply names it. */
		const alb_name *base = alb_client_is_remote(client) ? reply->name : name;
		if (path && alb_name_prepend_path(cli->ctx, base, m->name, &full) >= 0)
			shown = full;
		if (cli->json && follow) {
			struct json one;
			json_begin(&one, stdout);
			print_json(&one, shown, s);
			json_end(&one);
		} else if (cli->json) {
			print_json(&j, shown, s);
		} else {
			print_text(shown, s);
		}
		fflush(stdout);
		any = true;
		if (!follow && !path)
			break;
		/* Locally and over TLS alike. */
		(void)alb_client_set_read_timeout(client, follow ? -1 : ROUND_IDLE_MS);
	}
	if (cli->json && !follow) {
		json_array_close(&j);
		json_end(&j);
	}
	return EXIT_OK;
}
