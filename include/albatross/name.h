/* SPDX-License-Identifier: ISC */
/**
 * @file name.h
 * @brief Names of administrative domains (paths) and of unikernels.
 *
 * A label is 1 to 63 characters of [a-zA-Z0-9.-], not starting with '-'.
 * Labels are stored lowercase: "Web" and "web" are the same label.
 *
 * A name is a path (labels joined by ':') and an optional final label:
 *
 *   ":"        the root path
 *   "a:b:"     the path a, b (a trailing ':' makes a path)
 *   "a:b:vm"   the unikernel (or block device) "vm" in the path a, b
 *   "vm"       the unikernel "vm" directly under the root
 *
 * Empty labels ("a::b", ":vm", "") are invalid, and so is a name of more
 * than ALB_NAME_LABELS_MAX labels in all. Names are validated wherever they
 * enter the system: the wire, certificates, the command line, the state file.
 */
#ifndef ALBATROSS_NAME_H
#define ALBATROSS_NAME_H

#include <stdint.h>

#include <albatross/ctx.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The longest label, in characters. */
#define ALB_LABEL_MAX 63
/** The most labels in one name, the path's and the final one together. */
#define ALB_NAME_LABELS_MAX 16
/** The longest name string, without its terminating NUL. */
#define ALB_NAME_STRING_MAX (ALB_NAME_LABELS_MAX * (ALB_LABEL_MAX + 1))

/** Opaque name or path; an owned value. */
typedef struct alb_name alb_name;

/**
 * Checks one label.
 * @return 0 if valid, -EINVAL (with the reason in @p ctx) otherwise.
 * @p ctx may be NULL when the reason is not wanted.
 */
int alb_label_validate(alb_ctx *ctx, const char *label);

/**
 * Parses a name or a path (see the file comment), lowercasing every label.
 * @param ret_name the name, freed with alb_name_free().
 * @return 0, -EINVAL for an invalid string, -ENOMEM.
 */
int alb_name_parse(alb_ctx *ctx, const char *string, alb_name **ret_name);

/** Makes the root path ":". @return 0 or -ENOMEM. */
int alb_name_new_root(alb_name **ret_name);

/** Copies a name. @return 0 or -ENOMEM (or -EINVAL for a NULL name). */
int alb_name_dup(const alb_name *name, alb_name **ret_name);

/** Frees a name. Accepts NULL. @return NULL. */
alb_name *alb_name_free(alb_name *name);

/**
 * Formats a name as alb_name_parse() reads it back.
 * @return a string freed with alb_free(), or NULL on allocation failure.
 */
char *alb_name_to_string(const alb_name *name);

/** @return 1 if @p name is a path (it has no final label), 0 if not. */
int alb_name_is_path(const alb_name *name);

/** @return 1 if @p name is the root path ":", 0 if not. */
int alb_name_is_root(const alb_name *name);

/** @return the number of labels of the path part. */
uint32_t alb_name_depth(const alb_name *name);

/** @return the path label at @p index (0 is nearest the root), borrowed; NULL out of range. */
const char *alb_name_path_label(const alb_name *name, uint32_t index);

/** @return the final label, borrowed; NULL for a path. */
const char *alb_name_label(const alb_name *name);

/** @return 1 if both are the same name (labels are lowercase), 0 if not. */
int alb_name_equal(const alb_name *a, const alb_name *b);

/**
 * The path one level up: the path of a unikernel name ("a:b:vm" gives
 * "a:b:"), or the parent of a path ("a:b:" gives "a:").
 * @return 0, -ENOENT for the root, -ENOMEM.
 */
int alb_name_parent(const alb_name *name, alb_name **ret_parent);

/**
 * The path made of every label of @p name: "a:b:vm" gives "a:b:vm:", a path
 * gives a copy of itself.
 * @return 0, -EINVAL when that would exceed ALB_NAME_LABELS_MAX, -ENOMEM.
 */
int alb_name_to_path(const alb_name *name, alb_name **ret_path);

/**
 * @return 1 if the path @p path contains @p name: every label of @p path
 * begins the labels of @p name (the root contains everything; a path contains
 * itself); 0 if not or if @p path is not a path.
 */
int alb_name_is_prefix(const alb_name *path, const alb_name *name);

/**
 * Appends @p label to the path @p path: as the final label when @p as_path is
 * 0 ("a:" + "vm" gives "a:vm"), as a further path label otherwise ("a:b:").
 * @return 0, -EINVAL for an invalid label, a non-path @p path or too many
 * labels, -ENOMEM.
 */
int alb_name_append(alb_ctx *ctx, const alb_name *path, const char *label, int as_path,
		    alb_name **ret_name);

/**
 * The name relative to the path @p path: "a:b:vm" relative to "a:" is
 * "b:vm", relative to "a:b:" it is "vm"; a path relative to itself is ":".
 * @return 0, -EINVAL if @p path does not contain @p name, -ENOMEM.
 */
int alb_name_relative_to(alb_ctx *ctx, const alb_name *name, const alb_name *path,
			 alb_name **ret_name);

/**
 * The name @p relative placed below the path @p path (the inverse of
 * alb_name_relative_to(): "b:vm" below "a:" is "a:b:vm").
 * @return 0, -EINVAL when @p path is not a path or the result is too long, -ENOMEM.
 */
int alb_name_prepend_path(alb_ctx *ctx, const alb_name *path, const alb_name *relative,
			  alb_name **ret_name);

#ifdef __cplusplus
}
#endif

#endif
