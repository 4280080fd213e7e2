/* SPDX-License-Identifier: ISC */
#include <stdio.h>
int main(void)
{
	fputs("albatross-log: not available in this build\n", stderr);
	return 1;
}
