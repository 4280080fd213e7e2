/* SPDX-License-Identifier: ISC */
/*
 * albatross-client: the command-line front-end of libalbatross. main() reads
 * the options before the command and hands over to the command (commands.c),
 * which parses its own options and talks to albatrossd over its socket.
 * The usage below is the same as docs/man/albatross-client.1.scd; the help of each
 * command (help COMMAND, COMMAND --help) is generated from it (cli/gen-help.py).
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli-help.h"
#include "cli-private.h"
#include "config.h"

static void usage(FILE *f)
{
	fputs("Usage: albatross-client [OPTIONS] COMMAND [ARGS...]\n"
	      "\n"
	      "Deploys and manages Solo5 unikernels through albatrossd, locally or through\n"
	      "albatross-tls-endpoint.\n"
	      "\n"
	      "Options (also accepted after the command):\n"
	      "  -h, --help           show this help and exit; after a command, its help\n"
	      "  -V, --version        show the versions and exit (before the command)\n"
	      "      --socket PATH    albatrossd's socket (default: RUNDIR/albatrossd.sock)\n"
	      "      --rundir DIR     the run directory (default: /run/albatross)\n"
	      "      --json           print the result as one JSON document\n"
	      "\n"
	      "Remote use (docs/tls.md):\n"
	      "      --csr                       write a request carrying the command (NAME.req,\n"
	      "                                  NAME.key; add-policy PATH: a CA request)\n"
	      "      --destination HOST:PORT     send it to albatross-tls-endpoint (HOST may be\n"
	      "                                  [IPV6]) in a certificate signed with:\n"
	      "      --ca CACERT, --ca-key CAKEY a CA (CACERT with its chain) and its key\n"
	      "      --server-ca FILE            the CA of the endpoint's certificate\n"
	      "      --handshake-timeout SEC     the connection and TLS handshake must end\n"
	      "                                  within SEC seconds (default 10); nothing is\n"
	      "                                  ever retried: a failure is reported\n"
	      "  A remote command names one label ('hello') or nothing (the whole domain): the\n"
	      "  domain comes from the signing CA's chain. --compress cannot go with --csr.\n"
	      "\n"
	      "Unikernels:\n"
	      "  create NAME IMAGE    upload IMAGE and start it as NAME\n"
	      "      --mem MB                    memory (default 32)\n"
	      "      --cpu N                     pin to CPU N; repeatable (default 0)\n"
	      "      --net NAME[:BRIDGE][@MAC]   network device NAME on BRIDGE (default: the\n"
	      "                                  bridge called NAME); repeatable\n"
	      "      --block NAME[:HOST][@SECTOR] block device NAME backed by the block device\n"
	      "                                  HOST (default NAME), a label in the\n"
	      "                                  unikernel's domain: alice:db with HOST disk\n"
	      "                                  uses the block device alice:disk; repeatable\n"
	      "      --arg S                     an argument of the unikernel; repeatable\n"
	      "      --restart-on-fail           restart when it exits\n"
	      "      --exit-code N               restart only on exit code N; repeatable\n"
	      "      --startup N                 startup priority 0..100 (default 50)\n"
	      "      --force                     replace a unikernel of the same name\n"
	      "      --compress                  send the image zlib-compressed\n"
	      "      --tender hvt|spt            the tender (default: the image's ABI note)\n"
	      "  destroy NAME         stop and remove a unikernel\n"
	      "  restart NAME         restart a unikernel\n"
	      "      --arg S                     a new argument, all of them replacing its\n"
	      "                                  own; repeatable (a sole --arg '' clears them)\n"
	      "      --replace-arguments         said explicitly (needs --arg)\n"
	      "  info [NAME|PATH]     show unikernels (default: all, ':')\n"
	      "  get NAME [FILE]      download the image to FILE (default: stdout)\n"
	      "      --raw                       keep it compressed if it travels compressed\n"
	      "      --compress                  ask for it zlib-compressed\n"
	      "\n"
	      "Policies:\n"
	      "  policy [PATH]        show policies (default: all, ':')\n"
	      "  add-policy PATH UNIKERNELS      allow UNIKERNELS unikernels below PATH\n"
	      "      --mem MB                    memory in all (default 0)\n"
	      "      --cpu N                     allow CPU N; repeatable\n"
	      "      --block MB                  block storage in all (default: none)\n"
	      "      --bridge NAME               allow bridge NAME; repeatable\n"
	      "      --ports FIRST-LAST          host ports its services may publish\n"
	      "                                  (default: none)\n"
	      "      --prefix BRIDGE=A.B.C.D/N   allow service addresses in the prefix on\n"
	      "                                  BRIDGE (one of --bridge); repeatable\n"
	      "  remove-policy PATH   remove the policy of PATH\n"
	      "\n"
	      "Services (docs/services.md):\n"
	      "  service deploy NAME IMAGE       deploy IMAGE as the next instance of the\n"
	      "                                  service NAME (NAME.GENERATION), published\n"
	      "                                  once ready; the previous one drains\n"
	      "      --net BRIDGE                the bridge of its address (needed)\n"
	      "      --prefix A.B.C.D/N          its addresses' prefix, N 8..30 (needed)\n"
	      "      --gateway IP|none           never allocated (default: the first address)\n"
	      "      --exclude IP                never allocated; repeatable\n"
	      "      --publish [HOSTIP:]HOSTPORT:PORT[/tcp|/udp]\n"
	      "                                  publish a host port to the instance's PORT;\n"
	      "                                  repeatable\n"
	      "      --arg-template S            an argument with {ip} {prefix_len} {cidr}\n"
	      "                                  {netmask} {gateway} {name} {generation};\n"
	      "                                  repeatable\n"
	      "      --arg S                     an argument as it is; repeatable\n"
	      "      --ready-line TEXT           ready when a console line contains TEXT\n"
	      "      --ready-tcp PORT            ready when PORT accepts a TCP connection\n"
	      "      --ready-udp PORT            ready when PORT answers a UDP datagram\n"
	      "      --ready-delay MS            ready MS ms after it started\n"
	      "                                  (default: ready when it runs)\n"
	      "      --ready-timeout MS          else the update fails (default 30000)\n"
	      "      --drain MS                  the previous instance's drain (default 5000)\n"
	      "      --device NAME               the net device of its address (default\n"
	      "                                  service)\n"
	      "      --extra-net NAME[:BRIDGE][@MAC] another net device; repeatable\n"
	      "                                  and --mem --cpu --block --restart-on-fail\n"
	      "                                  --exit-code --startup --compress --tender\n"
	      "                                  as for create\n"
	      "  service info [NAME|PATH]        show services (default: all, ':')\n"
	      "  service remove NAME             remove a service, its rules and instances\n"
	      "  collect [PATH]                  destroy instances and free addresses that no\n"
	      "                                  service owns (default: all, ':')\n"
	      "\n"
	      "Block devices:\n"
	      "  block [NAME|PATH]    show block devices (default: all, ':')\n"
	      "  create-block NAME MB create a block device of MB MB\n"
	      "      --data FILE                 its initial content\n"
	      "      --sector-size N             512 (default) .. 65536, a power of two\n"
	      "      --compress                  send the data zlib-compressed\n"
	      "  set-block NAME FILE  replace the content of a block device\n"
	      "      --compress                  send the data zlib-compressed\n"
	      "  dump-block NAME FILE download the content of a block device (FILE - is stdout)\n"
	      "      --compress                  ask for it zlib-compressed\n"
	      "  destroy-block NAME   remove a block device\n"
	      "\n"
	      "  tenders              show the tenders albatrossd found and their ABIs\n"
	      "  help [COMMAND]       show the help of COMMAND ('service deploy', ...): its\n"
	      "                       options and an example (as COMMAND --help does)\n"
	      "      --commands                  list the commands, one a line\n"
	      "\n"
	      "Console, log and statistics (albatross-console, -log, -stats in RUNDIR):\n"
	      "  console NAME         show a unikernel's console output\n"
	      "      --since T | --count N       the lines after T, or the last N (default: all "
	      "kept)\n"
	      "      --follow                    then every new line, until interrupted\n"
	      "      --console-socket PATH       albatross-console's socket (RUNDIR/console.sock)\n"
	      "  log [PATH]           show the event log, below PATH (default: all)\n"
	      "      --since T | --count N       the events after T, or the last N\n"
	      "      --follow                    then every new event, until interrupted\n"
	      "  stats [NAME|PATH]    show resource usage (one sample of each unikernel)\n"
	      "      --follow                    a sample every interval, until interrupted\n"
	      "\n"
	      "Certificates (local files, except certificate):\n"
	      "  generate CANAME DB   a CA (CANAMEcert.pem, CANAME.key) and a server certificate\n"
	      "      --server NAME               the server's host name (default server)\n"
	      "      --days N                    validity (default: 3650 CA, 365 server)\n"
	      "      --key-type T                ed25519 (default), rsa or p256\n"
	      "  sign CACERT DB CAKEY REQ        sign REQ into REQ.pem: a CA certificate for a\n"
	      "                                  policy that fits the CA's, a client certificate\n"
	      "                                  for a command, a server certificate otherwise\n"
	      "      --days N                    validity (default: 1 client, 365 otherwise)\n"
	      "  revoke CACERT CAKEY [SERIAL...] add serials (hex, as in DB) to a CRL (none:\n"
	      "                                  an empty CRL)\n"
	      "      --crl FILE                  the CRL to write or extend (default crl.pem)\n"
	      "  certificate CERT KEY [FILE]     send the command of a signed certificate\n"
	      "      --destination HOST:PORT     to albatross-tls-endpoint (needed)\n"
	      "      --server-ca FILE            the CA of the endpoint's certificate (needed)\n"
	      "                                  FILE: the image of a create, the data of\n"
	      "                                  create-block or set-block, where get or\n"
	      "                                  dump-block write (default: stdout)\n"
	      "\n"
	      "T is a UTC time in RFC 3339 (2026-11-22T01:02:03.456789Z) or microseconds since\n"
	      "the epoch (0, or 10^12 and more).\n"
	      "\n"
	      "NAME is a unikernel or block device name such as 'alice:web'; PATH ends in ':'\n"
	      "('alice:'), and ':' is the root.\n"
	      "\n"
	      "Exit codes:\n"
	      "  0  success\n"
	      "  1  the command failed: albatrossd refused it (its message is printed; remote:\n"
	      "     \"the remote command failed: ...\"), or a local file could not be read or\n"
	      "     written\n"
	      "  2  usage error: an unknown command or option, an invalid name or number\n"
	      "  3  cannot connect to albatrossd or to the endpoint\n"
	      "  4  protocol error: a malformed reply, or the connection was lost\n"
	      "  5  TLS failure: the handshake, the server's certificate, or a certificate or\n"
	      "     key file that cannot be used\n"
	      "  6  refused by the endpoint: our certificate chain or its policies\n",
	      f);
}

int cli_cmd_help(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_COMMANDS = OPT_COMMAND_BASE };
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"commands", no_argument, NULL, O_COMMANDS},
	    {0},
	};
	bool list = false;
	char name[128];
	int c, r;

	/* The common options are taken (they go anywhere) and change nothing here. */
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c == O_COMMANDS) {
			list = true;
			continue;
		}
		if ((r = cli_common_option(cli, c, cmd)) != -2)
			return r >= 0 ? r : EXIT_USAGE;
	}
	int n = argc - optind;
	if (list) {
		if (n > 0)
			return cli_usage_error(cmd, "--commands takes no COMMAND");
		/* The commands of the table, each followed by its subcommands ("service
		 * deploy"), which are those the help knows. */
		for (size_t i = 0; i < cli_n_commands; i++) {
			size_t l = strlen(cli_commands[i].name);
			puts(cli_commands[i].name);
			for (size_t j = 0; j < cli_n_help; j++)
				if (strncmp(cli_help[j].name, cli_commands[i].name, l) == 0 &&
				    cli_help[j].name[l] == ' ')
					puts(cli_help[j].name);
		}
		return EXIT_OK;
	}
	if (n == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (n > 2)
		return cli_usage_error(cmd, "too many arguments");
	if ((size_t)snprintf(name, sizeof(name), "%s%s%s", argv[optind], n > 1 ? " " : "",
			     n > 1 ? argv[optind + 1] : "") >= sizeof(name) ||
	    cli_help_print(name) != EXIT_OK)
		return cli_usage_error(cmd, "unknown command '%s'", name);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    CLI_COMMON_OPTIONS,
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	struct cli cli = {.rundir = CLI_RUNDIR_DEFAULT};
	int c, r;

	/* An upload encodes and sends its image in chunks of up to ALB_CHUNK_MAX (1 MB):
	 * keep those buffers in the heap and keep the heap once grown, so that each chunk
	 * reuses the memory of the one before instead of faulting in fresh pages (a
	 * page fault costs more than the copy). A short-lived process: nothing to trim. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	opterr = 0; /* the messages below say what is wrong */
	while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("albatross-client %s (libalbatross %s, wire protocol %u)\n",
			       PACKAGE_VERSION, alb_version(), ALB_WIRE_VERSION);
			return EXIT_OK;
		case OPT_JSON:
			cli.json = true;
			break;
		case OPT_SOCKET:
			cli.socket = optarg;
			break;
		case OPT_RUNDIR:
			cli.rundir = optarg;
			break;
		case OPT_CSR:
			cli.csr = true;
			break;
		case OPT_DESTINATION:
			cli.destination = optarg;
			break;
		case OPT_CA:
			cli.ca = optarg;
			break;
		case OPT_CA_KEY:
			cli.ca_key = optarg;
			break;
		case OPT_SERVER_CA:
			cli.server_ca = optarg;
			break;
		case OPT_HANDSHAKE_TIMEOUT:
			if (cli_parse_handshake_timeout(&cli, optarg) != 0)
				return EXIT_USAGE;
			break;
		case ':':
			return cli_usage_error(NULL, "option '%s' needs an argument",
					       argv[optind - 1]);
		default:
			return cli_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_error(EXIT_USAGE, "no command given (see --help)");

	const struct cli_command *cmd = NULL;
	for (size_t i = 0; i < cli_n_commands; i++)
		if (streq(cli_commands[i].name, argv[optind]))
			cmd = &cli_commands[i];
	if (!cmd)
		return cli_error(EXIT_USAGE, "unknown command '%s' (see --help)", argv[optind]);

	if (alb_ctx_new(&cli.ctx) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	cli.command = cmd->name;
	argc -= optind;
	argv += optind;
	cli.argv = argv;
	optind = 0; /* a fresh getopt_long() for the command's options */
	r = cmd->run(&cli, cmd, argc, argv);
	alb_ctx_unref(cli.ctx);
	return r;
}
