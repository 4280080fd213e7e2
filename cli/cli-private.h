/* SPDX-License-Identifier: ISC */
/* albatross-client internals: the command table, output (tables, JSON, progress), helpers. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <albatross/albatross.h>

#include <albatross/albatross.h>
#include <albatross/sys/client.h>
#include <albatross/sys/util.h>
#include <albatross/sys/wire.h>
#include <albatross/sys/x509.h>

/* Exit codes, documented in --help and albatross-client(1). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,   /* the command failed: the daemon refused it, or a local file */
	EXIT_USAGE = 2,	   /* a usage error: an unknown option, a bad name or number */
	EXIT_CONNECT = 3,  /* cannot connect to the daemon */
	EXIT_PROTOCOL = 4, /* a protocol error: a malformed reply, the connection lost */
	EXIT_TLS = 5,	   /* the TLS handshake failed, or the server's certificate */
	EXIT_REFUSED = 6,  /* the TLS endpoint refused our certificate chain or its policies */
};

#define CLI_RUNDIR_DEFAULT "/run/albatross"
#define CLI_SOCKET_NAME	   "albatrossd.sock"
/* Transfers over this many bytes show a progress bar when stderr is a terminal. */
#define CLI_PROGRESS_MIN (UINT64_C(4) << 20)

struct cli {
	alb_ctx *ctx;
	const char *socket;  /* --socket, or NULL for <rundir>/albatrossd.sock */
	const char *rundir;  /* --rundir */
	bool json;	     /* --json */
	bool local_error;    /* the last failure was a local one (a file), not the daemon's */
	const char *command; /* the command's name, for messages */
	char **argv;	     /* the command's arguments, for getopt messages */
	/* remote use (remote.c) */
	bool csr;		 /* --csr: write a certificate signing request instead */
	const char *destination; /* --destination HOST:PORT */
	const char *ca, *ca_key; /* --ca, --ca-key: sign a request in one step */
	const char *server_ca;	 /* --server-ca: the CA of the endpoint's certificate */
	const char *cert, *key;	 /* the certificate command's CERT and KEY */
	uint32_t handshake_ms;	 /* --handshake-timeout, 0: the library's default (10 s) */
};

/* A command: argv[0] is its name; returns an exit code. */
struct cli_command {
	const char *name;
	const char *synopsis; /* after the command's name */
	int (*run)(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
};

/* The helper daemons' commands, each in its own file (cmd-console.c, cmd-log.c,
 * cmd-stats.c); they connect to RUNDIR/console.sock, log.sock, stats.sock. */
int cli_cmd_console(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_log(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_stats(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
/* Certificates (cmd-certs.c), on local files. */
int cli_cmd_generate(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_sign(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_revoke(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

/* Services (cmd-service.c): service deploy|info|remove, collect. */
struct json;
int cli_cmd_service(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
int cli_cmd_collect(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
void cli_print_services(const struct alb_reply *reply);
void cli_json_services(struct json *j, const struct alb_reply *reply);
/* What commands.c shares with cmd-service.c: the options of a create that a service deploy
 * takes too, at base + CLI_CREATE_* in getopt's values. */
enum {
	CLI_CREATE_MEM,
	CLI_CREATE_CPU,
	CLI_CREATE_BLOCK,
	CLI_CREATE_RESTART,
	CLI_CREATE_EXIT_CODE,
	CLI_CREATE_STARTUP,
	CLI_CREATE_COMPRESS,
	CLI_CREATE_TENDER,
	CLI_CREATE_N,
};
/* clang-format off */
#define CLI_CREATE_OPTIONS(base)                                                                   \
	{"mem", required_argument, NULL, (base) + CLI_CREATE_MEM},                                 \
	{"cpu", required_argument, NULL, (base) + CLI_CREATE_CPU},                                 \
	{"block", required_argument, NULL, (base) + CLI_CREATE_BLOCK},                             \
	{"restart-on-fail", no_argument, NULL, (base) + CLI_CREATE_RESTART},                       \
	{"exit-code", required_argument, NULL, (base) + CLI_CREATE_EXIT_CODE},                     \
	{"startup", required_argument, NULL, (base) + CLI_CREATE_STARTUP},                         \
	{"compress", no_argument, NULL, (base) + CLI_CREATE_COMPRESS},                             \
	{"tender", required_argument, NULL, (base) + CLI_CREATE_TENDER}
/* clang-format on */
struct cli_create_opts {
	bool restart, compress;
	uint32_t n_codes;
	int tender; /* 0: from the image */
};
/* Handles c if it is one of CLI_CREATE_OPTIONS(base): 0, or an exit code; -1 if not one. */
int cli_create_option(struct cli *cli, int c, int base, alb_unikernel_config *config,
		      struct cli_create_opts *o);
/* After the options: the fail behaviour, CPU 0 by default, the checks. 0 or an exit code. */
int cli_create_finish(struct cli *cli, alb_unikernel_config *config,
		      const struct cli_create_opts *o);
/* Reads the image at path for config: the tender from its ABI note, its manifest checked
 * against check (NULL: config), its digest, compressed if asked. 0 with *ret_data (free())
 * and *ret_len, or an exit code. */
int cli_load_image(struct cli *cli, alb_unikernel_config *config, alb_unikernel_config *check,
		   const char *path, const struct cli_create_opts *o, uint8_t **ret_data,
		   size_t *ret_len);
int cli_parse_net(struct cli *cli, alb_unikernel_config *config, const char *arg);
int cli_request_and_print(struct cli *cli, alb_msg *msg, int kind, int kind2);
int cli_upload_and_print(struct cli *cli, alb_msg *msg, const uint8_t *buf, int fd, uint64_t size,
			 const char *what);
void cli_json_config(struct json *j, const alb_unikernel_config *c);

extern const struct cli_command cli_commands[];
extern const size_t cli_n_commands;

/* The long options every command accepts besides its own. */
enum {
	OPT_JSON = 0x100,
	OPT_SOCKET,
	OPT_RUNDIR,
	OPT_CSR,
	OPT_DESTINATION,
	OPT_CA,
	OPT_CA_KEY,
	OPT_SERVER_CA,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_COMMAND_BASE, /* the first value free for a command's own options */
};
/* clang-format off */
#define CLI_COMMON_OPTIONS                                                                         \
	{"json", no_argument, NULL, OPT_JSON}, {"socket", required_argument, NULL, OPT_SOCKET},    \
	{"rundir", required_argument, NULL, OPT_RUNDIR}, {"csr", no_argument, NULL, OPT_CSR},      \
	{"destination", required_argument, NULL, OPT_DESTINATION},                                 \
	{"ca", required_argument, NULL, OPT_CA}, {"ca-key", required_argument, NULL, OPT_CA_KEY},  \
	{"server-ca", required_argument, NULL, OPT_SERVER_CA},                                     \
	{"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT},                     \
	{"help", no_argument, NULL, 'h'}
/* clang-format on */

/*
 * Handles an option of CLI_COMMON_OPTIONS, or a getopt error ('?', ':').
 * Returns -1 if c is not one of them, otherwise an exit code to return at
 * once (EXIT_USAGE, or EXIT_OK after --help) or -2 to go on.
 */
int cli_common_option(struct cli *cli, int c, const struct cli_command *cmd);

/* Messages on stderr, prefixed with "albatross-client: ". Return code. */
int cli_error(int code, const char *fmt, ...) _printf_(2, 3);
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...) _printf_(2, 3);
/* The usage error of a command given `have` arguments of those its synopsis requires
 * (the words before its first option, outside brackets): "create: missing IMAGE". */
int cli_usage_missing(const struct cli_command *cmd, int have);
/* Prints the help of the command (or subcommand: "service deploy") name on stdout, as
 * generated from albatross-client(1) (cli-help.h). EXIT_OK, or -1 if it has none. */
int cli_help_print(const char *name);
/* The help command (albatross-client.c): help [COMMAND [SUBCOMMAND]] [--commands]. */
int cli_cmd_help(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);

/* Argument parsing: each returns 0 or EXIT_USAGE after a message naming what. */
int cli_parse_u64(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int cli_parse_u32(const char *what, const char *s, uint32_t min, uint32_t max, uint32_t *ret);
/* kind: 'n' a unikernel or block name (not a path), 'p' a path, 'a' either. */
int cli_parse_name(struct cli *cli, const char *s, int kind, alb_name **ret);
int cli_parse_mac(const char *s, uint8_t mac[6]);
/* --handshake-timeout SECONDS (1 .. 3600) into cli->handshake_ms. */
int cli_parse_handshake_timeout(struct cli *cli, const char *s);
/* --since: RFC 3339 in UTC or microseconds since the epoch (not a tiny number: a
 * year or seconds by mistake), not in the future. */
int cli_parse_time(const char *s, uint64_t *ret);

/*
 * Connects for the command msg: to albatrossd (cli_connect) or to service at
 * the socket path; with --destination (or the certificate command) to the
 * TLS endpoint instead, with a certificate carrying msg made and signed on
 * the way (--ca, --ca-key). EXIT_OK and *ret; EXIT_OK and *ret NULL when
 * --csr wrote a request instead (nothing more to do); or an exit code after a
 * message (EXIT_CONNECT, EXIT_TLS, EXIT_USAGE, EXIT_FAILED).
 */
int cli_connect(struct cli *cli, const alb_msg *msg, alb_client **ret);
int cli_connect_service(struct cli *cli, const alb_msg *msg, const char *service, const char *path,
			alb_client **ret);
/* The remote part of cli_connect_service() (remote.c). */
int cli_connect_remote(struct cli *cli, const alb_msg *msg, alb_client **ret);
int cli_write_csr(struct cli *cli, const alb_msg *msg);
/* Reads the command of a client certificate (the first of the PEM file) as a
 * message named by the certificate's common name. EXIT_OK or EXIT_FAILED. */
int cli_read_certificate_command(struct cli *cli, const char *path, alb_msg **ret);
/* The certificate command (commands.c). */
int cli_cmd_certificate(struct cli *cli, const struct cli_command *cmd, int argc, char **argv);
/* The streaming commands with their message made (cmd-console.c, cmd-log.c, cmd-stats.c). */
int cli_run_console(struct cli *cli, alb_msg *msg, const char *socket_path);
int cli_run_log(struct cli *cli, alb_msg *msg);
int cli_run_stats(struct cli *cli, alb_msg *msg, bool follow);
/* The exit code for the failure r of a call on client, after printing why. */
int cli_client_error(struct cli *cli, alb_client *client, int r);

/* A command message of kind about name (copied). NULL after ENOMEM. */
alb_msg *cli_command_new(int kind, const alb_name *name);

/* ---- output -------------------------------------------------------------- */

/* A JSON writer on stdout: one document, written with proper string escaping. */
struct json {
	FILE *f;
	uint32_t depth;
	bool first[32]; /* no element yet at this depth */
	bool after_key;
};

void json_begin(struct json *j, FILE *f);
void json_end(struct json *j); /* the final newline */
void json_object_open(struct json *j);
void json_object_close(struct json *j);
void json_array_open(struct json *j);
void json_array_close(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);
void json_string_n(struct json *j, const char *s, size_t len);
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Shorthands for a key and its value. */
void json_kv_string(struct json *j, const char *key, const char *s);
void json_kv_uint(struct json *j, const char *key, uint64_t v);
void json_kv_bool(struct json *j, const char *key, bool v);
/* Writes the string escaped as JSON text into f (with the quotes). */
void json_write_escaped(FILE *f, const char *s, size_t len);

/* An aligned text table: the columns' headers, then rows of cells (copied). */
struct table;
struct table *table_new(size_t n_columns, const char *const *headers);
/* Adds a row of n_columns cells; NULL cells print as "-". Returns 0 or -ENOMEM. */
int table_add_row(struct table *t, const char *const *cells);
/* Prints the table; "(none)" instead when it has no row. */
void table_print(const struct table *t, FILE *f);
struct table *table_free(struct table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct table *, table_free);

/* A progress bar on stderr for a transfer of total bytes (0 when unknown). */
struct progress {
	const char *label;
	bool enabled; /* stderr is a terminal and the transfer is large */
	bool drawn;
	int last_permille;
	uint64_t last_done;
};
void progress_init(struct progress *p, const char *label, uint64_t total);
void progress_update(uint64_t done, uint64_t total, void *userdata);
void progress_finish(struct progress *p);

/* Formats: "2024-01-31 12:00:00" (local time) of µs since the epoch, "-" for 0. */
void format_time(char *buf, size_t size, uint64_t us);
/* "1,2,5" or "-" for an empty set. */
char *format_u32_list(const uint32_t *v, uint32_t n);
/* Joins strings with ", ", or NULL for none. */
char *format_strv(char *const *v, uint32_t n, const char *sep);
/* The hex of len bytes. */
void format_hex(char *buf, const uint8_t *bytes, size_t len);
