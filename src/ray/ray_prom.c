/*
 * ray_prom.c
 *		The Prometheus text exposition format reader.
 *
 * A byte-at-a-time state machine written after Prometheus' own reader
 * (prometheus/common expfmt/text_parse.go, the one `promtool check metrics`
 * runs), state for state, because "valid" means what Prometheus accepts:
 * Ray's metrics agent writes bodies with Prometheus' Python client, and
 * anything Prometheus would refuse to scrape we refuse too, with the line
 * it failed on. Some consequences that look odd but are Prometheus':
 * a body must end with a newline; "m 1 " (a blank after the value) is an
 * error (an empty timestamp); "m-1" is m = -1; "# TYPE m counter " is an
 * unknown type; a family may be split across the body; samples of a
 * summary without a quantile label are kept by us as written (Prometheus
 * drops them silently, which is no error either).
 *
 * Families are found by name in a small open-addressing hash table, as
 * x_sum, x_count and x_bucket belong to the summary or histogram x.
 */
#include "ray_prom.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ray_arena.h"
#include "ray_buf.h"

typedef struct PromParser
{
	const char *body;
	size_t		len;
	size_t		pos;			/* next byte to read */
	unsigned char cur;			/* the byte read last */
	bool		eof;			/* a read ran past the end */
	bool		failed;			/* err holds a parse error */
	bool		oom;
	int			line;
	char	   *err;
	size_t		errlen;

	RayBuf		tok;			/* the token being read */
	RayArena	arena;			/* names, values, help texts */
	RayBuf		fams;			/* RayPromFamily[] */
	RayBuf		samples;		/* RayPromSample[] */
	RayBuf		labels;			/* RayPromLabel[] */
	uint32_t   *hash;			/* family index + 1; 0 = empty */
	size_t		hash_cap;		/* power of two */
	ProtobufCAllocator *alloc;

	/* the sample being read */
	size_t		fam;
	RayPromSample sample;
	bool		is_hist_or_summary;
} PromParser;

/* What ray_prom_result_free releases. */
typedef struct PromPriv
{
	RayArena	arena;
	RayBuf		fams;
	RayBuf		samples;
	RayBuf		labels;
	ProtobufCAllocator *alloc;
} PromPriv;

static const char *const type_names[] = {
	"counter", "gauge", "summary", "untyped", "histogram", "gaugehistogram"
};

const char *
ray_prom_type_name(RayPromType t)
{
	if ((int) t < 0 || (size_t) t >= sizeof(type_names) / sizeof(type_names[0]))
		return "untyped";
	return type_names[t];
}

static void *
p_alloc(ProtobufCAllocator *a, size_t n)
{
	return a ? a->alloc(a->allocator_data, n) : malloc(n);
}

static void
p_free(ProtobufCAllocator *a, void *p)
{
	if (p == NULL)
		return;
	if (a)
		a->free(a->allocator_data, p);
	else
		free(p);
}

/* ----------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------- */

/* Append s as Go's %q would show it, shortened: errors quote input. */
static void
quote_into(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t		o = 0;
	size_t		i;

	if (dstlen < 4)
	{
		if (dstlen)
			dst[0] = '\0';
		return;
	}
	dst[o++] = '"';
	for (i = 0; i < n && o + 8 < dstlen; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			dst[o++] = '\\';
			dst[o++] = (char) c;
		}
		else if (c == '\n')
		{
			dst[o++] = '\\';
			dst[o++] = 'n';
		}
		else if (c < 0x20 || c == 0x7f)
			o += (size_t) snprintf(dst + o, dstlen - o, "\\x%02x", c);
		else
			dst[o++] = (char) c;
	}
	if (i < n && o + 4 < dstlen)
	{
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o++] = '"';
	dst[o] = '\0';
}

static void
perr(PromParser *p, const char *fmt, const char *arg, size_t arglen)
{
	char		q[96];
	char		msg[160];

	if (p->failed || p->oom)
		return;
	p->failed = true;
	if (arg)
	{
		quote_into(q, sizeof(q), arg, arglen);
		snprintf(msg, sizeof(msg), fmt, q);
	}
	else
		snprintf(msg, sizeof(msg), "%s", fmt);
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "line %d: %s", p->line, msg);
}

/* A read past the end anywhere but at the start of a line. */
static bool
stop(PromParser *p)
{
	if (p->failed || p->oom)
		return true;
	if (p->eof)
	{
		perr(p, "unexpected end of input", NULL, 0);
		return true;
	}
	return false;
}

/* ----------------------------------------------------------------------
 * Bytes and tokens (text_parse.go's helpers)
 * ---------------------------------------------------------------------- */

static bool
read_byte(PromParser *p)
{
	if (p->pos >= p->len)
	{
		p->eof = true;
		return false;
	}
	p->cur = (unsigned char) p->body[p->pos++];
	return true;
}

static inline bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline bool
name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static inline bool
name_cont(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

static inline bool
label_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline bool
label_cont(unsigned char c)
{
	return label_start(c) || (c >= '0' && c <= '9');
}

/* Read bytes while they are blanks; cur is the first that is not. */
static void
skip_blank(PromParser *p)
{
	while (read_byte(p) && is_blank(p->cur))
		;
}

static void
skip_blank_if_blank(PromParser *p)
{
	if (is_blank(p->cur))
		skip_blank(p);
}

static void
tok_putc(PromParser *p, unsigned char c)
{
	ray_buf_putc(&p->tok, (char) c);
	if (p->tok.oom)
		p->oom = true;
}

/* From cur up to a blank or newline. */
static void
read_until_white(PromParser *p)
{
	ray_buf_reset(&p->tok);
	while (!is_blank(p->cur) && p->cur != '\n')
	{
		tok_putc(p, p->cur);
		if (!read_byte(p))
			return;
	}
}

/*
 * The character after a backslash into p->tok: \\ and \n, and \" where
 * quote (label values). Anything else is an invalid escape: false, with
 * the parser's error set.
 */
static bool
put_escaped(PromParser *p, bool quote)
{
	char		m[40];

	if (p->cur == '\\' || (quote && p->cur == '"'))
		tok_putc(p, p->cur);
	else if (p->cur == 'n')
		tok_putc(p, '\n');
	else
	{
		snprintf(m, sizeof(m), "invalid escape sequence '\\%c'", p->cur);
		perr(p, m, NULL, 0);
		return false;
	}
	return true;
}

/*
 * From cur up to the newline. With escapes, \\ and \n are the only
 * escapes (HELP text); without, a backslash is dropped, as Prometheus does.
 */
static void
read_until_newline(PromParser *p, bool escapes)
{
	bool		escaped = false;

	ray_buf_reset(&p->tok);
	for (;;)
	{
		if (escapes && escaped)
		{
			if (!put_escaped(p, false))
				return;
			escaped = false;
		}
		else if (p->cur == '\n')
			return;
		else if (p->cur == '\\')
			escaped = true;
		else
			tok_putc(p, p->cur);
		if (!read_byte(p))
			return;
	}
}

/* A name into p->tok: a start character, then continuing ones. */
static void
read_name(PromParser *p, bool (*start) (unsigned char), bool (*cont) (unsigned char))
{
	ray_buf_reset(&p->tok);
	if (!start(p->cur))
		return;
	for (;;)
	{
		tok_putc(p, p->cur);
		if (!read_byte(p) || !cont(p->cur))
			return;
	}
}

static void
read_metric_name(PromParser *p)
{
	read_name(p, name_start, name_cont);
}

static void
read_label_name(PromParser *p)
{
	read_name(p, label_start, label_cont);
}

/* The quoted value after '"': escapes \" \\ \n; a raw newline is an error. */
static void
read_label_value(PromParser *p)
{
	bool		escaped = false;

	ray_buf_reset(&p->tok);
	for (;;)
	{
		if (!read_byte(p))
			return;
		if (escaped)
		{
			if (!put_escaped(p, true))
				return;
			escaped = false;
			continue;
		}
		if (p->cur == '"')
			return;
		if (p->cur == '\n')
		{
			perr(p, "label value %s contains an unescaped newline", p->tok.data, p->tok.len);
			return;
		}
		if (p->cur == '\\')
			escaped = true;
		else
			tok_putc(p, p->cur);
	}
}

/* Go's utf8.ValidString: no overlongs, surrogates or values past U+10FFFF. */
static bool
utf8_valid_go(const unsigned char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = s[i];
		size_t		k;
		unsigned char lo = 0x80,
					hi = 0xBF;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			k = 1;
		else if (c >= 0xE0 && c <= 0xEF)
		{
			k = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			k = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		}
		else
			return false;
		if (i + k >= n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xBF)
				return false;
		i += k + 1;
	}
	return true;
}

/* ----------------------------------------------------------------------
 * Numbers
 * ---------------------------------------------------------------------- */

static bool
prefix_ci(const char *s, size_t n, const char *word)
{
	size_t		w = strlen(word);

	if (n != w)
		return false;
	for (size_t i = 0; i < w; i++)
	{
		char		c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		if (c != word[i])
			return false;
	}
	return true;
}

bool
ray_prom_parse_float(const char *s, size_t n, double *out)
{
	size_t		i = 0;
	bool		neg = false;
	bool		digits = false;
	char		stackbuf[64];
	char	   *copy;
	double		v;
	char	   *end;

	if (n == 0)
		return false;
	if (s[0] == '+' || s[0] == '-')
	{
		neg = s[0] == '-';
		i = 1;
		/* Go takes a sign before Inf but not before NaN. */
		if (prefix_ci(s + 1, n - 1, "inf") || prefix_ci(s + 1, n - 1, "infinity"))
		{
			*out = neg ? -INFINITY : INFINITY;
			return true;
		}
	}
	else if (prefix_ci(s, n, "inf") || prefix_ci(s, n, "infinity"))
	{
		*out = INFINITY;
		return true;
	}
	else if (prefix_ci(s, n, "nan"))
	{
		*out = NAN;
		return true;
	}
	/* digits [. digits] | . digits, then [eE][+-]digits */
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits = true;
	if (i < n && s[i] == '.')
	{
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, digits = true;
	}
	if (!digits)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E'))
	{
		bool		expdigits = false;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, expdigits = true;
		if (!expdigits)
			return false;
	}
	if (i != n)
		return false;

	/* The syntax is strtod's subset; let it do the correctly rounded work. */
	copy = n < sizeof(stackbuf) ? stackbuf : malloc(n + 1);
	if (copy == NULL)
		return false;
	memcpy(copy, s, n);
	copy[n] = '\0';
	errno = 0;
	v = strtod(copy, &end);
	if (copy != stackbuf)
		free(copy);
	if (isinf(v))
		return false;			/* overflow: Go's ErrRange */
	*out = v;
	return true;
}

/* Go's strconv.ParseInt(s, 10, 64). */
static bool
parse_int64(const char *s, size_t n, int64_t *out)
{
	size_t		i = 0;
	bool		neg = false;
	uint64_t	acc = 0;
	uint64_t	limit;

	if (n == 0)
		return false;
	if (s[0] == '+' || s[0] == '-')
	{
		neg = s[0] == '-';
		i = 1;
		if (n == 1)
			return false;
	}
	limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
	for (; i < n; i++)
	{
		unsigned	d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned) (s[i] - '0');
		if (acc > (limit - d) / 10)
			return false;
		acc = acc * 10 + d;
	}
	*out = neg ? (int64_t) (0 - acc) : (int64_t) acc;
	return true;
}

/* ----------------------------------------------------------------------
 * Families
 * ---------------------------------------------------------------------- */

static RayPromFamily *
fam_at(PromParser *p, size_t i)
{
	return &((RayPromFamily *) p->fams.data)[i];
}

static size_t
nfams(PromParser *p)
{
	return p->fams.len / sizeof(RayPromFamily);
}

static uint32_t
hash_name(const char *s, size_t n)
{
	uint32_t	h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char) s[i]) * 16777619u;
	return h;
}

/* The family named exactly s, or SIZE_MAX. */
static size_t
fam_find(PromParser *p, const char *s, size_t n)
{
	size_t		mask;
	size_t		i;

	if (p->hash_cap == 0)
		return SIZE_MAX;
	mask = p->hash_cap - 1;
	for (i = hash_name(s, n) & mask; p->hash[i] != 0; i = (i + 1) & mask)
	{
		RayPromFamily *f = fam_at(p, p->hash[i] - 1);

		if (strlen(f->name) == n && memcmp(f->name, s, n) == 0)
			return p->hash[i] - 1;
	}
	return SIZE_MAX;
}

static bool
hash_insert(PromParser *p, size_t idx)
{
	RayPromFamily *f;
	size_t		mask;
	size_t		i;

	if ((nfams(p) + 1) * 2 > p->hash_cap)
	{
		size_t		ncap = p->hash_cap ? p->hash_cap * 2 : 64;
		uint32_t   *nh = p_alloc(p->alloc, ncap * sizeof(uint32_t));

		if (nh == NULL)
			return false;
		memset(nh, 0, ncap * sizeof(uint32_t));
		for (size_t k = 0; k < p->hash_cap; k++)
		{
			if (p->hash[k] == 0)
				continue;
			f = fam_at(p, p->hash[k] - 1);
			for (i = hash_name(f->name, strlen(f->name)) & (ncap - 1); nh[i]; i = (i + 1) & (ncap - 1))
				;
			nh[i] = p->hash[k];
		}
		p_free(p->alloc, p->hash);
		p->hash = nh;
		p->hash_cap = ncap;
	}
	mask = p->hash_cap - 1;
	f = fam_at(p, idx);
	for (i = hash_name(f->name, strlen(f->name)) & mask; p->hash[i] != 0; i = (i + 1) & mask)
		;
	p->hash[i] = (uint32_t) (idx + 1);
	return true;
}

static bool
has_suffix(const char *s, size_t n, const char *suf, size_t minlen)
{
	size_t		k = strlen(suf);

	return n > minlen && memcmp(s + n - k, suf, k) == 0;
}

/*
 * text_parse.go's setOrCreateCurrentMF: the family of the name in tok,
 * an exact match first, then the summary or histogram x of x_sum,
 * x_count (and x_bucket for histograms), else a new untyped family.
 */
static size_t
fam_for_token(PromParser *p)
{
	const char *s = p->tok.data;
	size_t		n = p->tok.len;
	size_t		f;
	size_t		base;
	RayPromFamily nf;

	f = fam_find(p, s, n);
	if (f != SIZE_MAX)
		return f;
	base = n;
	if (has_suffix(s, n, "_count", 6))
		base = n - 6;
	else if (has_suffix(s, n, "_sum", 4))
		base = n - 4;
	if (base != n)
	{
		f = fam_find(p, s, base);
		if (f != SIZE_MAX && fam_at(p, f)->type == RAY_PROM_SUMMARY)
			return f;
	}
	if (has_suffix(s, n, "_bucket", 7))
		base = n - 7;
	if (base != n)
	{
		f = fam_find(p, s, base);
		if (f != SIZE_MAX && fam_at(p, f)->type == RAY_PROM_HISTOGRAM)
			return f;
	}

	memset(&nf, 0, sizeof(nf));
	nf.name = ray_arena_strndup(&p->arena, s, n);
	nf.type = RAY_PROM_UNTYPED;
	if (nf.name == NULL)
	{
		p->oom = true;
		return SIZE_MAX;
	}
	ray_buf_append(&p->fams, (const char *) &nf, sizeof(nf));
	if (p->fams.oom || !hash_insert(p, nfams(p) - 1))
	{
		p->oom = true;
		return SIZE_MAX;
	}
	return nfams(p) - 1;
}

/* ----------------------------------------------------------------------
 * Lines
 * ---------------------------------------------------------------------- */

static bool
parse_type_word(const char *s, size_t n, RayPromType *t)
{
	static const struct
	{
		const char *word;
		RayPromType type;
	}			words[] = {
		{"counter", RAY_PROM_COUNTER}, {"gauge", RAY_PROM_GAUGE},
		{"summary", RAY_PROM_SUMMARY}, {"untyped", RAY_PROM_UNTYPED},
		{"histogram", RAY_PROM_HISTOGRAM}, {"gauge_histogram", RAY_PROM_GAUGE_HISTOGRAM},
	};

	/* Prometheus upper-cases the word and looks it up in dto's enum. */
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (prefix_ci(s, n, words[i].word))
		{
			*t = words[i].type;
			return true;
		}
	return false;
}

/* '#' read: a HELP or TYPE line, or a comment. */
static void
comment_line(PromParser *p)
{
	bool		help;
	size_t		f;
	RayPromFamily *fam;

	skip_blank(p);
	if (stop(p) || p->cur == '\n')
		return;
	read_until_white(p);
	if (stop(p) || p->cur == '\n')
		return;
	if (!(p->tok.len == 4 && (memcmp(p->tok.data, "HELP", 4) == 0 ||
							  memcmp(p->tok.data, "TYPE", 4) == 0)))
	{
		/* an ordinary comment */
		while (p->cur != '\n')
			if (!read_byte(p))
			{
				stop(p);
				return;
			}
		return;
	}
	help = p->tok.data[0] == 'H';
	skip_blank(p);
	if (stop(p))
		return;
	read_metric_name(p);
	if (stop(p) || p->cur == '\n')
		return;
	if (!is_blank(p->cur))
	{
		perr(p, "invalid metric name in comment", NULL, 0);
		return;
	}
	f = fam_for_token(p);
	if (f == SIZE_MAX)
		return;
	skip_blank(p);
	if (stop(p) || p->cur == '\n')
		return;
	fam = fam_at(p, f);
	if (help)
	{
		if (fam->help)
		{
			perr(p, "second HELP line for metric name %s", fam->name, strlen(fam->name));
			return;
		}
		read_until_newline(p, true);
		if (stop(p))
			return;
		fam = fam_at(p, f);
		fam->help = ray_arena_strndup(&p->arena, p->tok.data ? p->tok.data : "", p->tok.len);
		fam->help_len = p->tok.len;
		if (fam->help == NULL)
			p->oom = true;
	}
	else
	{
		RayPromType t;

		if (fam->typed)
		{
			perr(p, "second TYPE line for metric name %s, or TYPE after its samples",
				 fam->name, strlen(fam->name));
			return;
		}
		read_until_newline(p, false);
		if (stop(p))
			return;
		if (!parse_type_word(p->tok.data, p->tok.len, &t))
		{
			perr(p, "unknown metric type %s", p->tok.data, p->tok.len);
			return;
		}
		fam = fam_at(p, f);
		fam->type = t;
		fam->typed = true;
	}
}

static bool
add_label(PromParser *p, const char *name)
{
	RayPromLabel l;

	l.name = name;
	l.value = ray_arena_strndup(&p->arena, p->tok.data ? p->tok.data : "", p->tok.len);
	l.value_len = p->tok.len;
	if (l.value == NULL)
	{
		p->oom = true;
		return false;
	}
	ray_buf_append(&p->labels, (const char *) &l, sizeof(l));
	if (p->labels.oom)
	{
		p->oom = true;
		return false;
	}
	p->sample.nlabels++;
	return true;
}

/*
 * Labels, from just after '{' to just after '}'. As in Prometheus, le of a
 * histogram and quantile of a summary must be floats and are exempt from
 * the duplicate check; other names may not repeat and __name__ is reserved.
 */
static bool
special_label(RayPromType ftype, const char *name)
{
	return (ftype == RAY_PROM_SUMMARY && strcmp(name, "quantile") == 0) ||
		(ftype == RAY_PROM_HISTOGRAM && strcmp(name, "le") == 0);
}

static void
labels(PromParser *p)
{
	const char *fname = fam_at(p, p->fam)->name;
	RayPromType ftype = fam_at(p, p->fam)->type;

	for (;;)
	{
		char	   *lname;
		bool		special;
		RayPromLabel *ls;

		skip_blank(p);
		if (stop(p))
			return;
		if (p->cur == '}')
		{
			skip_blank(p);
			stop(p);
			return;
		}
		read_label_name(p);
		if (stop(p))
			return;
		if (p->tok.len == 0)
		{
			perr(p, "invalid label name for metric %s", fname, strlen(fname));
			return;
		}
		if (p->tok.len == 8 && memcmp(p->tok.data, "__name__", 8) == 0)
		{
			perr(p, "label name \"__name__\" is reserved", NULL, 0);
			return;
		}
		lname = ray_arena_strndup(&p->arena, p->tok.data, p->tok.len);
		if (lname == NULL)
		{
			p->oom = true;
			return;
		}
		special = special_label(ftype, lname);
		skip_blank_if_blank(p);
		if (stop(p))
			return;
		if (p->cur != '=')
		{
			perr(p, "expected '=' after label name, found %s", (const char *) &p->cur, 1);
			return;
		}
		ls = p->sample.nlabels ? (RayPromLabel *) p->labels.data + p->sample.label0 : NULL;
		for (size_t i = 0; !special && i < p->sample.nlabels; i++)
			if (!special_label(ftype, ls[i].name) && strcmp(ls[i].name, lname) == 0)
			{
				perr(p, "duplicate label names for metric %s", fname, strlen(fname));
				return;
			}
		skip_blank(p);
		if (stop(p))
			return;
		if (p->cur != '"')
		{
			perr(p, "expected '\"' at start of label value, found %s", (const char *) &p->cur, 1);
			return;
		}
		read_label_value(p);
		if (stop(p))
			return;
		if (!utf8_valid_go((const unsigned char *) p->tok.data, p->tok.len))
		{
			perr(p, "invalid label value %s (not UTF-8)", p->tok.data, p->tok.len);
			return;
		}
		if (special)
		{
			double		d;

			if (!ray_prom_parse_float(p->tok.data ? p->tok.data : "", p->tok.len, &d))
			{
				perr(p, ftype == RAY_PROM_SUMMARY ?
					 "expected float as value for 'quantile' label, got %s" :
					 "expected float as value for 'le' label, got %s",
					 p->tok.data, p->tok.len);
				return;
			}
		}
		if (!add_label(p, lname))
			return;
		skip_blank(p);
		if (stop(p))
			return;
		if (p->cur == ',')
			continue;
		if (p->cur == '}')
		{
			skip_blank(p);
			stop(p);
			return;
		}
		ls = (RayPromLabel *) p->labels.data + p->sample.label0 + p->sample.nlabels - 1;
		perr(p, "unexpected end of label value %s", ls->value, ls->value_len);
		return;
	}
}

/* A sample line; cur is its first byte. */
static void
sample_line(PromParser *p)
{
	RayPromFamily *fam;

	read_metric_name(p);
	if (stop(p))
		return;
	if (p->tok.len == 0)
	{
		perr(p, "invalid metric name", NULL, 0);
		return;
	}
	memset(&p->sample, 0, sizeof(p->sample));
	p->sample.name = ray_arena_strndup(&p->arena, p->tok.data, p->tok.len);
	if (p->sample.name == NULL)
	{
		p->oom = true;
		return;
	}
	p->fam = fam_for_token(p);
	if (p->fam == SIZE_MAX)
		return;
	fam = fam_at(p, p->fam);
	if (!fam->typed)
	{
		/* a sample fixes the type: a later # TYPE is an error */
		fam->type = RAY_PROM_UNTYPED;
		fam->typed = true;
	}
	p->sample.family = p->fam;
	p->sample.line = p->line;
	p->sample.label0 = p->labels.len / sizeof(RayPromLabel);
	skip_blank_if_blank(p);
	if (stop(p))
		return;
	if (p->cur == '{')
	{
		labels(p);
		if (stop(p))
			return;
	}
	read_until_white(p);
	if (stop(p))
		return;
	if (!ray_prom_parse_float(p->tok.data ? p->tok.data : "", p->tok.len, &p->sample.value))
	{
		perr(p, "expected float as value, got %s", p->tok.data, p->tok.len);
		return;
	}
	if (p->cur != '\n')
	{
		skip_blank(p);
		if (stop(p))
			return;
		read_until_white(p);
		if (stop(p))
			return;
		if (!parse_int64(p->tok.data ? p->tok.data : "", p->tok.len, &p->sample.timestamp_ms))
		{
			perr(p, "expected integer as timestamp, got %s", p->tok.data, p->tok.len);
			return;
		}
		p->sample.has_timestamp = true;
		read_until_newline(p, false);
		if (stop(p))
			return;
		if (p->tok.len > 0)
		{
			perr(p, "spurious text after timestamp: %s", p->tok.data, p->tok.len);
			return;
		}
	}
	ray_buf_append(&p->samples, (const char *) &p->sample, sizeof(p->sample));
	if (p->samples.oom)
		p->oom = true;
	else
		fam_at(p, p->fam)->nsamples++;
}

/* ----------------------------------------------------------------------
 * Entry points
 * ---------------------------------------------------------------------- */

static void
parser_release(PromParser *p)
{
	ray_buf_free(&p->tok);
	ray_buf_free(&p->fams);
	ray_buf_free(&p->samples);
	ray_buf_free(&p->labels);
	ray_arena_free(&p->arena);
	p_free(p->alloc, p->hash);
}

RayStatus
ray_prom_parse(const char *body, size_t len, ProtobufCAllocator *alloc,
			   RayPromResult **out, char *err, size_t errlen)
{
	PromParser	p;
	RayPromResult *r;
	PromPriv   *priv;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	memset(&p, 0, sizeof(p));
	p.body = body;
	p.len = body ? len : 0;
	p.err = err;
	p.errlen = errlen;
	p.alloc = alloc;
	ray_buf_init(&p.tok, alloc);
	ray_buf_init(&p.fams, alloc);
	ray_buf_init(&p.samples, alloc);
	ray_buf_init(&p.labels, alloc);
	ray_arena_init(&p.arena, alloc);

	/* text_parse.go's startOfLine loop; the end is legal only here */
	for (;;)
	{
		p.line++;
		skip_blank(&p);
		if (p.eof)
			break;				/* trailing blanks without a newline are fine */
		if (p.cur == '#')
			comment_line(&p);
		else if (p.cur != '\n')
			sample_line(&p);
		if (p.failed || p.oom)
			break;
	}

	if (p.oom || p.failed)
	{
		parser_release(&p);
		if (p.oom && err && errlen)
			snprintf(err, errlen, "out of memory parsing metrics");
		return p.oom ? RAY_ERR_OOM : RAY_ERR_MALFORMED;
	}

	r = p_alloc(alloc, sizeof(RayPromResult));
	priv = p_alloc(alloc, sizeof(PromPriv));
	if (r == NULL || priv == NULL)
	{
		p_free(alloc, r);
		p_free(alloc, priv);
		parser_release(&p);
		if (err && errlen)
			snprintf(err, errlen, "out of memory parsing metrics");
		return RAY_ERR_OOM;
	}
	ray_buf_free(&p.tok);
	p_free(alloc, p.hash);
	priv->arena = p.arena;
	priv->fams = p.fams;
	priv->samples = p.samples;
	priv->labels = p.labels;
	priv->alloc = alloc;
	r->priv = priv;
	r->nfamilies = p.fams.len / sizeof(RayPromFamily);
	r->families = (RayPromFamily *) p.fams.data;
	r->nsamples = p.samples.len / sizeof(RayPromSample);
	r->samples = (RayPromSample *) p.samples.data;
	r->nlabels = p.labels.len / sizeof(RayPromLabel);
	r->labels = (RayPromLabel *) p.labels.data;
	r->nlines = p.line - 1;
	*out = r;
	return RAY_OK;
}

void
ray_prom_result_free(RayPromResult *r)
{
	PromPriv   *priv;
	ProtobufCAllocator *alloc;

	if (r == NULL)
		return;
	priv = r->priv;
	alloc = priv->alloc;
	ray_buf_free(&priv->fams);
	ray_buf_free(&priv->samples);
	ray_buf_free(&priv->labels);
	ray_arena_free(&priv->arena);
	p_free(alloc, priv);
	p_free(alloc, r);
}

/* ----------------------------------------------------------------------
 * Which metrics to keep
 * ---------------------------------------------------------------------- */

/* Glob match of p[0..plen) against s, iterative with one backtrack point. */
static bool
glob_match(const char *p, size_t plen, const char *s)
{
	size_t		pi = 0;
	const char *star_s = NULL;
	size_t		star_pi = 0;

	while (*s)
	{
		if (pi < plen && (p[pi] == '?' || p[pi] == *s))
		{
			pi++;
			s++;
		}
		else if (pi < plen && p[pi] == '*')
		{
			star_pi = ++pi;
			star_s = s;
		}
		else if (star_s != NULL)
		{
			pi = star_pi;
			s = ++star_s;
		}
		else
			return false;
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

static inline bool
is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n';
}

bool
ray_prom_keep(const char *patterns, const char *name)
{
	const char *p = patterns;

	if (p == NULL)
		return false;
	while (*p)
	{
		const char *start;
		bool		neg = false;

		while (*p && is_sep(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p == '!')
		{
			neg = true;
			p++;
		}
		start = p;
		while (*p && !is_sep(*p))
			p++;
		if (p > start && glob_match(start, (size_t) (p - start), name))
			return !neg;
	}
	return false;
}

bool
ray_prom_keep_valid(const char *patterns, char *err, size_t errlen)
{
	const char *p = patterns;

	if (p == NULL)
		return true;
	while (*p)
	{
		const char *start;

		while (*p && is_sep(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p == '!')
			p++;
		start = p;
		while (*p && !is_sep(*p))
		{
			/* metric name characters and the two wildcards only */
			if (!name_cont((unsigned char) *p) && *p != '*' && *p != '?')
			{
				snprintf(err, errlen, "\"%c\" cannot appear in a metric name pattern", *p);
				return false;
			}
			p++;
		}
		if (p == start)
		{
			snprintf(err, errlen, "\"!\" must be followed by a pattern");
			return false;
		}
	}
	return true;
}
