/* SPDX-License-Identifier: ISC */
#include <stdio.h>
int main(void)
{
	fputs("albatross-stats: not available in this build\n", stderr);
	return 1;
}
