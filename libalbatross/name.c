/* SPDX-License-Identifier: ISC */
#include <ctype.h>
#include <stdio.h>

#include "ctx-private.h"
#include "name-private.h"

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-';
}

/* Validates the label s[0..len). */
static int label_check(alb_ctx *ctx, const char *s, size_t len)
{
	if (len == 0)
		return alb_error(ctx, EINVAL, "empty label");
	if (len > ALB_LABEL_MAX)
		return alb_error(ctx, EINVAL, "label '%.*s...' is longer than %d characters", 16, s,
				 ALB_LABEL_MAX);
	if (s[0] == '-')
		return alb_error(ctx, EINVAL, "label '%.*s' starts with '-'", (int)len, s);
	for (size_t i = 0; i < len; i++)
		if (!label_char(s[i])) {
			if (isprint((unsigned char)s[i]))
				return alb_error(ctx, EINVAL,
						 "label '%.*s' has an invalid character '%c' at "
						 "position %zu (allowed: a-z, 0-9, '.', '-')",
						 (int)len, s, s[i], i + 1);
			return alb_error(ctx, EINVAL,
					 "label has an invalid byte 0x%02x at position %zu "
					 "(allowed: a-z, 0-9, '.', '-')",
					 (unsigned char)s[i], i + 1);
		}
	return 0;
}

static void label_copy_lower(char dst[ALB_LABEL_MAX + 1], const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] = (char)tolower((unsigned char)s[i]);
	dst[len] = '\0';
}

ALB_EXPORT int alb_label_validate(alb_ctx *ctx, const char *label)
{
	if (!label)
		return alb_error(ctx, EINVAL, "no label");
	return label_check(ctx, label, strnlen(label, ALB_LABEL_MAX + 1));
}

static uint32_t name_labels(const alb_name *n)
{
	return n->depth + (n->has_label ? 1 : 0);
}

ALB_EXPORT int alb_name_parse(alb_ctx *ctx, const char *string, alb_name **ret_name)
{
	if (!string || !ret_name)
		return alb_error(ctx, EINVAL, "no name");
	size_t total = strnlen(string, ALB_NAME_STRING_MAX + 1);
	if (total == 0)
		return alb_error(ctx, EINVAL, "empty name");
	if (total > ALB_NAME_STRING_MAX)
		return alb_error(ctx, EINVAL, "name is longer than %d characters",
				 ALB_NAME_STRING_MAX);

	_cleanup_(alb_name_freep) alb_name *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;

	if (streq(string, ":")) {
		*ret_name = TAKE_PTR(n);
		return 0;
	}

	const char *p = string;
	for (;;) {
		const char *sep = strchr(p, ':');
		size_t len = sep ? (size_t)(sep - p) : strlen(p);
		if (len == 0 && !sep)
			break; /* trailing ':' : a path */
		int r = label_check(ctx, p, len);
		if (r < 0)
			return alb_error_prefix(ctx, r, "invalid name '%.*s'", 256, string);
		if (name_labels(n) >= ALB_NAME_LABELS_MAX)
			return alb_error(ctx, EINVAL, "name '%.64s...' has more than %d labels",
					 string, ALB_NAME_LABELS_MAX);
		if (sep)
			label_copy_lower(n->path[n->depth++], p, len);
		else {
			label_copy_lower(n->label, p, len);
			n->has_label = true;
			break;
		}
		p = sep + 1;
	}
	*ret_name = TAKE_PTR(n);
	return 0;
}

ALB_EXPORT int alb_name_new_root(alb_name **ret_name)
{
	if (!ret_name)
		return -EINVAL;
	alb_name *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	*ret_name = n;
	return 0;
}

ALB_EXPORT int alb_name_dup(const alb_name *name, alb_name **ret_name)
{
	if (!name || !ret_name)
		return -EINVAL;
	alb_name *n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	memcpy(n, name, sizeof(*n));
	*ret_name = n;
	return 0;
}

ALB_EXPORT alb_name *alb_name_free(alb_name *name)
{
	free(name);
	return NULL;
}

ALB_EXPORT char *alb_name_to_string(const alb_name *name)
{
	if (!name)
		return NULL;
	if (name->depth == 0 && !name->has_label)
		return strdup(":");
	char *s = malloc(ALB_NAME_STRING_MAX + 1), *p = s;
	if (!s)
		return NULL;
	for (uint32_t i = 0; i < name->depth; i++) {
		size_t l = strlen(name->path[i]);
		memcpy(p, name->path[i], l);
		p += l;
		*p++ = ':';
	}
	if (name->has_label) {
		size_t l = strlen(name->label);
		memcpy(p, name->label, l);
		p += l;
	}
	*p = '\0';
	return s;
}

ALB_EXPORT int alb_name_is_path(const alb_name *name)
{
	return name && !name->has_label;
}

ALB_EXPORT int alb_name_is_root(const alb_name *name)
{
	return name && !name->has_label && name->depth == 0;
}

ALB_EXPORT uint32_t alb_name_depth(const alb_name *name)
{
	return name ? name->depth : 0;
}

ALB_EXPORT const char *alb_name_path_label(const alb_name *name, uint32_t index)
{
	if (!name || index >= name->depth)
		return NULL;
	return name->path[index];
}

ALB_EXPORT const char *alb_name_label(const alb_name *name)
{
	return name && name->has_label ? name->label : NULL;
}

ALB_EXPORT int alb_name_equal(const alb_name *a, const alb_name *b)
{
	if (!a || !b || a->depth != b->depth || a->has_label != b->has_label)
		return 0;
	for (uint32_t i = 0; i < a->depth; i++)
		if (!streq(a->path[i], b->path[i]))
			return 0;
	return !a->has_label || streq(a->label, b->label);
}

ALB_EXPORT int alb_name_parent(const alb_name *name, alb_name **ret_parent)
{
	if (!name || !ret_parent)
		return -EINVAL;
	if (alb_name_is_root(name))
		return -ENOENT;
	alb_name *p;
	int r = alb_name_dup(name, &p);
	if (r < 0)
		return r;
	if (p->has_label) {
		p->has_label = false;
		p->label[0] = '\0';
	} else
		p->path[--p->depth][0] = '\0';
	*ret_parent = p;
	return 0;
}

ALB_EXPORT int alb_name_to_path(const alb_name *name, alb_name **ret_path)
{
	if (!name || !ret_path)
		return -EINVAL;
	alb_name *p;
	int r = alb_name_dup(name, &p);
	if (r < 0)
		return r;
	if (p->has_label) {
		/* name_labels() <= ALB_NAME_LABELS_MAX holds, so depth + 1 fits. */
		memcpy(p->path[p->depth++], p->label, sizeof(p->label));
		p->has_label = false;
		p->label[0] = '\0';
	}
	*ret_path = p;
	return 0;
}

ALB_EXPORT int alb_name_is_prefix(const alb_name *path, const alb_name *name)
{
	if (!path || !name || path->has_label)
		return 0;
	if (path->depth > name_labels(name))
		return 0;
	for (uint32_t i = 0; i < path->depth; i++) {
		const char *l = i < name->depth ? name->path[i] : name->label;
		if (!streq(path->path[i], l))
			return 0;
	}
	return 1;
}

ALB_EXPORT int alb_name_append(alb_ctx *ctx, const alb_name *path, const char *label, int as_path,
			       alb_name **ret_name)
{
	if (!path || !ret_name || !alb_name_is_path(path))
		return alb_error(ctx, EINVAL, "can only append to a path");
	int r = alb_label_validate(ctx, label);
	if (r < 0)
		return r;
	if (path->depth + 1 > ALB_NAME_LABELS_MAX)
		return alb_error(ctx, EINVAL, "name would have more than %d labels",
				 ALB_NAME_LABELS_MAX);
	alb_name *n;
	r = alb_name_dup(path, &n);
	if (r < 0)
		return r;
	if (as_path)
		label_copy_lower(n->path[n->depth++], label, strlen(label));
	else {
		label_copy_lower(n->label, label, strlen(label));
		n->has_label = true;
	}
	*ret_name = n;
	return 0;
}

ALB_EXPORT int alb_name_relative_to(alb_ctx *ctx, const alb_name *name, const alb_name *path,
				    alb_name **ret_name)
{
	if (!name || !path || !ret_name)
		return alb_error(ctx, EINVAL, "no name");
	if (!alb_name_is_prefix(path, name)) {
		_cleanup_free_ char *a = alb_name_to_string(name), *b = alb_name_to_string(path);
		return alb_error(ctx, EINVAL, "'%s' is not below '%s'", a ? a : "?", b ? b : "?");
	}
	alb_name *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	if (path->depth > name->depth) {
		/* path equals the name's labels as a path: "a:vm" relative to "a:vm:" is ":" */
		*ret_name = n;
		return 0;
	}
	for (uint32_t i = path->depth; i < name->depth; i++)
		memcpy(n->path[n->depth++], name->path[i], sizeof(n->path[0]));
	n->has_label = name->has_label;
	memcpy(n->label, name->label, sizeof(n->label));
	*ret_name = n;
	return 0;
}

ALB_EXPORT int alb_name_prepend_path(alb_ctx *ctx, const alb_name *path, const alb_name *relative,
				     alb_name **ret_name)
{
	if (!path || !relative || !ret_name || !alb_name_is_path(path))
		return alb_error(ctx, EINVAL, "can only prepend a path");
	if (path->depth + name_labels(relative) > ALB_NAME_LABELS_MAX)
		return alb_error(ctx, EINVAL, "name would have more than %d labels",
				 ALB_NAME_LABELS_MAX);
	alb_name *n;
	int r = alb_name_dup(path, &n);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < relative->depth; i++)
		memcpy(n->path[n->depth++], relative->path[i], sizeof(n->path[0]));
	n->has_label = relative->has_label;
	memcpy(n->label, relative->label, sizeof(n->label));
	*ret_name = n;
	return 0;
}
