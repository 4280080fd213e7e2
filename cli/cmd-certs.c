/* SPDX-License-Identifier: ISC */
/*
 * The certificate commands of albatross-client (x509.h): generate a CA and a
 * server certificate, sign a request, revoke serials. They work on local files
 * only and need no daemon.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <albatross/x509.h>

#include "cli-private.h"

enum { O_SERVER = OPT_COMMAND_BASE, O_DAYS, O_KEY_TYPE, O_CRL };

/* Parses the common options and --days, --key-type, --server, --crl (those allowed). */
static int parse(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
		 const struct option *options, uint32_t *days, int *key_type, const char **server,
		 const char **crl)
{
	int c;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		int r = cli_common_option(cli, c, cmd);
		if (r == -2)
			continue;
		if (r >= 0)
			return r;
		switch (c) {
		case O_DAYS:
			if (cli_parse_u32("days", optarg, 1, ALB_X509_DAYS_MAX, days))
				return EXIT_USAGE;
			break;
		case O_KEY_TYPE:
			*key_type = alb_x509_key_type_from_string(cli->ctx, optarg);
			if (*key_type < 0)
				return cli_usage_error(cmd, "%s", alb_ctx_last_error(cli->ctx));
			break;
		case O_SERVER:
			*server = optarg;
			break;
		case O_CRL:
			*crl = optarg;
			break;
		default:
			return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	return -1;
}

/* The x509 call failed: say why; EXIT_FAILED. */
static int failed(struct cli *cli, int r)
{
	const char *why = alb_ctx_last_error(cli->ctx);
	return cli_error(EXIT_FAILED, "%s: %s", cli->command, why[0] ? why : strerror(-r));
}

static void print_files(struct cli *cli, const char *what, const char *const *files, size_t n)
{
	if (!cli->json) {
		for (size_t i = 0; i < n; i++)
			printf("%s%s", i ? " " : what, files[i]);
		printf("\n");
		return;
	}
	struct json j;
	json_begin(&j, stdout);
	json_object_open(&j);
	json_key(&j, "files");
	json_array_open(&j);
	for (size_t i = 0; i < n; i++)
		json_string(&j, files[i]);
	json_array_close(&j);
	json_object_close(&j);
	json_end(&j);
}

/* Refuses to overwrite: a CA key lost is a PKI lost. */
static int check_absent(const char *const *files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (access(files[i], F_OK) == 0)
			return cli_error(EXIT_FAILED, "'%s' exists: not overwriting it", files[i]);
	return 0;
}

int cli_cmd_generate(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"server", required_argument, NULL, O_SERVER},
	    {"days", required_argument, NULL, O_DAYS},
	    {"key-type", required_argument, NULL, O_KEY_TYPE},
	    {0},
	};
	uint32_t days = 0;
	int key_type = ALB_X509_KEY_ED25519, r;
	const char *server = "server", *unused = NULL;
	if ((r = parse(cli, cmd, argc, argv, options, &days, &key_type, &server, &unused)) >= 0)
		return r;
	if (argc - optind < 2)
		return cli_usage_missing(cmd, argc - optind);
	if (argc - optind > 2)
		return cli_usage_error(cmd, "too many arguments");
	const char *ca = argv[optind], *db = argv[optind + 1];
	if (alb_label_validate(cli->ctx, ca) < 0)
		return cli_usage_error(cmd, "CA name: %s", alb_ctx_last_error(cli->ctx));
	/* As albatross: "ca" gives cacert.pem and ca.key, the server server.pem and server.key. */
	_cleanup_free_ char *ca_cert = NULL, *ca_key = NULL, *srv_cert = NULL, *srv_key = NULL;
	if (asprintf(&ca_cert, "%scert.pem", ca) < 0 || asprintf(&ca_key, "%s.key", ca) < 0 ||
	    asprintf(&srv_cert, "%s.pem", server) < 0 || asprintf(&srv_key, "%s.key", server) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	const char *files[] = {ca_cert, ca_key, srv_cert, srv_key};
	if ((r = check_absent(files, ELEMENTSOF(files))) != 0)
		return r;
	if ((r = alb_x509_ca_generate(cli->ctx, ca, NULL, key_type, days, ca_cert, ca_key)) < 0 ||
	    (r = alb_x509_server_generate(cli->ctx, ca_cert, ca_key, server, key_type, days, db,
					  srv_cert, srv_key)) < 0)
		return failed(cli, r);
	print_files(cli, "wrote ", files, ELEMENTSOF(files));
	return EXIT_OK;
}

int cli_cmd_sign(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"days", required_argument, NULL, O_DAYS},
	    {0},
	};
	uint32_t days = 0;
	int key_type = 0, r;
	const char *unused = NULL;
	if ((r = parse(cli, cmd, argc, argv, options, &days, &key_type, &unused, &unused)) >= 0)
		return r;
	if (argc - optind < 4)
		return cli_usage_missing(cmd, argc - optind);
	if (argc - optind > 4)
		return cli_usage_error(cmd, "too many arguments");
	const char *cacert = argv[optind], *db = argv[optind + 1], *cakey = argv[optind + 2],
		   *req = argv[optind + 3];
	/* hello.req gives hello.pem */
	size_t l = strlen(req);
	_cleanup_free_ char *out = NULL;
	if (asprintf(&out, "%.*s.pem", (int)(l > 4 && streq(req + l - 4, ".req") ? l - 4 : l),
		     req) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	const char *files[] = {out};
	if ((r = check_absent(files, 1)) != 0)
		return r;
	r = alb_x509_csr_sign(cli->ctx, cacert, cakey, req, days, db, out);
	if (r < 0)
		return failed(cli, r);
	static const char *const kinds[] = {[ALB_X509_CERT_CA] = "a CA certificate: ",
					    [ALB_X509_CERT_CLIENT] = "a client certificate: ",
					    [ALB_X509_CERT_SERVER] = "a server certificate: "};
	print_files(cli, r >= 1 && r <= 3 ? kinds[r] : "", files, 1);
	return EXIT_OK;
}

int cli_cmd_revoke(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"days", required_argument, NULL, O_DAYS},
	    {"crl", required_argument, NULL, O_CRL},
	    {0},
	};
	uint32_t days = 0;
	int key_type = 0, r;
	const char *unused = NULL, *crl = "crl.pem";
	if ((r = parse(cli, cmd, argc, argv, options, &days, &key_type, &unused, &crl)) >= 0)
		return r;
	if (argc - optind < 2)
		return cli_usage_missing(cmd, argc - optind);
	uint32_t n = (uint32_t)(argc - optind - 2); /* none: a CRL that revokes nothing */
	if (n > ALB_X509_REVOKE_MAX)
		return cli_usage_error(cmd, "at most %u serials at once", ALB_X509_REVOKE_MAX);
	r = alb_x509_crl_revoke(cli->ctx, argv[optind], argv[optind + 1], crl,
				(const char *const *)(argv + optind + 2), n, days);
	if (r < 0)
		return failed(cli, r);
	const char *files[] = {crl};
	print_files(cli, "wrote ", files, 1);
	return EXIT_OK;
}
