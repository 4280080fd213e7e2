/* SPDX-License-Identifier: ISC */
/* albatross-client log: being written (issue 4). */
#include "cli-private.h"

int cli_cmd_log(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	return cli_error(EXIT_FAILED, "log: not available in this build");
}
