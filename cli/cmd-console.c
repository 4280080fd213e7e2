/* SPDX-License-Identifier: ISC */
/* albatross-client console: being written (issue 4). */
#include "cli-private.h"

int cli_cmd_console(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return cli_error(EXIT_FAILED, "console: not available in this build");
}
