/* SPDX-License-Identifier: ISC */
/*
 * albatross-client console NAME [--since T | --count N] [--follow]: the
 * console history of a unikernel from albatross-console (docs/console.md).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <time.h>

#include "cli-private.h"

#define CONSOLE_SOCKET_NAME "console.sock"

/* The length of the valid UTF-8 sequence at s (of len bytes), 0 if invalid. */
static size_t utf8_seq(const uint8_t *s, size_t len, uint32_t *ret_cp)
{
	uint32_t cp;
	size_t n;
	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		cp = s[0] & 0x1f;
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		cp = s[0] & 0x0f;
		n = 3;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		cp = s[0] & 0x07;
		n = 4;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return n;
}

/*
 * Text output, as journalctl prints a message: the bytes as they are, except
 * what would drive the terminal. Control characters other than tab (C0, DEL
 * and C1) are escaped C-style (\r, \a, \x1b, \u0085), and so is every byte
 * that is not part of valid UTF-8 (\xNN). A backslash is printed as it is, so
 * the Solo5 banner looks as the unikernel drew it.
 */
static void print_escaped(FILE *f, const uint8_t *s, size_t len)
{
	static const char named[] = {
	    ['\a'] = 'a', ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\v'] = 'v'};
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_seq(s + i, len - i, &cp);
		if (n == 0) {
			fprintf(f, "\\x%02x", s[i]);
			i++;
			continue;
		}
		if (cp < sizeof(named) && named[cp])
			fprintf(f, "\\%c", named[cp]);
		else if ((cp < 0x20 && cp != '\t') || cp == 0x7f)
			fprintf(f, "\\x%02x", cp);
		else if (cp >= 0x80 && cp < 0xa0)
			fprintf(f, "\\u%04x", cp);
		else
			fwrite(s + i, 1, n, f);
		i += n;
	}
}

/* JSON: the line as text with U+FFFD for each byte that is not UTF-8. */
static char *to_text(const uint8_t *s, size_t len, size_t *ret_len, bool *ret_valid)
{
	char *out = malloc(len * 3 + 1), *o = out;
	bool valid = true;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_seq(s + i, len - i, &cp);
		if (n == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			valid = false;
			continue;
		}
		memcpy(o, s + i, n);
		o += n;
		i += n;
	}
	*o = '\0';
	*ret_len = (size_t)(o - out);
	*ret_valid = valid;
	return out;
}

/* Base64 (RFC 4648) of len bytes, NUL-terminated; NULL on allocation failure. */
static char *base64(const uint8_t *s, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* RFC 3339 in UTC with microseconds: 2026-11-22T01:02:03.123456Z. */
static void format_rfc3339(char *buf, size_t size, uint64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	char date[32] = "?";
	if (gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%06uZ", date, (unsigned)(us % 1000000));
}

/* T: microseconds since the epoch, or RFC 3339 in UTC ("Z" or "+00:00"), with
 * optional fractional seconds (at most 6 digits). */
struct printer {
	bool json, follow;
	uint64_t lines;
	struct json j;
};

static void print_json_line(struct printer *p, const struct alb_console_line *l, const char *ts)
{
	size_t len = 0;
	bool valid = false;
	_cleanup_free_ char *text = to_text(l->line, l->len, &len, &valid);
	if (p->follow)
		json_begin(&p->j, stdout);
	json_object_open(&p->j);
	json_kv_uint(&p->j, "time", l->time_us);
	json_kv_string(&p->j, "timestamp", ts);
	json_key(&p->j, "line");
	json_string_n(&p->j, text ? text : "", text ? len : 0);
	json_kv_bool(&p->j, "truncated", l->truncated);
	json_kv_bool(&p->j, "dropped", l->dropped);
	/* The exact bytes, when the text above had to replace some; null otherwise. */
	_cleanup_free_ char *raw = !valid || !text ? base64(l->line, l->len) : NULL;
	json_kv_string(&p->j, "raw", raw);
	json_object_close(&p->j);
	if (p->follow)
		json_end(&p->j);
}

static void print_line(struct printer *p, const struct alb_console_line *l)
{
	char ts[64];
	format_rfc3339(ts, sizeof(ts), l->time_us);
	if (p->json) {
		print_json_line(p, l, ts);
	} else {
		fputs(ts, stdout);
		fputc(' ', stdout);
		/* albatross's own note, not the unikernel's output: set apart */
		if (l->dropped)
			fputs("[albatross: ", stdout);
		print_escaped(stdout, l->line, l->len);
		if (l->dropped)
			fputc(']', stdout);
		if (l->truncated)
			fputs(" [truncated]", stdout);
		fputc('\n', stdout);
	}
	p->lines++;
	if (p->follow)
		fflush(stdout);
}

int cli_cmd_console(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { OPT_SINCE = OPT_COMMAND_BASE, OPT_COUNT, OPT_FOLLOW, OPT_CONSOLE_SOCKET };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"count", required_argument, NULL, OPT_COUNT},
	    {"follow", no_argument, NULL, OPT_FOLLOW},
	    {"console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET},
	    {0},
	};
	_cleanup_(alb_name_freep) alb_name *name = NULL;
	_cleanup_(alb_msg_freep) alb_msg *msg = NULL;
	struct alb_history h = {0};
	const char *socket_path = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		r = cli_common_option(cli, c, cmd);
		if (r >= 0)
			return r;
		if (r == -2)
			continue;
		switch (c) {
		case OPT_SINCE:
			if (cli_parse_time(optarg, &h.since_us) != 0)
				return EXIT_USAGE;
			h.has_since = true;
			break;
		case OPT_COUNT:
			if (cli_parse_u32("count", optarg, 1, ALB_HISTORY_MAX, &h.count) != 0)
				return EXIT_USAGE;
			h.has_count = true;
			break;
		case OPT_FOLLOW:
			h.follow = true;
			break;
		case OPT_CONSOLE_SOCKET:
			socket_path = optarg;
			break;
		}
	}
	if (h.has_since && h.has_count)
		return cli_usage_error(cmd, "--since and --count cannot be used together");
	if (argc - optind < 1)
		return cli_usage_missing(cmd, 0);
	if (argc - optind > 1)
		return cli_usage_error(cmd, "too many arguments");
	if ((r = cli_parse_name(cli, argv[optind], 'n', &name)) != 0)
		return r;
	if (!h.has_since && !h.has_count) {
		/* Everything kept: the ring holds at most this many lines. */
		h.has_count = true;
		h.count = ALB_HISTORY_MAX;
	}

	msg = cli_command_new(ALB_CMD_CONSOLE_SUBSCRIBE, name);
	if (!msg)
		return cli_error(EXIT_FAILED, "out of memory");
	msg->cmd.history = h;
	return cli_run_console(cli, msg, socket_path);
}

int cli_run_console(struct cli *cli, alb_msg *msg, const char *socket_path)
{
	_cleanup_(alb_client_freep) alb_client *client = NULL;
	_cleanup_(alb_msg_freep) alb_msg *reply = NULL;
	const struct alb_history h = msg->cmd.history;
	char path[PATH_MAX];
	int r;

	if (socket_path)
		snprintf(path, sizeof(path), "%s", socket_path);
	else if ((size_t)snprintf(path, sizeof(path), "%s/%s", cli->rundir, CONSOLE_SOCKET_NAME) >=
		 sizeof(path))
		return cli_error(EXIT_USAGE, "--rundir is too long");
	r = cli_connect_service(cli, msg, "albatross-console", path, &client);
	if (r != EXIT_OK || !client)
		return r;
	r = alb_client_request(client, msg, &reply);
	if (r < 0)
		return cli_client_error(cli, client, r);

	struct printer p = {.json = cli->json, .follow = h.follow};
	if (p.json && !p.follow) {
		json_begin(&p.j, stdout);
		json_array_open(&p.j);
	}
	for (;;) {
		_cleanup_(alb_msg_freep) alb_msg *m = NULL;
		r = alb_client_receive(client, &m);
		if (r == ALB_CLIENT_END)
			break;
		if (r == -EPIPE) {
			fflush(stdout);
			return cli_error(EXIT_PROTOCOL,
					 "console: albatross-console closed the connection");
		}
		if (r < 0) {
			fflush(stdout);
			return cli_client_error(cli, client, r);
		}
		if ((m->seq == msg->seq || m->seq == 0) && m->kind == ALB_MSG_FAILURE) {
			fflush(stdout);
			return cli_error(EXIT_FAILED, "console: %s", m->failure.message);
		}
		if (m->seq != msg->seq || m->kind != ALB_MSG_DATA ||
		    m->data.kind != ALB_DATA_CONSOLE) {
			fflush(stdout);
			return cli_error(EXIT_PROTOCOL,
					 "console: unexpected message in the stream");
		}
		print_line(&p, &m->data.console);
	}
	if (p.json && !p.follow) {
		json_array_close(&p.j);
		json_end(&p.j);
	}
	fflush(stdout);
	return EXIT_OK;
}
