/* SPDX-License-Identifier: ISC */
/**
 * @file sys/util.h
 * Extension tier (docs/abi.md): the small helpers that libalbatross and its
 * programs share: failures and logging through the context, the one number
 * grammar, string vectors, whole-file I/O, and zlib streaming with a running
 * SHA-256. Stable within a minor release only.
 */
#ifndef ALBATROSS_SYS_UTIL_H
#define ALBATROSS_SYS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <albatross/ctx.h>
#include <albatross/sys/cleanup.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- bounds that engines and the wire share ---- */

#define ALB_PID_MAX 4194304u /* PID_MAX_LIMIT */
/* Times are microseconds since the Unix epoch; later than this is invalid (year 2200). */
#define ALB_TIME_MAX UINT64_C(7258118400000000)

/* ---- how a process ended ---- */

#define ALB_EXIT_SIGNAL_MAX 64u

enum alb_exit_kind { ALB_EXIT_CODE = 1, ALB_EXIT_SIGNAL = 2 };

struct alb_exit {
	int kind;	/* enum alb_exit_kind; 0: none */
	uint32_t value; /* exit code 0..255, or signal 1..ALB_EXIT_SIGNAL_MAX */
};

/* ---- failures and logging ---- */

/*
 * Records the reason of a failure in ctx (which may be NULL) and returns
 * -error, so that callers write: return alb_error(ctx, EINVAL, "...", ...);
 * error is a positive errno value.
 */
int alb_error(alb_ctx *ctx, int error, const char *fmt, ...) _printf_(3, 4);
int alb_errorv(alb_ctx *ctx, int error, const char *fmt, va_list ap) _printf_(3, 0);

/* Prefixes the context's last error with "prefix: ". Returns r. */
int alb_error_prefix(alb_ctx *ctx, int r, const char *fmt, ...) _printf_(3, 4);

/* Passes a message to the context's log handler if priority is enabled. */
void alb_log(alb_ctx *ctx, int priority, const char *fmt, ...) _printf_(3, 4);

#define alb_log_debug(ctx, ...)	 alb_log(ctx, ALB_LOG_DEBUG, __VA_ARGS__)
#define alb_log_info(ctx, ...)	 alb_log(ctx, ALB_LOG_INFO, __VA_ARGS__)
#define alb_log_notice(ctx, ...) alb_log(ctx, ALB_LOG_NOTICE, __VA_ARGS__)
#define alb_log_warn(ctx, ...)	 alb_log(ctx, ALB_LOG_WARNING, __VA_ARGS__)
#define alb_log_err(ctx, ...)	 alb_log(ctx, ALB_LOG_ERR, __VA_ARGS__)

/* ---- numbers ---- */

/*
 * Number parsing: the one grammar of every number given on a command line, in
 * an environment variable or in /proc. A number is decimal digits only: no
 * sign, no space, no base prefix, nothing after it ("007" is 7). Each function
 * returns 0 and writes *ret, or -EINVAL (not a number: empty, another byte) or
 * -ERANGE (more than UINT64_MAX, or outside min..max), leaving *ret alone.
 * The caller words the message: the functions never print.
 */

/* The number in [s, s + len): a field inside a longer string. */
int alb_parse_u64_span(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *ret);
/* The whole string s (NULL: -EINVAL). */
int alb_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int alb_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret);

/* Whole seconds min..max, given in microseconds. */
int alb_parse_seconds(const char *s, uint64_t min_sec, uint64_t max_sec, uint64_t *ret_usec);

/*
 * A size in bytes: a number, optionally followed by K or k (KiB), M (MiB) or G
 * (GiB); the bytes it makes must be min..max.
 */
int alb_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* ---- strings and files ---- */

/* A NULL-terminated array of strings; alb_strv_free() accepts NULL. */
void alb_strv_free(char **v);
/* Copies n strings; NULL on allocation failure. */
char **alb_strv_dup(char *const *v, uint32_t n);

/* EINTR-safe full read/write. read returns bytes read (< len only at EOF) or -errno. */
ssize_t alb_read_full(int fd, void *buf, size_t len);
int alb_write_full(int fd, const void *buf, size_t len);

/*
 * Reads the whole file at path, at most max bytes, into *ret_buf (freed with
 * free()). Returns 0, -ENOENT, -EFBIG (over max), another -errno.
 */
int alb_read_file(alb_ctx *ctx, const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len);

/* ---- zlib streaming ---- */

/*
 * zlib streaming with a running SHA-256: the one engine behind image uploads,
 * block data, downloads and the client's --compress. Data is pushed in
 * (alb_zstream_write) and comes out through a sink function in pieces of at
 * most ALB_ZSTREAM_BUF bytes. Whatever the mode, the digest and the bound are
 * of the uncompressed bytes: what is inflated, what is copied, what is
 * deflated. Nothing is held beyond one buffer.
 */

#define ALB_ZSTREAM_BUF 65536

enum alb_zstream_mode {
	ALB_ZSTREAM_COPY,    /* the data as it is */
	ALB_ZSTREAM_INFLATE, /* a zlib stream in, its data out */
	ALB_ZSTREAM_DEFLATE, /* data in, a zlib stream (best compression) out */
};

/* Why a call returned -EBADMSG or -EFBIG (alb_zstream_fault). */
enum alb_zstream_fault {
	ALB_ZSTREAM_FAULT_NONE,
	ALB_ZSTREAM_FAULT_CORRUPT,   /* not zlib data (alb_zstream_zlib_message says why) */
	ALB_ZSTREAM_FAULT_TRAILING,  /* data after the end of the zlib stream */
	ALB_ZSTREAM_FAULT_TRUNCATED, /* the input ended before the zlib stream did */
	ALB_ZSTREAM_FAULT_TOO_BIG,   /* more than max uncompressed bytes */
};

/* Takes len (> 0) bytes of output. 0, or -errno (returned by the call that wrote). */
typedef int (*alb_zstream_sink_fn)(const uint8_t *buf, size_t len, void *userdata);

typedef struct alb_zstream alb_zstream;

/*
 * A stream of mode (enum alb_zstream_mode) of at most max uncompressed bytes
 * (UINT64_MAX: no bound), hashing them with SHA-256 if hash, giving its output
 * to sink. 0 or -ENOMEM, -EINVAL.
 */
int alb_zstream_new(int mode, uint64_t max, bool hash, alb_zstream_sink_fn sink, void *userdata,
		    alb_zstream **ret);
alb_zstream *alb_zstream_free(alb_zstream *z);
static inline void alb_zstream_freep(alb_zstream **z)
{
	alb_zstream_free(*z);
}

/*
 * Pushes len bytes in. 0; -EBADMSG (corrupt, or data after the end of the zlib
 * stream) or -EFBIG (the bound), with alb_zstream_fault() saying which; or the
 * sink's error. A stream that failed stays failed.
 */
int alb_zstream_write(alb_zstream *z, const void *buf, size_t len);

/*
 * The end of the input: deflate flushes its stream; inflate fails with
 * -EBADMSG (ALB_ZSTREAM_FAULT_TRUNCATED) if the zlib stream has not ended.
 * 0 or as alb_zstream_write().
 */
int alb_zstream_finish(alb_zstream *z);

/* The fault of the last failure (ALB_ZSTREAM_FAULT_NONE if none). */
int alb_zstream_fault(const alb_zstream *z);
/* zlib's reason for ALB_ZSTREAM_FAULT_CORRUPT (borrowed), or NULL. */
const char *alb_zstream_zlib_message(const alb_zstream *z);
/* Uncompressed bytes so far; bytes given to the sink so far. */
uint64_t alb_zstream_plain_bytes(const alb_zstream *z);
uint64_t alb_zstream_out_bytes(const alb_zstream *z);
/* The SHA-256 of the uncompressed bytes, after a successful finish. 0, -EINVAL. */
int alb_zstream_digest(alb_zstream *z, uint8_t digest[32]);

/* A sink writing to the fd at *(int *)userdata (EINTR-safe). */
int alb_zstream_sink_fd(const uint8_t *buf, size_t len, void *userdata);
/* Writes all of the fd in (read to its end) into z, then finishes it. -errno of a read, or as
 * alb_zstream_finish(). */
int alb_zstream_pump_fd(alb_zstream *z, int in);

/* Compresses a whole buffer with zlib (best compression). *ret freed with free(). 0, -ENOMEM. */
int alb_zlib_deflate(const uint8_t *in, size_t len, uint8_t **ret, size_t *ret_len);

#ifdef __cplusplus
}
#endif

#endif
