/* SPDX-License-Identifier: ISC */
/* Writes seed journals to the directory argv[1] (tests/fuzz/corpus/journal): every kind of
 * record, a torn tail, a record damaged in the middle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal-private.h"

static uint8_t buf[1 << 16];
static size_t len;

static void put(struct alb_journal_record *rec)
{
	uint8_t *r;
	size_t n;
	if (alb_journal_encode(NULL, rec, &r, &n) < 0 || len + n > sizeof(buf))
		abort();
	memcpy(buf + len, r, n);
	len += n;
	free(r);
}

static void write_file(const char *dir, const char *file, const uint8_t *data, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "wbe");
	if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
		abort();
}

static alb_name *N(const char *s)
{
	alb_name *n;
	if (alb_name_parse(NULL, s, &n) < 0)
		abort();
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	alb_policy *p;
	alb_policy_new(&p);
	alb_policy_set_unikernels(p, 2);
	alb_policy_set_memory(p, 64);
	alb_policy_add_cpuid(p, 0);
	alb_policy_add_bridge(p, "br0");
	alb_unikernel_config *c;
	alb_unikernel_config_new(NULL, &c);
	const uint8_t digest[32] = {0xde, 0xad, 0xbe, 0xef};
	const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
	alb_unikernel_config_set_digest(c, digest);
	alb_unikernel_config_set_image(c, 123456, 1);
	alb_unikernel_config_set_memory(c, 32);
	alb_unikernel_config_add_net(c, "service", "br0", mac);
	alb_unikernel_config_add_block(c, "storage", "disk", 4096);
	alb_unikernel_config_add_argument(c, "--hello=albatross-hi");
	alb_name *alice = N("alice:"), *hello = N("alice:hello"), *disk = N("alice:disk");

	put(&(struct alb_journal_record){
	    .seq = 1, .op = ALB_JOURNAL_PUT_POLICY, .name = alice, .policy = p});
	put(&(struct alb_journal_record){.seq = 2,
					 .op = ALB_JOURNAL_PUT_BLOCK,
					 .name = disk,
					 .size_mb = 10,
					 .sector_size = 4096});
	put(&(struct alb_journal_record){
	    .seq = 3, .op = ALB_JOURNAL_PUT_UNIKERNEL, .name = hello, .config = c});
	size_t three = len;
	put(&(struct alb_journal_record){
	    .seq = 5, .op = ALB_JOURNAL_REMOVE_UNIKERNEL, .name = hello});
	put(&(struct alb_journal_record){.seq = 6, .op = ALB_JOURNAL_REMOVE_BLOCK, .name = disk});
	put(&(struct alb_journal_record){.seq = 7, .op = ALB_JOURNAL_REMOVE_POLICY, .name = alice});
	write_file(argv[1], "every-kind", buf, len);
	write_file(argv[1], "three", buf, three);
	write_file(argv[1], "torn", buf, three + 5);
	buf[three / 2] ^= 0x55;
	write_file(argv[1], "damaged-middle", buf, len);

	alb_unikernel_config_free(c);
	alb_policy_free(p);
	alb_name_free(alice);
	alb_name_free(hello);
	alb_name_free(disk);
	return 0;
}
