/* SPDX-License-Identifier: ISC */
/* albatross-client stats: being written (issue 4). */
#include "cli-private.h"

int cli_cmd_stats(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return cli_error(EXIT_FAILED, "stats: not available in this build");
}
