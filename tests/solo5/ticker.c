/* SPDX-License-Identifier: ISC */
/*
 * ticker: prints a numbered line at every interval until it is stopped.
 *   --interval=MS  milliseconds between two lines (default 1000)
 *   --count=N      exit 0 after N lines (default 0: never)
 */
#include "util.h"

int solo5_app_main(const struct solo5_start_info *si)
{
	uint64_t interval = 1000, count = 0;
	const char *cursor = si->cmdline, *w, *v;
	size_t len, vlen;

	say("ticker: started, command line: '%s'\n", si->cmdline);
	while ((w = next_word(&cursor, &len))) {
		if (option(w, len, "--interval=", &v, &vlen)) {
			if (!parse_uint(v, vlen, 3600000, &interval) || interval == 0)
				bad_argument("ticker", w, len);
		} else if (option(w, len, "--count=", &v, &vlen)) {
			if (!parse_uint(v, vlen, 1000000000, &count))
				bad_argument("ticker", w, len);
		} else {
			bad_argument("ticker", w, len);
		}
	}
	solo5_time_t next = solo5_clock_monotonic();
	for (uint64_t n = 1; count == 0 || n <= count; n++) {
		say("ticker: tick %lu\n", (unsigned long)n);
		next += interval * 1000000ULL;
		while (solo5_clock_monotonic() < next) {
			solo5_handle_set_t ready = 0;
			solo5_yield(next, &ready);
		}
	}
	say("ticker: done\n");
	solo5_exit(0);
}
