/* SPDX-License-Identifier: ISC */
#include <stdio.h>
int main(void)
{
	fputs("albatross-console: not available in this build\n", stderr);
	return 1;
}
