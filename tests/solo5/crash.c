/* SPDX-License-Identifier: ISC */
/*
 * crash: dies on purpose.
 *   --mode=abort  solo5_abort(): exit code 255 (the default)
 *   --mode=fault  a write to an unmapped address: SIGSEGV under spt, 255 under hvt
 */
#include "util.h"

int solo5_app_main(const struct solo5_start_info *si)
{
	const char *cursor = si->cmdline, *w, *v;
	size_t len, vlen;
	bool fault = false;

	while ((w = next_word(&cursor, &len))) {
		if (option(w, len, "--mode=", &v, &vlen) && vlen == 5 && !memcmp(v, "abort", 5))
			fault = false;
		else if (option(w, len, "--mode=", &v, &vlen) && vlen == 5 &&
			 !memcmp(v, "fault", 5))
			fault = true;
		else
			bad_argument("crash", w, len);
	}
	if (!fault) {
		say("crash: calling solo5_abort()\n");
		solo5_abort();
	}
	say("crash: writing to an unmapped address\n");
	/* An address in the first page, hidden from the compiler (which would
	 * otherwise warn, or turn the store into a trap). */
	uintptr_t addr = 0x10;
	__asm__ volatile("" : "+r"(addr));
	*(volatile uint64_t *)addr = 42;
	say("crash: still alive?\n");
	solo5_exit(2);
}
