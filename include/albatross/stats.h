/* SPDX-License-Identifier: ISC */
/**
 * @file stats.h
 * @brief Statistics of unikernel tender processes and their taps, and their
 * output as InfluxDB line protocol and Prometheus text.
 *
 * A collector samples one process at a time: from /proc/PID/stat, statm and
 * status its CPU times, memory, page faults, context switches and start
 * time; through route netlink the counters of its taps; and, where the host
 * exposes them in debugfs (/sys/kernel/debug/kvm/PID-FD/), its KVM counters
 * (left out quietly when absent or unreadable).
 *
 * A sample is an opaque value, read with the getters below and freed with
 * alb_stats_sample_free(). The figures, units and the output formats'
 * measurement and metric names are documented in docs/metrics.md.
 *
 * Ownership: a returned `char *` is freed with alb_free(); a returned
 * `const char *` is borrowed from the sample and lives as long as it does.
 */
#ifndef ALBATROSS_STATS_H
#define ALBATROSS_STATS_H

#include <stdint.h>

#include <albatross/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque collector: a route netlink socket and cached host facts. */
typedef struct alb_stats_collector alb_stats_collector;
/** Opaque sample of one process (and its taps). */
typedef struct alb_stats alb_stats_sample;

/** The figures of a process (alb_stats_sample_get()). */
enum alb_stats_field {
	ALB_STATS_TIME = 1,   /**< when the sample was taken, µs since the epoch */
	ALB_STATS_PID,	      /**< the process id */
	ALB_STATS_START_TIME, /**< when the process started, µs since the epoch */
	ALB_STATS_UTIME,      /**< user CPU time, µs */
	ALB_STATS_STIME,      /**< system CPU time, µs */
	ALB_STATS_RSS,	      /**< resident set size, bytes */
	ALB_STATS_VSIZE,      /**< virtual size, bytes */
	ALB_STATS_MINFLT,     /**< minor page faults */
	ALB_STATS_MAJFLT,     /**< major page faults */
	ALB_STATS_NVCSW,      /**< voluntary context switches */
	ALB_STATS_NIVCSW,     /**< involuntary context switches */
};

/** The counters of an interface (alb_stats_sample_get_if()), as the host sees them. */
enum alb_stats_if_field {
	ALB_STATS_RX_BYTES = 1,
	ALB_STATS_RX_PACKETS,
	ALB_STATS_RX_ERRORS,
	ALB_STATS_RX_DROPS,
	ALB_STATS_TX_BYTES,
	ALB_STATS_TX_PACKETS,
	ALB_STATS_TX_ERRORS,
	ALB_STATS_TX_DROPS,
};

/** At most this many taps per sample, and KVM counters per sample. */
#define ALB_STATS_TAPS_MAX	   64u
#define ALB_STATS_KVM_COUNTERS_MAX 256u

/**
 * Makes a collector (opens a route netlink socket; needs no privilege).
 * @return 0, -ENOMEM, -EIO (netlink; reason in @p ctx).
 */
int alb_stats_collector_new(alb_ctx *ctx, alb_stats_collector **ret_collector);

/** Frees a collector. Accepts NULL. @return NULL. */
alb_stats_collector *alb_stats_collector_free(alb_stats_collector *collector);

/**
 * Reloads the interface counters (one netlink dump) and the list of KVM
 * debugfs directories. Call it once per round of alb_stats_collect() calls;
 * a collector that was never refreshed refreshes on its first collect.
 * @return 0, -EIO (netlink), -ENOMEM.
 */
int alb_stats_collector_refresh(alb_stats_collector *collector);

/**
 * Samples process @p pid (1 .. 4194304) and its taps @p taps (at most
 * ALB_STATS_TAPS_MAX interface names; a tap that does not exist is left out).
 * @param ret_sample freed with alb_stats_sample_free().
 * @return 0, -EINVAL, -ESRCH (no such process), -EBADMSG (a /proc file that
 * cannot be parsed), -ENOMEM; the reason is in the context.
 */
int alb_stats_collect(alb_stats_collector *collector, uint32_t pid, const char *const *taps,
		      uint32_t n_taps, alb_stats_sample **ret_sample);

/** Frees a sample. Accepts NULL. @return NULL. */
alb_stats_sample *alb_stats_sample_free(alb_stats_sample *sample);

/** Reads a figure (@p field an alb_stats_field). @return 0, -EINVAL. */
int alb_stats_sample_get(const alb_stats_sample *sample, int field, uint64_t *ret_value);

/** @return the number of interfaces in the sample. */
uint32_t alb_stats_sample_get_n_ifs(const alb_stats_sample *sample);

/**
 * Reads interface @p index: its name (borrowed; may be NULL) and a counter
 * (@p field an alb_stats_if_field). @return 0, -EINVAL.
 */
int alb_stats_sample_get_if(const alb_stats_sample *sample, uint32_t index, int field,
			    const char **ret_name, uint64_t *ret_value);

/** @return the number of KVM counters in the sample (0 when the host has none). */
uint32_t alb_stats_sample_get_n_kvm(const alb_stats_sample *sample);

/** Reads KVM counter @p index: its key (borrowed) and value. @return 0, -EINVAL. */
int alb_stats_sample_get_kvm(const alb_stats_sample *sample, uint32_t index, const char **ret_key,
			     uint64_t *ret_value);

/**
 * Formats a sample as InfluxDB line protocol: one line for the process, one
 * per interface, one for the KVM counters if any, each ending in a newline,
 * tagged with @p name (a unikernel name, escaped as the protocol wants) and
 * timestamped in nanoseconds.
 * @param ret_text freed with alb_free().
 * @return 0, -EINVAL, -ENOMEM.
 */
int alb_stats_sample_to_influx(const alb_stats_sample *sample, const char *name, char **ret_text);

/**
 * Formats samples as Prometheus text exposition (format 0.0.4): each metric
 * family once with HELP and TYPE lines, one series per sample, labelled with
 * the sample's name from @p names (escaped).
 * @param n the number of samples and names (at most 1000000).
 * @param ret_text freed with alb_free().
 * @return 0, -EINVAL, -ENOMEM.
 */
int alb_stats_samples_to_prometheus(const alb_stats_sample *const *samples,
				    const char *const *names, uint32_t n, char **ret_text);

#ifdef __cplusplus
}
#endif

#endif
