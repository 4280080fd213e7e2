/* SPDX-License-Identifier: ISC */
/*
 * block: on the block device "storage", shows what sector 0 holds, writes a
 * pattern to the first, a middle and the last sector, reads them back and
 * compares. Exits 0 when everything read equals what was written, 1 otherwise.
 *   --pattern=WORD  the text the sectors start with (default "albatross")
 */
#include "util.h"

static uint8_t wbuf[65536], rbuf[65536];

/* The first line of a sector, printable characters only, at most 60. */
static void show(const char *what, uint64_t sector, const uint8_t *buf, size_t n)
{
	char line[61];
	size_t i;
	for (i = 0; i < n && i < 60 && buf[i] != '\n'; i++)
		line[i] = buf[i] >= 32 && buf[i] < 127 ? (char)buf[i] : '.';
	line[i] = 0;
	say("block: sector %lu %s: '%s'\n", (unsigned long)sector, what, line);
}

static void fill(uint8_t *buf, size_t n, const char *pattern, size_t plen, uint64_t sector)
{
	size_t i = 0;
	const char *tag = " sector ";
	for (size_t j = 0; j < plen && i < n; j++)
		buf[i++] = (uint8_t)pattern[j];
	for (size_t j = 0; tag[j] && i < n; j++)
		buf[i++] = (uint8_t)tag[j];
	char digits[24];
	size_t d = 0;
	do {
		digits[d++] = (char)('0' + sector % 10);
		sector /= 10;
	} while (sector);
	while (d && i < n)
		buf[i++] = (uint8_t)digits[--d];
	if (i < n)
		buf[i++] = '\n';
	for (size_t j = 0; i < n; i++, j++)
		buf[i] = (uint8_t)('a' + j % 26);
}

int solo5_app_main(const struct solo5_start_info *si)
{
	const char *cursor = si->cmdline, *w, *v;
	const char *pattern = "albatross";
	size_t len, vlen, plen = 9;
	solo5_handle_t h;
	struct solo5_block_info bi;

	say("block: command line: '%s'\n", si->cmdline);
	while ((w = next_word(&cursor, &len))) {
		if (option(w, len, "--pattern=", &v, &vlen) && vlen > 0 && vlen <= 64) {
			pattern = v;
			plen = vlen;
		} else {
			bad_argument("block", w, len);
		}
	}
	if (solo5_block_acquire("storage", &h, &bi) != SOLO5_R_OK) {
		say("block: could not acquire the block device 'storage'\n");
		solo5_exit(1);
	}
	say("block: storage: %lu bytes, sectors of %lu bytes\n", (unsigned long)bi.capacity,
	    (unsigned long)bi.block_size);
	if (bi.block_size > sizeof wbuf || bi.capacity < bi.block_size) {
		say("block: unexpected geometry\n");
		solo5_exit(1);
	}
	uint64_t sectors = bi.capacity / bi.block_size;
	if (solo5_block_read(h, 0, rbuf, bi.block_size) != SOLO5_R_OK) {
		say("block: could not read sector 0\n");
		solo5_exit(1);
	}
	show("before", 0, rbuf, bi.block_size);
	uint64_t which[3] = {0, sectors / 2, sectors - 1};
	for (int i = 0; i < 3; i++) {
		fill(wbuf, bi.block_size, pattern, plen, which[i]);
		if (solo5_block_write(h, which[i] * bi.block_size, wbuf, bi.block_size) !=
		    SOLO5_R_OK) {
			say("block: could not write sector %lu\n", (unsigned long)which[i]);
			solo5_exit(1);
		}
	}
	bool ok = true;
	for (int i = 0; i < 3; i++) {
		memset(rbuf, 0, bi.block_size);
		fill(wbuf, bi.block_size, pattern, plen, which[i]);
		if (solo5_block_read(h, which[i] * bi.block_size, rbuf, bi.block_size) !=
		    SOLO5_R_OK) {
			say("block: could not read sector %lu\n", (unsigned long)which[i]);
			solo5_exit(1);
		}
		show("read back", which[i], rbuf, bi.block_size);
		if (memcmp(rbuf, wbuf, bi.block_size) != 0) {
			say("block: sector %lu differs from what was written\n",
			    (unsigned long)which[i]);
			ok = false;
		}
	}
	/* past the end must fail */
	if (solo5_block_read(h, bi.capacity, rbuf, bi.block_size) == SOLO5_R_OK) {
		say("block: a read past the end succeeded\n");
		ok = false;
	}
	say("block: %s\n", ok ? "OK" : "FAILED");
	solo5_exit(ok ? 0 : 1);
}
