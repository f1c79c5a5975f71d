/*
 * test_prom.c
 *		The Prometheus text format reader (src/ray/ray_prom.c): what it
 *		returns for Ray's own bodies, its errors and their lines, scale,
 *		out of memory, and a differential test against Prometheus itself.
 *
 * The differential part runs Debian's `promtool check metrics` (package
 * prometheus, installed by scripts/setup.sh) on every file of
 * test/unit/prom_corpus and on deterministic mutations of them, and
 * requires both readers to agree on accept/reject. promtool exits 1 when
 * its reader fails, 3 for lint findings on a body it read (accepted), 0
 * for a clean body. RAYDAR_PROMTOOL names another promtool binary.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ray_prom.h"
#include "tap.h"

extern char **environ;

#define CORPUS "test/unit/prom_corpus"

static RayPromResult *
parse_str(const char *s, RayStatus *st, char *err, size_t errlen)
{
	RayPromResult *r = NULL;

	*st = ray_prom_parse(s, strlen(s), NULL, &r, err, errlen);
	return r;
}

/* The label's value of sample i, or NULL. */
static const char *
label_of(const RayPromResult *r, size_t i, const char *name)
{
	const RayPromSample *s = &r->samples[i];

	for (size_t k = 0; k < s->nlabels; k++)
		if (strcmp(r->labels[s->label0 + k].name, name) == 0)
			return r->labels[s->label0 + k].value;
	return NULL;
}

static void
test_ray_body(void)
{
	const char *body =
		"# HELP ray_node_cpu_utilization Total CPU usage on a ray node\n"
		"# TYPE ray_node_cpu_utilization gauge\n"
		"ray_node_cpu_utilization{SessionName=\"s1\",ip=\"10.0.0.1\"} 75.0\n"
		"# HELP ray_tasks Current number of tasks\n"
		"# TYPE ray_tasks gauge\n"
		"ray_tasks{IsRetry=\"0\",Name=\"f\",State=\"RUNNING\"} 3\n"
		"ray_tasks{IsRetry=\"0\",Name=\"g\",State=\"FINISHED\"} 12 1700000000123\n"
		"# TYPE lat histogram\n"
		"lat_bucket{le=\"0.5\"} 1\n"
		"lat_bucket{le=\"+Inf\"} 4\n"
		"lat_sum 3.25\n"
		"lat_count 4\n"
		"# TYPE q summary\n"
		"q{quantile=\"0.99\"} 76656\n"
		"q_count 2693\n"
		"# TYPE done_total counter\n"
		"done_total{msg=\"a \\\"b\\\"\\\\c\\nd\",u=\"日本 🚀\"} NaN\n";
	RayStatus	st;
	char		err[256];
	RayPromResult *r = parse_str(body, &st, err, sizeof(err));

	if (!is_int(st, RAY_OK, "a Ray body parses (%s)", err))
		return;
	is_int(r->nsamples, 10, "ten samples");
	is_int(r->nfamilies, 5, "five families: lat_bucket/_sum/_count and q_count join theirs");
	ok(strcmp(r->samples[0].name, "ray_node_cpu_utilization") == 0 &&
	   r->samples[0].value == 75.0, "first sample: name and value 75");
	ok(strcmp(label_of(r, 0, "ip"), "10.0.0.1") == 0 &&
	   strcmp(label_of(r, 0, "SessionName"), "s1") == 0, "its labels");
	ok(r->families[r->samples[0].family].type == RAY_PROM_GAUGE &&
	   strcmp(r->families[r->samples[0].family].help, "Total CPU usage on a ray node") == 0,
	   "its family: gauge with help");
	ok(!r->samples[1].has_timestamp && r->samples[2].has_timestamp &&
	   r->samples[2].timestamp_ms == 1700000000123LL, "timestamps where written");
	is_int(r->samples[2].line, 7, "sample line numbers");
	ok(strcmp(r->families[r->samples[4].family].name, "lat") == 0 &&
	   r->families[r->samples[4].family].type == RAY_PROM_HISTOGRAM &&
	   strcmp(r->samples[4].name, "lat_bucket") == 0 &&
	   isinf(r->samples[4].value) == 0 && strcmp(label_of(r, 4, "le"), "+Inf") == 0,
	   "histogram bucket: family lat, name as written, le kept as a label");
	ok(r->samples[6].family == r->samples[4].family && r->samples[6].value == 4,
	   "lat_count belongs to lat");
	ok(r->families[r->samples[8].family].type == RAY_PROM_SUMMARY &&
	   r->samples[8].family == r->samples[7].family, "q_count belongs to the summary q");
	ok(strcmp(label_of(r, 9, "msg"), "a \"b\"\\c\nd") == 0, "label escapes unescaped");
	ok(strcmp(label_of(r, 9, "u"), "日本 🚀") == 0, "unicode label value");
	ok(isnan(r->samples[9].value), "NaN value");
	is_int(r->families[r->samples[9].family].type, RAY_PROM_COUNTER, "counter type");
	ok(strcmp(ray_prom_type_name(RAY_PROM_HISTOGRAM), "histogram") == 0, "type names");
	ray_prom_result_free(r);
}

static void
test_floats(void)
{
	static const struct
	{
		const char *s;
		bool		ok;
		double		v;
	}			cases[] = {
		{"1", true, 1}, {"-2.5", true, -2.5}, {"+3e2", true, 300}, {".5", true, 0.5},
		{"5.", true, 5}, {"1E-2", true, 0.01}, {"Inf", true, INFINITY},
		{"-inf", true, -INFINITY}, {"+Infinity", true, INFINITY}, {"1e-400", true, 0},
		{"1.7976931348623157e308", true, 1.7976931348623157e308},
		{"", false, 0}, {"1e", false, 0}, {".", false, 0}, {"0x10", false, 0},
		{"1_0", false, 0}, {"+nan", false, 0}, {"infin", false, 0}, {"1e309", false, 0},
		{"1.5.2", false, 0}, {" 1", false, 0}, {"1 ", false, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		double		v = -12345;
		bool		got = ray_prom_parse_float(cases[i].s, strlen(cases[i].s), &v);

		ok(got == cases[i].ok && (!got || v == cases[i].v),
		   "float \"%s\": %s", cases[i].s, cases[i].ok ? "reads" : "refused");
	}
	{
		double		v;

		ok(ray_prom_parse_float("NaN", 3, &v) && isnan(v), "float NaN");
	}
}

static void
test_errors(void)
{
	static const struct
	{
		const char *body;
		const char *want;		/* the whole message */
	}			cases[] = {
		{"m 1", "line 1: unexpected end of input"},
		{"a 1\nm 1 \n", "line 2: expected integer as timestamp, got \"\""},
		{"a 1\n\n# TYPE m counter \n", "line 3: unknown metric type \"counter \""},
		{"m 1\n# TYPE m gauge\n",
		"line 2: second TYPE line for metric name \"m\", or TYPE after its samples"},
		{"m{a=\"1\",a=\"2\"} 1\n", "line 1: duplicate label names for metric \"m\""},
		{"m{a=\"\\t\"} 1\n", "line 1: invalid escape sequence '\\t'"},
		{"m 0x1\n", "line 1: expected float as value, got \"0x1\""},
		{"m 1 2 x\n", "line 1: spurious text after timestamp: \" x\""},
		{"m{__name__=\"x\"} 1\n", "line 1: label name \"__name__\" is reserved"},
		{"<html>\n", "line 1: invalid metric name"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		RayStatus	st;
		char		err[256];
		RayPromResult *r = parse_str(cases[i].body, &st, err, sizeof(err));

		ok(st == RAY_ERR_MALFORMED && r == NULL && strcmp(err, cases[i].want) == 0,
		   "error: %s", cases[i].want);
		if (strcmp(err, cases[i].want) != 0)
			tap_diag("  got: %s", err);
	}
}

static void
test_keep(void)
{
	static const struct
	{
		const char *name;
		bool		kept;
	}			def[] = {
		{"ray_node_cpu_utilization", true}, {"ray_node_gram_used", true},
		{"ray_component_rss_mb", true}, {"ray_tasks", true}, {"ray_actors", true},
		{"ray_resources", true}, {"ray_object_store_memory", true},
		{"ray_tasks_total", true},	/* a user's metric that only starts alike */
		{"ray_grpc_server_req_new", false}, {"ray_scheduler_tasks", false},
		{"ray_gcs_actors_count", false}, {"ray_object_store_dist_bucket", false},
		{"process_cpu_seconds_total", false}, {"python_gc_objects_collected_total", false},
		{"ray_my_app_requests", true}, {"ray_data_output_bytes", true}, {"custom", true},
	};
	char		err[128];

	for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
		ok(ray_prom_keep(RAY_PROM_DEFAULT_KEEP, def[i].name) == def[i].kept,
		   "default: %s is %s", def[i].name, def[i].kept ? "kept" : "not kept");
	ok(ray_prom_keep_valid(RAY_PROM_DEFAULT_KEEP, err, sizeof(err)), "the default is valid");
	ok(ray_prom_keep("a?c,!*", "abc") && !ray_prom_keep("a?c,!*", "abbc"), "? is one character");
	ok(ray_prom_keep("*x*y", "axbxy") && !ray_prom_keep("*x*y", "axbx"), "backtracking *");
	ok(!ray_prom_keep("", "m") && !ray_prom_keep(NULL, "m"), "no pattern keeps nothing");
	ok(!ray_prom_keep("!m*, *", "mm") && ray_prom_keep("!m*, *", "nm"), "first match decides");
	ok(!ray_prom_keep_valid("a, !", err, sizeof(err)) && strstr(err, "\"!\"") != NULL,
	   "a lone ! is refused (%s)", err);
	ok(!ray_prom_keep_valid("a{b}", err, sizeof(err)), "a brace is refused (%s)", err);
}

/* Ray-like body of n samples: 100,000 is the scale case. */
static void
test_scale(void)
{
	size_t		n = 100000;
	size_t		cap = n * 96 + 128;
	char	   *body = malloc(cap);
	size_t		len = 0;
	RayPromResult *r = NULL;
	char		err[256];
	RayStatus	st;
	bool		same = true;

	len += (size_t) snprintf(body + len, cap - len, "# TYPE ray_user_metric gauge\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t) snprintf(body + len, cap - len,
								 "ray_user_metric{Component=\"c%zu\",ip=\"10.0.%zu.%zu\"} %zu.25\n",
								 i, i / 256 % 256, i % 256, i);
	st = ray_prom_parse(body, len, NULL, &r, err, sizeof(err));
	if (is_int(st, RAY_OK, "100,000 samples parse (%s)", err))
	{
		is_int(r->nsamples, n, "all 100,000 samples");
		for (size_t i = 0; i < n && same; i++)
			same = r->samples[i].value == (double) i + 0.25 && r->samples[i].nlabels == 2;
		ok(same, "every value and label count read back");
		ray_prom_result_free(r);
	}
	/* the same body cut anywhere inside a line is refused, never partial */
	st = ray_prom_parse(body, len - 3, NULL, &r, err, sizeof(err));
	ok(st == RAY_ERR_MALFORMED && r == NULL && strstr(err, "line 100001:") != NULL,
	   "truncated body refused at its last line (%s)", err);
	free(body);
}

/* An allocator that fails after a budget of allocations. */
static int	budget;

static void *
fail_alloc(void *data, size_t n)
{
	if (budget-- <= 0)
		return NULL;
	return malloc(n);
}

static void
fail_free(void *data, void *p)
{
	free(p);
}

static void
test_oom(void)
{
	ProtobufCAllocator a = {fail_alloc, fail_free, NULL};
	const char *body = "# HELP x y\nx{a=\"1\",b=\"2\"} 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n";
	int			ooms = 0,
				oks = 0;
	bool		clean = true;

	/* every budget below the needed one fails cleanly (ASan finds leaks) */
	for (int b = 0; b < 64; b++)
	{
		RayPromResult *r = NULL;
		char		err[128];
		RayStatus	st;

		budget = b;
		st = ray_prom_parse(body, strlen(body), &a, &r, err, sizeof(err));
		if (st == RAY_ERR_OOM)
		{
			ooms++;
			clean = clean && r == NULL;
		}
		else if (st == RAY_OK)
		{
			oks++;
			clean = clean && r != NULL && r->nsamples == 2;
			ray_prom_result_free(r);
		}
		else
			clean = false;
	}
	ok(ooms > 0 && oks > 0 && clean, "out of memory at every step is RAY_ERR_OOM (%d) or a whole result (%d)",
	   ooms, oks);
}

/* ----------------------------------------------------------------------
 * Differential test against promtool
 * ---------------------------------------------------------------------- */

static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *d;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	d = malloc((size_t) n + 1);
	if (d && fread(d, 1, (size_t) n, f) != (size_t) n)
	{
		free(d);
		d = NULL;
	}
	fclose(f);
	*len = (size_t) n;
	return d;
}

/* promtool's verdict on a file: 1 accepted, 0 refused, -1 could not run. */
static int
promtool_accepts(const char *path)
{
	const char *tool = getenv("RAYDAR_PROMTOOL");
	char	   *argv[] = {(char *) (tool ? tool : "promtool"), "check", "metrics", NULL};
	posix_spawn_file_actions_t fa;
	pid_t		pid;
	int			status;
	int			rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, path, O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	switch (WEXITSTATUS(status))
	{
		case 0:
		case 3:
			return 1;
		case 1:
			return 0;
		default:
			return -1;
	}
}

static bool
ours_accepts(const char *data, size_t len, char *err, size_t errlen)
{
	RayPromResult *r = NULL;
	RayStatus	st = ray_prom_parse(data, len, NULL, &r, err, errlen);

	ray_prom_result_free(r);
	return st == RAY_OK;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Deterministic mutations: the same inputs on every run and machine. */
static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t) (rng >> 11);
}

static size_t
mutate(const char *in, size_t len, char *out)
{
	static const char interesting[] = " \t\n{}\",=\\#e.+-_:aZ0\r";
	size_t		pos = len ? next_rand() % len : 0;
	size_t		o = 0;

	switch (next_rand() % 4)
	{
		case 0:					/* delete a byte */
			memcpy(out, in, pos);
			o = pos;
			if (pos < len)
			{
				memcpy(out + o, in + pos + 1, len - pos - 1);
				o += len - pos - 1;
			}
			break;
		case 1:					/* insert an interesting byte */
			memcpy(out, in, pos);
			out[pos] = interesting[next_rand() % (sizeof(interesting) - 1)];
			memcpy(out + pos + 1, in + pos, len - pos);
			o = len + 1;
			break;
		case 2:					/* replace a byte */
			memcpy(out, in, len);
			if (len)
				out[pos] = interesting[next_rand() % (sizeof(interesting) - 1)];
			o = len;
			break;
		default:				/* truncate */
			memcpy(out, in, pos);
			o = pos;
			break;
	}
	return o;
}

static void
test_promtool(void)
{
	DIR		   *d = opendir(CORPUS);
	struct dirent *e;
	char	   *names[256];
	size_t		n = 0;
	int			agree = 0,
				files = 0,
				mutants = 0,
				mutants_refused = 0;
	char		tmpl[] = "/tmp/raydar-prom-XXXXXX";
	char	   *tmpdir;

	if (!ok(d != NULL, "corpus directory %s", CORPUS))
		return;
	while ((e = readdir(d)) != NULL && n < 256)
		if (strstr(e->d_name, ".prom"))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(char *), cmp_names);
	ok(n >= 60, "corpus holds %zu bodies", n);
	tmpdir = mkdtemp(tmpl);
	if (!ok(tmpdir != NULL, "scratch directory"))
		return;

	for (size_t i = 0; i < n; i++)
	{
		char		path[512];
		size_t		len;
		char	   *data;
		bool		want = strncmp(names[i], "valid-", 6) == 0;
		bool		mine;
		int			theirs;
		char		err[256];

		snprintf(path, sizeof(path), "%s/%s", CORPUS, names[i]);
		data = read_file(path, &len);
		if (!ok(data != NULL, "read %s", names[i]))
			continue;
		mine = ours_accepts(data, len, err, sizeof(err));
		theirs = promtool_accepts(path);
		if (theirs < 0)
		{
			ok(0, "promtool ran on %s (install package prometheus: scripts/setup.sh)", names[i]);
			free(data);
			break;
		}
		files++;
		if (mine == want && theirs == (int) want)
			agree++;
		else
			tap_diag("%s: expected %s, raydar %s (%s), promtool %s", names[i],
					 want ? "accept" : "reject", mine ? "accepts" : "rejects", err,
					 theirs ? "accepts" : "rejects");

		/* two mutants of each valid body, checked against promtool too */
		for (int m = 0; want && m < 2; m++)
		{
			char	   *mut = malloc(len + 2);
			size_t		mlen = mutate(data, len, mut);
			char		mpath[600];
			FILE	   *f;
			int			t;
			bool		mm;

			snprintf(mpath, sizeof(mpath), "%s/%s.%d", tmpdir, names[i], m);
			f = fopen(mpath, "wb");
			fwrite(mut, 1, mlen, f);
			fclose(f);
			mm = ours_accepts(mut, mlen, err, sizeof(err));
			t = promtool_accepts(mpath);
			mutants++;
			if (!mm)
				mutants_refused++;
			if (t >= 0 && (bool) t == mm)
				agree++;
			else
				tap_diag("mutant %s: raydar %s (%s), promtool %s (kept in %s)", mpath,
						 mm ? "accepts" : "rejects", err, t ? "accepts" : "rejects", tmpdir);
			free(mut);
			if (t >= 0 && (bool) t == mm)
				unlink(mpath);
		}
		free(data);
	}
	ok(files == (int) n && agree == files + mutants,
	   "raydar and promtool agree on all %d corpus bodies and %d mutants (%d refused)",
	   files, mutants, mutants_refused);
	rmdir(tmpdir);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

int
main(void)
{
	test_ray_body();
	test_floats();
	test_errors();
	test_keep();
	test_scale();
	test_oom();
	test_promtool();
	return tap_done();
}
