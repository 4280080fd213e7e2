/* SPDX-License-Identifier: ISC */
/* Helpers of albatross-client: messages, argument parsing, connecting. */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <time.h>

#include "cli-help.h"
#include "cli-private.h"

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("albatross-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("albatross-client: ", stderr);
	if (cmd)
		fprintf(stderr, "%s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd) {
		fprintf(stderr, "Usage: albatross-client %s%s%s\n", cmd->name,
			cmd->synopsis[0] ? " " : "", cmd->synopsis);
		fprintf(stderr, "See 'albatross-client help %s'.\n", cmd->name);
	} else
		fputs("See 'albatross-client --help'.\n", stderr);
	return EXIT_USAGE;
}

int cli_usage_missing(const struct cli_command *cmd, int have)
{
	enum { MAX_ARGS = 8 };
	const char *word[MAX_ARGS];
	int len[MAX_ARGS], n = 0, index = 0, depth = 0;
	char what[256];
	size_t at = 0;

	/* The required arguments: the upper-case words before the first option, outside
	 * brackets ("CACERT CAKEY SERIAL... [--crl FILE]": CACERT, CAKEY, SERIAL). */
	for (const char *s = cmd->synopsis; *s && n < MAX_ARGS;) {
		int w = (int)strcspn(s, " ");
		if (depth == 0 && s[0] == '-')
			break;
		if (depth == 0 && s[0] >= 'A' && s[0] <= 'Z') {
			int l = w;
			while (l > 0 && s[l - 1] == '.') /* SERIAL... */
				l--;
			if (index++ >= have) {
				word[n] = s;
				len[n++] = l;
			}
		}
		for (int i = 0; i < w; i++)
			depth += s[i] == '[' ? 1 : s[i] == ']' ? -1 : 0;
		s += w;
		s += strspn(s, " ");
	}
	if (n == 0)
		return cli_usage_error(cmd, "missing argument");
	what[0] = '\0';
	for (int i = 0; i < n && at < sizeof(what); i++) {
		const char *sep = i == 0 ? "" : i == n - 1 ? " and " : ", ";
		int r = snprintf(what + at, sizeof(what) - at, "%s%.*s", sep, len[i], word[i]);
		if (r < 0)
			break;
		at += (size_t)r;
	}
	return cli_usage_error(cmd, "missing %s", what);
}

int cli_help_print(const char *name)
{
	for (size_t i = 0; i < cli_n_help; i++)
		if (streq(cli_help[i].name, name)) {
			fputs(cli_help[i].text, stdout);
			return EXIT_OK;
		}
	return -1;
}

int cli_common_option(struct cli *cli, int c, const struct cli_command *cmd)
{
	switch (c) {
	case OPT_JSON:
		cli->json = true;
		return -2;
	case OPT_SOCKET:
		cli->socket = optarg;
		return -2;
	case OPT_RUNDIR:
		cli->rundir = optarg;
		return -2;
	case OPT_CSR:
		cli->csr = true;
		return -2;
	case OPT_DESTINATION:
		cli->destination = optarg;
		return -2;
	case OPT_CA:
		cli->ca = optarg;
		return -2;
	case OPT_CA_KEY:
		cli->ca_key = optarg;
		return -2;
	case OPT_SERVER_CA:
		cli->server_ca = optarg;
		return -2;
	case OPT_HANDSHAKE_TIMEOUT:
		return cli_parse_handshake_timeout(cli, optarg) == 0 ? -2 : EXIT_USAGE;
	case 'h':
		if (cli_help_print(cmd->name) == EXIT_OK)
			return EXIT_OK;
		printf("Usage: albatross-client %s %s\n", cmd->name, cmd->synopsis);
		return EXIT_OK;
	case '?':
		return cli_usage_error(cmd, "unknown option '%s'", cli->argv[optind - 1]);
	case ':':
		return cli_usage_error(cmd, "option '%s' needs an argument", cli->argv[optind - 1]);
	default:
		return -1;
	}
}

int cli_parse_handshake_timeout(struct cli *cli, const char *s)
{
	uint32_t sec;

	if (cli_parse_u32("--handshake-timeout", s, 1, 3600, &sec) != 0)
		return EXIT_USAGE;
	cli->handshake_ms = sec * 1000u;
	return 0;
}

int cli_parse_u64(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (alb_parse_u64(s, min, max, ret) < 0)
		return cli_error(EXIT_USAGE,
				 "invalid %s '%s': expected a number from %" PRIu64 " to %" PRIu64,
				 what, s, min, max);
	return 0;
}

int cli_parse_u32(const char *what, const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;
	int r = cli_parse_u64(what, s, min, max, &v);

	if (r == 0)
		*ret = (uint32_t)v;
	return r;
}

int cli_parse_name(struct cli *cli, const char *s, int kind, alb_name **ret)
{
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	int r;

	r = alb_name_parse(cli->ctx, s, &name);
	if (r < 0) {
		const char *why = alb_ctx_last_error(cli->ctx);
		if (strncmp(why, "invalid name '", 14) == 0) /* it names the string */
			return cli_error(EXIT_USAGE, "%s", why);
		return cli_error(EXIT_USAGE, "invalid name '%s': %s", s, why);
	}
	if (kind == 'n' && alb_name_is_path(name))
		return cli_error(EXIT_USAGE,
				 "invalid name '%s': a path (it ends in ':'), not a name", s);
	if (kind == 'p' && !alb_name_is_path(name))
		return cli_error(EXIT_USAGE,
				 "invalid path '%s': a path ends in ':' (for example '%s:')", s, s);
	*ret = TAKE_PTR(name);
	return 0;
}

int cli_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	int n = 0;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &n) !=
		6 ||
	    n != 17)
		return cli_error(EXIT_USAGE, "invalid MAC address '%s': expected xx:xx:xx:xx:xx:xx",
				 s);
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
			return cli_error(EXIT_USAGE,
					 "invalid MAC address '%s': expected xx:xx:xx:xx:xx:xx", s);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	if (mac[0] & 1)
		return cli_error(EXIT_USAGE, "invalid MAC address '%s': a multicast address", s);
	return 0;
}

int cli_connect_service(struct cli *cli, const alb_msg *msg, const char *service, const char *path,
			alb_client **ret)
{
	*ret = NULL;
	if (cli->csr && cli->destination)
		return cli_error(EXIT_USAGE, "--csr and --destination cannot be used together");
	if (cli->csr)
		return cli_write_csr(cli, msg);
	if (cli->destination)
		return cli_connect_remote(cli, msg, ret);
	if (cli->ca || cli->ca_key || cli->server_ca || cli->handshake_ms)
		return cli_error(EXIT_USAGE,
				 "--ca, --ca-key, --server-ca and --handshake-timeout go "
				 "with --destination");
	if (alb_client_connect_unix_service(cli->ctx, service, path, ret) < 0)
		return cli_error(EXIT_CONNECT, "%s", alb_ctx_last_error(cli->ctx));
	return EXIT_OK;
}

int cli_connect(struct cli *cli, const alb_msg *msg, alb_client **ret)
{
	char path[PATH_MAX];

	if (cli->socket)
		snprintf(path, sizeof(path), "%s", cli->socket);
	else if ((size_t)snprintf(path, sizeof(path), "%s/%s", cli->rundir, CLI_SOCKET_NAME) >=
		 sizeof(path))
		return cli_error(EXIT_USAGE, "--rundir is too long");
	return cli_connect_service(cli, msg, "albatrossd", path, ret);
}

int cli_client_error(struct cli *cli, alb_client *client, int r)
{
	const char *why = alb_ctx_last_error(cli->ctx);

	if (!why[0])
		why = strerror(-r);
	if (client && alb_client_endpoint_refused(client))
		return cli_error(EXIT_REFUSED, "%s: refused by the endpoint: %s", cli->command,
				 why);
	if (client && alb_client_is_remote(client) && alb_client_get_refused(client))
		return cli_error(EXIT_FAILED, "%s: the remote command failed: %s", cli->command,
				 why);
	if (alb_client_get_refused(client) || cli->local_error || r == -ENOMEM)
		return cli_error(EXIT_FAILED, "%s: %s", cli->command, why);
	/* The connection or the protocol failed. */
	return cli_error(EXIT_PROTOCOL, "%s: %s", cli->command, why);
}

int cli_parse_time(const char *s, uint64_t *ret)
{
	uint64_t now = alb_now_realtime();
	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s)) {
		if (cli_parse_u64("time", s, 0, ALB_TIME_MAX, ret) != 0)
			return EXIT_USAGE;
		/* A number is microseconds: a small one is more likely a year or seconds. */
		if (*ret > 0 && *ret < UINT64_C(1000000000000))
			return cli_error(
			    EXIT_USAGE,
			    "invalid time '%s': a number is microseconds since the epoch, "
			    "and this one is in the first days of 1970; for a date write "
			    "RFC 3339 in UTC such as 2026-01-01T00:00:00Z",
			    s);
		goto check;
	}
	struct tm tm = {0};
	unsigned frac = 0;
	int n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10 ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
		goto bad;
	const char *p = s + 11;
	if (sscanf(p, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 3 || n != 8)
		goto bad;
	p += 8;
	if (*p == '.') {
		size_t digits = strspn(p + 1, "0123456789");
		if (digits < 1 || digits > 6)
			goto bad;
		for (size_t i = 0; i < 6; i++)
			frac = frac * 10 + (i < digits ? (unsigned)(p[1 + i] - '0') : 0);
		p += 1 + digits;
	}
	if (!streq(p, "Z") && !streq(p, "z") && !streq(p, "+00:00"))
		goto bad;
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		goto bad;
	int mday = tm.tm_mday;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != mday) /* normalised: no such day */
		goto bad;
	*ret = (uint64_t)t * 1000000 + frac;
	if (*ret > ALB_TIME_MAX)
		goto bad;
check:
	if (*ret > now)
		return cli_error(EXIT_USAGE, "invalid time '%s': it is in the future", s);
	return 0;
bad:
	return cli_error(EXIT_USAGE,
			 "invalid time '%s': expected RFC 3339 in UTC such as "
			 "2026-11-22T01:02:03.123456Z, or microseconds since the epoch",
			 s);
}

alb_msg *cli_command_new(int kind, const alb_name *name)
{
	alb_msg *msg = NULL;

	if (alb_msg_new(&msg, ALB_MSG_COMMAND, 0, name) < 0)
		return NULL;
	msg->cmd.kind = kind;
	return msg;
}
