#include "json.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

static void put(struct sx_json *j, const void *p, size_t n)
{
	if (j->err == 0)
		j->err = sx_buf_append(j->out, p, n);
}

static void puts_(struct sx_json *j, const char *s)
{
	put(j, s, strlen(s));
}

/* Writes the separator a new value needs at the current depth. */
static void value_sep(struct sx_json *j)
{
	if (j->depth == 0)
		return;
	if (!j->first[j->depth - 1])
		put(j, ",", 1);
	j->first[j->depth - 1] = 0;
}

void sx_json_init(struct sx_json *j, struct sx_buf *out)
{
	memset(j, 0, sizeof *j);
	j->out = out;
}

static void open_(struct sx_json *j, char c)
{
	value_sep(j);
	if (j->depth == SX_JSON_DEPTH) {
		j->err = j->err ? j->err : SX_EINVAL;
		return;
	}
	put(j, &c, 1);
	j->first[j->depth++] = 1;
}

static void close_(struct sx_json *j, char c)
{
	if (j->depth == 0) {
		j->err = j->err ? j->err : SX_EINVAL;
		return;
	}
	j->depth--;
	put(j, &c, 1);
}

void sx_json_obj_begin(struct sx_json *j) { open_(j, '{'); }
void sx_json_obj_end(struct sx_json *j) { close_(j, '}'); }
void sx_json_arr_begin(struct sx_json *j) { open_(j, '['); }
void sx_json_arr_end(struct sx_json *j) { close_(j, ']'); }

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
		   : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (len == 0 || len > n || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (len == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)))
		return 0; /* overlong, surrogate */
	if (len == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)))
		return 0;
	return len;
}

static void string_(struct sx_json *j, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	put(j, "\"", 1);
	size_t i = 0;
	while (i < n && j->err == 0) {
		unsigned c = p[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(j, e, 2);
			i++;
		} else if (c < 0x20) {
			char e[8];
			snprintf(e, sizeof e, "\\u%04x", c);
			puts_(j, c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : e);
			i++;
		} else {
			size_t len = utf8_seq(p + i, n - i);
			if (len == 0) {
				puts_(j, "\xEF\xBF\xBD"); /* U+FFFD */
				i++;
			} else {
				put(j, p + i, len);
				i += len;
			}
		}
	}
	put(j, "\"", 1);
}

void sx_json_key(struct sx_json *j, const char *name)
{
	value_sep(j);
	string_(j, name, strlen(name));
	put(j, ":", 1);
	/* The value that follows must not write another separator. */
	if (j->depth > 0)
		j->first[j->depth - 1] = 1;
}

void sx_json_strn(struct sx_json *j, const char *s, size_t n)
{
	value_sep(j);
	string_(j, s, n);
}

void sx_json_str(struct sx_json *j, const char *s)
{
	sx_json_strn(j, s, strlen(s));
}

void sx_json_int(struct sx_json *j, int64_t v)
{
	char b[24];
	value_sep(j);
	snprintf(b, sizeof b, "%lld", (long long)v);
	puts_(j, b);
}

void sx_json_bool(struct sx_json *j, int v)
{
	value_sep(j);
	puts_(j, v ? "true" : "false");
}

void sx_json_null(struct sx_json *j)
{
	value_sep(j);
	puts_(j, "null");
}

int sx_json_finish(struct sx_json *j)
{
	if (j->err == 0 && j->depth != 0)
		j->err = SX_EINVAL;
	return j->err;
}
