/* SPDX-License-Identifier: ISC */
/*
 * albatross-client: the command-line front-end of libalbatross.
 * This first version knows --help and --version; the commands arrive with
 * albatrossd (see README.md, "Status").
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <albatross/albatross.h>

#include "config.h"

enum { EXIT_USAGE = 2 };

static void usage(FILE *f)
{
	fprintf(f, "Usage: albatross-client [--help] [--version] COMMAND [ARGS...]\n"
		   "\n"
		   "Deploys and manages Solo5 unikernels through albatrossd.\n"
		   "\n"
		   "Options:\n"
		   "  -h, --help      show this help and exit\n"
		   "  -V, --version   show the client and library versions and exit\n"
		   "\n"
		   "Exit codes: 0 success, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("albatross-client %s (libalbatross %s, wire protocol %u)\n",
			       PACKAGE_VERSION, alb_version(), ALB_WIRE_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "albatross-client: no command given (see --help)\n");
		return EXIT_USAGE;
	}
	fprintf(stderr, "albatross-client: unknown command '%s' (see --help)\n", argv[optind]);
	return EXIT_USAGE;
}
