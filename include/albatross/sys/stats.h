/* SPDX-License-Identifier: ISC */
/**
 * @file sys/stats.h
 * A sample of a unikernel's resource usage: the collector (stats.h) owns the
 * type, the wire (sys/wire.h) encodes it.
 * Extension tier (docs/abi.md): stable within a minor release only.
 */
#ifndef ALBATROSS_SYS_STATS_H
#define ALBATROSS_SYS_STATS_H

#include <stdint.h>

#include <albatross/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of a sample (the wire's decoder enforces them too). */
#define ALB_STATS_IFS_MAX 64u
#define ALB_STATS_KVM_MAX 256u
#define ALB_STATS_KEY_MAX 64u

struct alb_if_stats {
	char *name;
	uint64_t rx_bytes, rx_packets, rx_errors, rx_drops;
	uint64_t tx_bytes, tx_packets, tx_errors, tx_drops;
};

struct alb_kv {
	char *key; /* [a-z0-9_], 1 .. ALB_STATS_KEY_MAX */
	uint64_t value;
};

/* alb_stats_sample (stats.h). A sample owns what it points to; alb_stats_free()
 * (accepts NULL) frees it all. */
struct alb_stats {
	uint64_t time_us;
	uint32_t pid;
	uint64_t utime_us, stime_us;
	uint64_t rss_bytes, vsize_bytes;
	uint64_t minflt, majflt;
	uint64_t nvcsw, nivcsw;
	uint64_t start_time_us;
	struct alb_if_stats *ifs;
	uint32_t n_ifs;
	struct alb_kv *kvm;
	uint32_t n_kvm;
};

void alb_stats_free(struct alb_stats *stats);
/* A deep copy: 0, -EINVAL, -ENOMEM. */
int alb_stats_dup(const struct alb_stats *stats, struct alb_stats **ret);

#ifdef __cplusplus
}
#endif

#endif
