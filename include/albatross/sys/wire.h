/* SPDX-License-Identifier: ISC */
/**
 * @file sys/wire.h
 * The decoded form of every wire message (docs/protocol.md gives the CBOR
 * encoding). The public API sees alb_msg as an opaque handle (wire.h); the
 * daemons and albatross-client use these structures directly.
 *
 * Ownership: a message owns everything it points to; alb_msg_free() frees it
 * all. Pointers not used by a message's kind are NULL / zero.
 * Extension tier (docs/abi.md): stable within a minor release only.
 */
#ifndef ALBATROSS_SYS_WIRE_H
#define ALBATROSS_SYS_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include <albatross/name.h>
#include <albatross/policy.h>
#include <albatross/sys/log.h>
#include <albatross/sys/stats.h>
#include <albatross/sys/util.h>
#include <albatross/sys/vmm.h>
#include <albatross/unikernel.h>
#include <albatross/wire.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds that the decoder enforces (besides those of name.h, policy.h, unikernel.h). */
#define ALB_WIRE_STRING_MAX    4096u  /* messages, identities, paths */
#define ALB_ON_BEHALF_OF_MAX   256u   /* a command's on-behalf-of */
#define ALB_WIRE_LIST_MAX      65536u /* entries of an info reply */
#define ALB_HISTORY_MAX	       65536u /* lines or events asked for */
#define ALB_CONSOLE_LINE_MAX   65536u /* bytes of one console line on the wire */
#define ALB_TAPS_MAX	       ALB_DEVICES_MAX
#define ALB_BLOCK_SIZE_MAX_MB  (UINT64_C(1) << 32)
#define ALB_ERROR_CODE_MAX     4095u
#define ALB_TENDERS_MAX	       256u   /* entries of a tenders reply */
#define ALB_CONSOLE_OUTPUT_MAX 65536u /* bytes of console output in one console-data */
/* Bytes of console output that may be reported lost at one place (1 TiB). */
#define ALB_CONSOLE_DROPPED_MAX (UINT64_C(1) << 40)

/* History selector of a subscription: since a time, or the last count entries. */
struct alb_history {
	bool has_since;
	uint64_t since_us;
	bool has_count;
	uint32_t count; /* 1 .. ALB_HISTORY_MAX */
	/* console and log subscribe: after the history, follow with new entries; false: the
	 * history ends with an end-of-stream frame */
	bool follow;
};

/*
 * Services (docs/services.md): a named unikernel configuration whose instances get an
 * address from a prefix, with host ports published to the current instance. IPv4
 * addresses are uint32_t in host byte order.
 */
#define ALB_SERVICE_PUBLISH_MAX	  64u		       /* published ports of one service */
#define ALB_SERVICE_EXCLUDE_MAX	  256u		       /* excluded addresses of one service */
#define ALB_SERVICE_INSTANCES_MAX 2u		       /* instances of one service at once */
#define ALB_READY_LINE_MAX	  1024u		       /* bytes of a readiness console line */
#define ALB_SERVICE_MS_MAX	  (UINT64_C(86400000)) /* a readiness or drain time: a day */

enum alb_ready_kind {
	ALB_READY_NONE = 0,  /* ready as soon as it runs */
	ALB_READY_LINE = 1,  /* a console line that contains ready_line */
	ALB_READY_TCP = 2,   /* a TCP connect to the instance's address and ready_port */
	ALB_READY_UDP = 3,   /* an answer to a UDP datagram sent to that address and port */
	ALB_READY_DELAY = 4, /* ready_delay_ms after it runs */
};

struct alb_publish {
	uint32_t proto;	    /* 6 (tcp) or 17 (udp) */
	uint32_t host_addr; /* 0: every address of the host */
	uint32_t host_port; /* 1 .. 65535 */
	uint32_t port;	    /* 1 .. 65535: the instance's */
};

struct alb_service_spec {
	char *device; /* the instance's net device the address is on: "service" */
	char *bridge; /* the bridge that device is on */
	uint32_t prefix, prefix_len;
	uint32_t gateway; /* 0: none; else inside the prefix, never allocated */
	uint32_t *excluded;
	uint32_t n_excluded;
	struct alb_publish *publish;
	uint32_t n_publish;
	int ready; /* enum alb_ready_kind */
	char *ready_line;
	uint32_t ready_port;
	uint64_t ready_delay_ms;
	uint64_t ready_timeout_ms; /* 1 .. ALB_SERVICE_MS_MAX */
	uint64_t drain_ms;	   /* 0 .. ALB_SERVICE_MS_MAX */
};

enum alb_instance_state {
	ALB_INSTANCE_STARTING = 1,  /* started by an update, waiting to be ready */
	ALB_INSTANCE_PUBLISHED = 2, /* the published ports lead to it */
	ALB_INSTANCE_DRAINING = 3,  /* replaced: kept until its drain ends */
};

struct alb_service_instance {
	uint64_t generation;
	alb_name *unikernel; /* "PATH:LABEL.GENERATION" */
	uint32_t address;
	int state;	   /* enum alb_instance_state */
	uint64_t until_us; /* starting: the readiness deadline; draining: the drain's end
			      (wall clock); 0 otherwise */
};

struct alb_service_info {
	alb_name *name;
	alb_unikernel_config *config; /* its arguments are templates */
	struct alb_service_spec *spec;
	uint64_t generation; /* the last generation made, 0 before the first */
	struct alb_service_instance *instances;
	uint32_t n_instances;
	char *last_error; /* why the last update failed; NULL when it did not */
};

/* What a collect removed: a unikernel and its address, or an address alone. */
struct alb_collected {
	alb_name *unikernel; /* NULL: an address no unikernel held */
	char *bridge;
	uint32_t address;
};

struct alb_service_spec *alb_service_spec_free(struct alb_service_spec *spec);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct alb_service_spec *, alb_service_spec_free)
/* The checks a spec must pass to be sent: the prefix (host bits zero, length 8 to 30), the
 * gateway and excluded addresses inside it, no host port twice, the readiness fields of its
 * kind and no other. 0 or -EINVAL / -E2BIG with the reason in ctx. */
int alb_service_spec_validate(alb_ctx *ctx, const struct alb_service_spec *spec);
void alb_service_info_clear(struct alb_service_info *info);
void alb_collected_clear(struct alb_collected *c);

struct alb_cmd {
	int kind; /* enum alb_command */
	/* unikernel create, force-create */
	alb_unikernel_config *config;
	/* unikernel restart: replace the arguments if has_argv */
	bool has_argv;
	char **argv; /* NULL-terminated */
	uint32_t argc;
	/* unikernel get, block dump: ask for zlib-compressed data */
	bool compress;
	/* policy add */
	alb_policy *policy;
	/* block add: size; block add and block set: data follows in data_size bytes */
	uint64_t block_size_mb;
	uint32_t sector_size; /* block add: 0 default */
	uint64_t data_size;   /* 0: no data follows (block add) */
	bool compressed;      /* the data that follows is zlib-compressed */
	/* console, log subscribe */
	struct alb_history history;
	/* console data: output of the unikernel named in the header, read at time_us; dropped:
	 * bytes lost just before it (console data and console end; 0 none) */
	uint64_t time_us;
	uint8_t *output;
	uint32_t output_len; /* 1 .. ALB_CONSOLE_OUTPUT_MAX */
	uint64_t dropped;    /* 0 .. ALB_CONSOLE_DROPPED_MAX */
	/* stats add: the tender's pid and its taps */
	uint32_t pid;
	char **taps; /* NULL-terminated */
	uint32_t n_taps;
	/* log event */
	struct alb_log_event *event;
	/* service deploy (with config: the image follows as for a create) */
	struct alb_service_spec *service;
	/* any command, optional: whom it runs for, when a daemon passes on a remote
	 * client's command (the TLS endpoint); part of the identity that is logged */
	char *on_behalf_of;
};

enum alb_reply_kind {
	ALB_REPLY_EMPTY = 1,
	ALB_REPLY_STRING,
	ALB_REPLY_UNIKERNELS,
	ALB_REPLY_POLICIES,
	ALB_REPLY_BLOCKS,
	ALB_REPLY_IMAGE,     /* unikernel get: data chunks follow */
	ALB_REPLY_NAMES,     /* console list-inactive */
	ALB_REPLY_TENDERS,   /* tenders info */
	ALB_REPLY_SERVICES,  /* service info */
	ALB_REPLY_COLLECTED, /* collect */
};

struct alb_reply {
	int kind; /* enum alb_reply_kind */
	char *string;
	struct alb_unikernel_info *unikernels;
	uint32_t n_unikernels;
	struct alb_policy_info *policies;
	uint32_t n_policies;
	struct alb_block_info *blocks;
	uint32_t n_blocks;
	/* image */
	uint64_t image_size;
	bool compressed;
	uint8_t digest[32];
	int tender;
	/* names */
	alb_name **names;
	uint32_t n_names;
	/* tenders */
	struct alb_tender_info *tenders;
	uint32_t n_tenders;
	/* services */
	struct alb_service_info *services;
	uint32_t n_services;
	/* collected */
	struct alb_collected *collected;
	uint32_t n_collected;
};

struct alb_failure {
	uint32_t code; /* positive errno value, 1 .. ALB_ERROR_CODE_MAX */
	char *message;
};

enum alb_data_kind {
	ALB_DATA_CHUNK = 1, /* image or block data */
	ALB_DATA_CONSOLE,
	ALB_DATA_LOG,
	ALB_DATA_STATS,
};

struct alb_console_line {
	uint64_t time_us;
	uint8_t *line; /* raw bytes, not NUL-terminated, may be invalid UTF-8 */
	uint32_t len;
	bool truncated;
	bool dropped; /* not output: albatross says that output was lost here (line tells) */
};

struct alb_data {
	int kind; /* enum alb_data_kind */
	uint8_t *chunk;
	uint32_t chunk_len; /* 1 .. ALB_CHUNK_MAX */
	struct alb_console_line console;
	struct alb_log_event *event;
	struct alb_stats *stats;
};

struct alb_msg {
	uint32_t version; /* ALB_WIRE_VERSION */
	uint64_t seq;
	alb_name *name; /* never NULL in a valid message */
	int kind;	/* enum alb_msg_kind */
	struct alb_cmd cmd;
	struct alb_reply reply;
	struct alb_failure failure;
	struct alb_data data;
};

/* Allocates a zeroed message of kind with the header filled (name copied). */
int alb_msg_new(alb_msg **ret, int kind, uint64_t seq, const alb_name *name);

/* The command's name as in docs/protocol.md ("unikernel-create"). */
const char *alb_command_to_string(int command);

#ifdef __cplusplus
}
#endif

#endif
