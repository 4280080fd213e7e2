/* SPDX-License-Identifier: ISC */
/* Output of albatross-client: JSON, aligned tables, the progress bar, formatting. */
#include <inttypes.h>
#include <time.h>
#include <unistd.h>

#include "cli-private.h"

/* ---- JSON ---------------------------------------------------------------- */

void json_write_escaped(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

/* Before a value: a comma after a previous element, unless a key precedes it. */
static void json_sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0 && !j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
}

void json_begin(struct json *j, FILE *f)
{
	*j = (struct json){.f = f};
	j->first[0] = true;
}

void json_end(struct json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}

static void json_open(struct json *j, char c)
{
	json_sep(j);
	fputc(c, j->f);
	if (j->depth + 1 < ELEMENTSOF(j->first))
		j->depth++;
	j->first[j->depth] = true;
}

static void json_close(struct json *j, char c)
{
	if (j->depth > 0)
		j->depth--;
	fputc(c, j->f);
}

void json_object_open(struct json *j)
{
	json_open(j, '{');
}

void json_object_close(struct json *j)
{
	json_close(j, '}');
}

void json_array_open(struct json *j)
{
	json_open(j, '[');
}

void json_array_close(struct json *j)
{
	json_close(j, ']');
}

void json_key(struct json *j, const char *key)
{
	json_sep(j);
	json_write_escaped(j->f, key, strlen(key));
	fputc(':', j->f);
	j->after_key = true;
}

void json_string_n(struct json *j, const char *s, size_t len)
{
	json_sep(j);
	json_write_escaped(j->f, s, len);
}

void json_string(struct json *j, const char *s)
{
	if (!s) {
		json_null(j);
		return;
	}
	json_string_n(j, s, strlen(s));
}

void json_uint(struct json *j, uint64_t v)
{
	json_sep(j);
	fprintf(j->f, "%" PRIu64, v);
}

void json_int(struct json *j, int64_t v)
{
	json_sep(j);
	fprintf(j->f, "%" PRId64, v);
}

void json_bool(struct json *j, bool v)
{
	json_sep(j);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j)
{
	json_sep(j);
	fputs("null", j->f);
}

void json_kv_string(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_string(j, s);
}

void json_kv_uint(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_uint(j, v);
}

void json_kv_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	json_bool(j, v);
}

/* ---- tables -------------------------------------------------------------- */

struct table {
	size_t n_columns;
	char **cells;  /* row-major, the headers first */
	size_t n_rows; /* with the header row */
};

struct table *table_new(size_t n_columns, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->n_columns = n_columns;
	if (table_add_row(t, headers) < 0)
		return table_free(t);
	return t;
}

int table_add_row(struct table *t, const char *const *cells)
{
	char **v = realloc(t->cells, (t->n_rows + 1) * t->n_columns * sizeof(*v));

	if (!v)
		return -ENOMEM;
	t->cells = v;
	for (size_t i = 0; i < t->n_columns; i++) {
		char **cell = &t->cells[t->n_rows * t->n_columns + i];
		*cell = strdup(cells[i] ? cells[i] : "-");
		if (!*cell) {
			for (size_t k = 0; k < i; k++)
				free(t->cells[t->n_rows * t->n_columns + k]);
			return -ENOMEM;
		}
	}
	t->n_rows++;
	return 0;
}

/* The width of a UTF-8 string in characters (each counted as one column). */
static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

void table_print(const struct table *t, FILE *f)
{
	size_t w[16] = {0};

	if (t->n_rows <= 1) {
		fputs("(none)\n", f);
		return;
	}
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_columns && c < ELEMENTSOF(w); c++) {
			size_t cw = width(t->cells[r * t->n_columns + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_columns; c++) {
			const char *cell = t->cells[r * t->n_columns + c];
			bool last = c + 1 == t->n_columns;
			fputs(cell, f);
			if (!last && c < ELEMENTSOF(w))
				fprintf(f, "%*s", (int)(w[c] - width(cell) + 2), "");
		}
		fputc('\n', f);
	}
}

struct table *table_free(struct table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

/* ---- progress ------------------------------------------------------------ */

void progress_init(struct progress *p, const char *label, uint64_t total)
{
	*p = (struct progress){.label = label, .last_permille = -1};
	p->enabled = isatty(STDERR_FILENO) && (total == 0 || total > CLI_PROGRESS_MIN);
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

void progress_update(uint64_t done, uint64_t total, void *userdata)
{
	struct progress *p = userdata;
	enum { BAR = 30 };

	if (!p->enabled)
		return;
	if (total == 0) {
		/* Unknown length: once there is more than the threshold, every MiB. */
		if (done <= CLI_PROGRESS_MIN || done - p->last_done < (UINT64_C(1) << 20))
			return;
		p->last_done = done;
		fprintf(stderr, "\r%s  %.1f MiB", p->label, mib(done));
		p->drawn = true;
		return;
	}
	int permille = (int)(done >= total ? 1000 : done * 1000 / total);
	if (permille == p->last_permille)
		return;
	p->last_permille = permille;

	char bar[BAR + 1];
	int filled = permille * BAR / 1000;
	for (int i = 0; i < BAR; i++)
		bar[i] = i < filled ? '#' : '-';
	bar[BAR] = '\0';
	fprintf(stderr, "\r%s  [%s] %3d%%  %.1f/%.1f MiB", p->label, bar, permille / 10, mib(done),
		mib(total));
	p->drawn = true;
}

void progress_finish(struct progress *p)
{
	if (p->drawn)
		fputc('\n', stderr);
	p->drawn = false;
}

/* ---- formatting ---------------------------------------------------------- */

void format_time(char *buf, size_t size, uint64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (us == 0 || !localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "-");
}

char *format_u32_list(const uint32_t *v, uint32_t n)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%" PRIu32, i ? "," : "", v[i]);
	if (n == 0)
		fputc('-', f);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

char *format_strv(char *const *v, uint32_t n, const char *sep)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	if (!v || n == 0)
		return NULL;
	f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? sep : "", v[i]);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

void format_hex(char *buf, const uint8_t *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		buf[2 * i] = digits[bytes[i] >> 4];
		buf[2 * i + 1] = digits[bytes[i] & 15];
	}
	buf[2 * len] = '\0';
}
