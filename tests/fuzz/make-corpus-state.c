/* SPDX-License-Identifier: ISC */
/* Writes seed state files to the directory argv[1] (tests/fuzz/corpus/state). */
#include <stdio.h>
#include <stdlib.h>

#include "state-private.h"

static void write_state(const char *dir, const char *file, const struct alb_state *s)
{
	uint8_t *buf;
	size_t len;
	char path[4096];
	if (alb_state_encode(NULL, s, &buf, &len) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "wbe");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		abort();
	free(buf);
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
	struct alb_state *s;
	if (alb_state_new(&s) < 0)
		abort();
	write_state(argv[1], "empty.cbor", s);

	alb_policy *p;
	alb_policy_new(&p);
	alb_policy_set_unikernels(p, 16);
	alb_policy_set_memory(p, 4096);
	alb_policy_set_block(p, 1000);
	alb_policy_add_cpuid(p, 0);
	alb_policy_add_cpuid(p, 1);
	alb_policy_add_bridge(p, "br0");
	alb_name *root = N(":"), *alice = N("alice:"), *hello = N("alice:hello"),
		 *disk = N("alice:disk");
	alb_state_add_policy(NULL, s, root, p);
	alb_policy_set_memory(p, 64);
	alb_policy_set_unikernels(p, 2);
	alb_state_add_policy(NULL, s, alice, p);
	write_state(argv[1], "policies.cbor", s);

	alb_unikernel_config *c;
	alb_unikernel_config_new(NULL, &c);
	const uint8_t digest[32] = {0xde, 0xad, 0xbe, 0xef};
	const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
	alb_unikernel_config_set_digest(c, digest);
	alb_unikernel_config_set_image(c, 123456, 1);
	alb_unikernel_config_add_cpuid(c, 1);
	alb_unikernel_config_set_memory(c, 32);
	alb_unikernel_config_set_fail_behaviour(c, ALB_FAIL_RESTART_ON);
	alb_unikernel_config_add_exit_code(c, 2);
	alb_unikernel_config_add_net(c, "service", "br0", mac);
	alb_unikernel_config_add_block(c, "storage", "disk", 4096);
	alb_unikernel_config_add_argument(c, "--hello=albatross-hi");
	alb_state_add_unikernel(NULL, s, hello, c);
	alb_state_add_block(NULL, s, disk, 10, 4096);
	write_state(argv[1], "full.cbor", s);

	alb_unikernel_config_free(c);
	alb_policy_free(p);
	alb_name_free(root);
	alb_name_free(alice);
	alb_name_free(hello);
	alb_name_free(disk);
	alb_state_free(s);
	return 0;
}
