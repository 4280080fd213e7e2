/* SPDX-License-Identifier: ISC */
/*
 * hello: prints a few known lines and its command line, then exits.
 *   --exit=N   exit code (0..255, default 0)
 *   --lines=N  numbered lines to print (default 3)
 */
#include "util.h"

int solo5_app_main(const struct solo5_start_info *si)
{
	uint64_t code = 0, lines = 3;
	const char *cursor = si->cmdline, *w, *v;
	size_t len, vlen;

	say("hello: albatross test unikernel\n");
	say("hello: command line: '%s'\n", si->cmdline);
	while ((w = next_word(&cursor, &len))) {
		if (option(w, len, "--exit=", &v, &vlen)) {
			if (!parse_uint(v, vlen, 255, &code))
				bad_argument("hello", w, len);
		} else if (option(w, len, "--lines=", &v, &vlen)) {
			if (!parse_uint(v, vlen, 1000000, &lines))
				bad_argument("hello", w, len);
		} else {
			bad_argument("hello", w, len);
		}
	}
	for (uint64_t i = 1; i <= lines; i++)
		say("hello: line %lu of %lu\n", (unsigned long)i, (unsigned long)lines);
	say("hello: exiting with %u\n", (unsigned)code);
	solo5_exit((int)code);
}
