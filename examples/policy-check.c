/* SPDX-License-Identifier: ISC */
/*
 * An embedder's view of the policy tree, using only the public headers:
 *
 *   policy-check PATH=UNIKERNELS,MEMORY,CPU... [PATH=...]... -- NAME=MEMORY,CPU...
 *
 * inserts each policy (static check), then each unikernel (dynamic check),
 * and prints what the tree says. Exit code 0 if everything fit, 1 if not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <albatross/albatross.h>

/* Splits "KEY=a,b,c..." into the key and up to max numbers. */
static int parse(char *arg, char **key, unsigned long *nums, int max)
{
	char *eq = strchr(arg, '=');
	if (!eq)
		return -1;
	*eq = '\0';
	*key = arg;
	int n = 0;
	for (char *t = strtok(eq + 1, ","); t && n < max; t = strtok(NULL, ","))
		nums[n++] = strtoul(t, NULL, 10);
	return n;
}

int main(int argc, char **argv)
{
	alb_ctx *ctx = NULL;
	alb_tree *tree = NULL;
	int failed = 0, unikernels = 0;
	if (alb_ctx_new(&ctx) < 0 || alb_tree_new(ctx, &tree) < 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			unikernels = 1;
			continue;
		}
		char *key;
		unsigned long v[16];
		int n = parse(argv[i], &key, v, 16);
		alb_name *name = NULL;
		if (n < 2 || alb_name_parse(ctx, key, &name) < 0) {
			fprintf(stderr, "bad argument '%s': %s\n", argv[i],
				alb_ctx_last_error(ctx));
			return 2;
		}
		int r;
		if (!unikernels) {
			alb_policy *p = NULL;
			alb_policy_new(&p);
			alb_policy_set_unikernels(p, (uint32_t)v[0]);
			alb_policy_set_memory(p, v[1]);
			for (int k = 2; k < n; k++)
				alb_policy_add_cpuid(p, (uint32_t)v[k]);
			r = alb_tree_insert_policy(tree, name, p);
			alb_policy_free(p);
		} else {
			alb_unikernel_config *c = NULL;
			alb_unikernel_config_new(ctx, &c);
			alb_unikernel_config_set_memory(c, v[0]);
			for (int k = 1; k < n; k++)
				alb_unikernel_config_add_cpuid(c, (uint32_t)v[k]);
			r = alb_tree_insert_unikernel(tree, name, c);
			alb_unikernel_config_free(c);
		}
		printf("%s %s: %s\n", unikernels ? "unikernel" : "policy", key,
		       r < 0 ? alb_ctx_last_error(ctx) : "ok");
		failed |= r < 0;
		alb_name_free(name);
	}
	alb_tree_free(tree);
	alb_ctx_unref(ctx);
	return failed ? 1 : 0;
}
