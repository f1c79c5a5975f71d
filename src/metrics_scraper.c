/*
 * metrics_scraper.c
 *		The background worker that scrapes the Prometheus endpoint of every
 *		alive node of every tracked cluster into raydar.metric_samples.
 *
 * Ray's metrics agent serves each node's metrics (CPU, memory, GPU, disk,
 * network, object store, task and actor gauges, and the metrics users
 * define with ray.util.metrics) in the Prometheus text format on the node's
 * metrics_export_port (GcsNodeInfo field 9). Every raydar.metrics_interval:
 *   1. the tracked servers are read (raydar.tracked_servers, the
 *      collector's list) and each GCS's node table is fetched through the
 *      server's own connection (its timeouts, TLS and token): alive nodes
 *      with an address and a port are the targets. A dashboard_url server
 *      is skipped, with one LOG line: the dashboard's node table has no
 *      metrics_export_port;
 *   2. every due target is fetched at once with libcurl's multi interface,
 *      in 100 ms ticks that honour SIGTERM, each with its own timeout (at
 *      most the interval), so one slow node delays no other's transfer;
 *   3. then the bodies are written, one transaction each: not while
 *      transfers run, as curl reads nothing during a write and the other
 *      transfers' time would run out;
 *   4. a body is parsed whole (src/ray/ray_prom.c, Prometheus' own grammar)
 *      before anything is written; the samples raydar.metrics_keep accepts
 *      are written in one transaction with the node's status row, or, on
 *      any fault (connect, timeout, HTTP status, truncated or malformed
 *      body), nothing but the counted error is.
 * A failing node is retried after 0, 1, 3, 7... skipped intervals (at most
 * 5 minutes); a node that leaves the GCS table or dies is dropped.
 *
 * This is a worker of its own, not a step of the collector's poll, so that
 * a slow metrics endpoint never delays task history and the two intervals
 * are independent. curl runs with all signals blocked and never calls
 * PostgreSQL (http_client.c's rules); bodies are malloc'd until parsed.
 */
#include "raydar.h"

#include "http_client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "ray_buf.h"
#include "ray_cluster.h"
#include "ray_prom.h"

PGDLLEXPORT void raydar_metrics_scraper_main(Datum arg);

/* GUCs */
static char *metrics_interval_text = NULL;
static int	metrics_interval_ms = 15000;	/* 0: off */
static char *metrics_keep = NULL;

/* Largest body accepted: Ray's endpoints serve well under a MiB a node. */
#define MAX_BODY ((size_t) 64 * 1024 * 1024)
/* Longest wait for a failing node between two tries. */
#define MAX_BACKOFF_MS (5 * 60 * 1000)

/* One node's endpoint, kept across cycles. */
typedef struct Target
{
	char	   *cluster;		/* the raydar server's name */
	char	   *node_id;		/* hex, as in task_history.node_id */
	char	   *url;
	int			connect_timeout_ms;
	int			timeout_ms;
	bool		seen;			/* in this cycle's node table */
	int			failures;		/* in a row */
	TimestampTz next_try;
	CURL	   *easy;			/* kept: the connection is reused */
	HTAB	   *series;			/* series ids written, see series_cache() */
	/* the transfer in flight */
	bool		in_flight;
	bool		done;			/* complete, not yet written */
	CURLcode	result;
	TimestampTz started;
	RaydarHttpBody body;		/* the response, as it arrives */
	char		errbuf[CURL_ERROR_SIZE];
} Target;

static MemoryContext scraper_cxt;	/* targets, for the worker's life */
static MemoryContext cycle_cxt;		/* one cycle */
static List *targets = NIL;
static List *dashboard_skipped = NIL;	/* names of dashboard servers, logged once */
static CURLM *multi = NULL;
static SPIPlanPtr insert_plan = NULL;
static TimestampTz known_day = 0;	/* a UTC day whose partition exists */

/* ----------------------------------------------------------------------
 * Settings
 * ---------------------------------------------------------------------- */

static bool
check_interval(char **newval, void **extra, GucSource source)
{
	int			ms;
	const char *hint = NULL;
	int		   *e;

	if (*newval == NULL || pg_strcasecmp(*newval, "off") == 0)
		ms = 0;
	else if (!parse_int(*newval, &ms, GUC_UNIT_MS, &hint) || ms < 100 || ms > 3600 * 1000)
	{
		GUC_check_errdetail("raydar.metrics_interval must be \"off\" or a time from 100 ms to 1 h, such as '15s'.");
		if (hint)
			GUC_check_errhint("%s", hint);
		return false;
	}
	e = malloc(sizeof(int));
	if (e == NULL)
		return false;
	*e = ms;
	*extra = e;
	return true;
}

static void
assign_interval(const char *newval, void *extra)
{
	metrics_interval_ms = *(int *) extra;
}

static bool
check_keep(char **newval, void **extra, GucSource source)
{
	char		err[128];

	if (!ray_prom_keep_valid(*newval, err, sizeof(err)))
	{
		GUC_check_errdetail("%s.", err);
		GUC_check_errhint("Give a comma-separated list of metric name patterns with * and ?, "
						  "each refused if it starts with !; the first that matches decides.");
		return false;
	}
	return true;
}

void
raydar_metrics_scraper_init(void)
{
	DefineCustomStringVariable("raydar.metrics_interval",
							   "Time between two scrapes of the metrics of each node of the tracked clusters.",
							   "\"off\" stops scraping.",
							   &metrics_interval_text, "15s", PGC_SIGHUP, 0,
							   check_interval, assign_interval, NULL);
	DefineCustomStringVariable("raydar.metrics_keep",
							   "Which scraped metrics are kept, as name patterns; the first that matches decides.",
							   "* matches any run of characters, ? one; ! in front refuses. "
							   "The default keeps Ray's node and resource metrics and every user-defined metric.",
							   &metrics_keep, RAY_PROM_DEFAULT_KEEP, PGC_SIGHUP, 0,
							   check_keep, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;

	raydar_register_worker("raydar_metrics_scraper_main", "raydar metrics scraper", 5);
}

/* ----------------------------------------------------------------------
 * Discovery: tracked servers and their alive nodes
 * ---------------------------------------------------------------------- */

/* The tracked servers, or NIL while raydar 0.2 is not installed here. */
static List *
tracked_servers(void)
{
	List	   *names = NIL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute("SELECT 1 WHERE to_regclass('raydar.tracked_servers') IS NOT NULL "
					"AND to_regclass('raydar.scrape_status') IS NOT NULL", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1 &&
		SPI_execute("SELECT server_name FROM raydar.tracked_servers ORDER BY 1", true, 0) == SPI_OK_SELECT)
	{
		MemoryContext old = MemoryContextSwitchTo(cycle_cxt);

		for (uint64 i = 0; i < SPI_processed; i++)
			names = lappend(names, pstrdup(SPI_getvalue(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1)));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cycle_cxt);
	return names;
}

static Target *
find_target(const char *cluster, const char *node_id)
{
	ListCell   *lc;

	foreach(lc, targets)
	{
		Target	   *t = lfirst(lc);

		if (strcmp(t->cluster, cluster) == 0 && strcmp(t->node_id, node_id) == 0)
			return t;
	}
	return NULL;
}

/*
 * A host Ray wrote into node_manager_address, checked before it reaches a
 * URL: a name or IPv4 address, or an IPv6 address (bracketed here).
 */
static bool
host_ok(const char *h)
{
	size_t		n = strlen(h);

	if (n == 0 || n > 253)
		return false;
	for (const char *p = h; *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '.' || *p == '-' || *p == ':' || *p == '_'))
			return false;
	return true;
}

static void
set_str(char **field, const char *v)
{
	if (*field && v && strcmp(*field, v) == 0)
		return;
	if (*field)
		pfree(*field);
	*field = v ? MemoryContextStrdup(scraper_cxt, v) : NULL;
}

/* The alive nodes of one server into the target list; may ereport. */
static void
discover(const char *name)
{
	ForeignServer *server;
	RaydarConn *conn;
	const RaydarServerOptions *opts;
	RayVersion	v;
	const char *vtext;
	bytea	   *reply;
	bool		cached;
	RayClusterReply *r;
	ProtobufCAllocator alloc;
	char		err[512];
	RayStatus	rs;
	RayBuf		hex;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	server = GetForeignServerByName(name, true);
	if (server == NULL)
	{
		CommitTransactionCommand();
		MemoryContextSwitchTo(cycle_cxt);
		return;					/* the collector reports a vanished server */
	}
	conn = raydar_get_conn(server->serverid, server->owner);
	opts = raydar_conn_options(conn);

	/*
	 * The dashboard's node table (GET /api/v0/nodes, Ray's NodeState) has
	 * no metrics_export_port, so a dashboard_url server has no endpoints to
	 * scrape: say so once per server, not an error every interval.
	 */
	if (opts->address == NULL)
	{
		ListCell   *lc;
		bool		logged = false;

		foreach(lc, dashboard_skipped)
			logged |= strcmp((const char *) lfirst(lc), name) == 0;
		if (!logged)
		{
			MemoryContext old = MemoryContextSwitchTo(scraper_cxt);

			dashboard_skipped = lappend(dashboard_skipped, pstrdup(name));
			MemoryContextSwitchTo(old);
			ereport(LOG,
					(errmsg("raydar metrics scraper: server \"%s\" is not scraped: it reaches Ray through its dashboard, "
							"whose node table does not give the nodes' metrics ports", name),
					 errhint("Node metrics are scraped for servers with the GCS's address (address 'host:6379').")));
		}
		CommitTransactionCommand();
		MemoryContextSwitchTo(cycle_cxt);
		return;
	}
	raydar_conn_version(conn, &v, &vtext);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cycle_cxt);

	pgstat_report_activity(STATE_RUNNING, "raydar metrics scraper: GetAllNodeInfo");
	reply = raydar_conn_call(conn, ray_cluster_method(RAY_RESOURCE_NODES), (const uint8_t *) "", 0, &cached);
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	rs = ray_cluster_reply_decode(RAY_RESOURCE_NODES, (const uint8_t *) VARDATA(reply),
								  VARSIZE(reply) - VARHDRSZ, &v, &alloc, &r, err, sizeof(err));
	raydar_report_core_error(rs, psprintf("decoding the node table of server \"%s\"", name), err);
	if (r->status_code != 0)
	{
		RaydarPeer	peer;

		raydar_conn_peer(conn, &peer);
		raydar_report_failure(&peer, RAYDAR_FAIL_RAY_ERROR, 0, "GetAllNodeInfo",
							  psprintf("status %d: %s", r->status_code, r->status_message));
	}

	/*
	 * Plain HTTP, whatever the server's own transport: each node's metrics
	 * agent serves the Prometheus text with prometheus_client's HTTP server
	 * (Ray: python/ray/_private/prometheus_exporter.py, serve_http), with no
	 * TLS even when the cluster's gRPC uses it.
	 */
	ray_buf_init(&hex, &alloc);
	for (size_t i = 0; i < r->nrows; i++)
	{
		const Ray__Rpc__GcsNodeInfo *n = r->rows[i];
		Target	   *t;
		char	   *url;
		MemoryContext old;

		if (n->state != 0 || !n->has_metrics_export_port ||
			n->metrics_export_port <= 0 || n->metrics_export_port > 65535 ||
			n->node_manager_address == NULL || !host_ok(n->node_manager_address) ||
			n->node_id.len == 0 || n->node_id.len > 64)
			continue;			/* dead, or no endpoint to scrape */
		ray_buf_reset(&hex);
		ray_buf_hex(&hex, n->node_id.data, n->node_id.len);
		if (hex.oom)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		url = strchr(n->node_manager_address, ':')
			? psprintf("http://[%s]:%d/metrics", n->node_manager_address, n->metrics_export_port)
			: psprintf("http://%s:%d/metrics", n->node_manager_address, n->metrics_export_port);
		t = find_target(name, hex.data);
		old = MemoryContextSwitchTo(scraper_cxt);
		if (t == NULL)
		{
			t = palloc0(sizeof(Target));
			t->cluster = pstrdup(name);
			t->node_id = pstrdup(hex.data);
			targets = lappend(targets, t);
		}
		MemoryContextSwitchTo(old);
		set_str(&t->url, url);
		t->connect_timeout_ms = opts->connect_timeout_ms;
		t->timeout_ms = opts->timeout_ms;
		t->seen = true;
	}
	ray_cluster_reply_free(r);
}

static void forget_series(Target *t);

static void
drop_target(Target *t)
{
	forget_series(t);
	if (t->easy)
		curl_easy_cleanup(t->easy);
	free(t->body.data);
	pfree(t->cluster);
	pfree(t->node_id);
	if (t->url)
		pfree(t->url);
	pfree(t);
}

/* ----------------------------------------------------------------------
 * Writing one node's scrape
 * ---------------------------------------------------------------------- */

/*
 * A one-dimensional array of a built-in type, without a catalog lookup:
 * the arrays are made before the write transaction starts.
 */
static ArrayType *
make_array(Datum *d, int n, Oid type)
{
	switch (type)
	{
		case FLOAT8OID:
		case TIMESTAMPTZOID:
		case INT8OID:
			return construct_array(d, n, type, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
		case TEXTOID:
		case JSONBOID:
			return construct_array(d, n, type, -1, false, TYPALIGN_INT);
		default:
			elog(ERROR, "make_array: unexpected type %u", type);
	}
	return NULL;				/* keep the compiler quiet */
}

/* The status row after a scrape, in the current transaction. */
static void
write_status(Target *t, bool ok, int64 written, int64 filtered, const char *error)
{
	Oid			types[8] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID,
	INTERVALOID, TEXTOID};
	Datum		args[8];
	char		nulls[8] = "        ";
	Interval   *dur = palloc0(sizeof(Interval));

	dur->time = GetCurrentTimestamp() - t->started;
	args[0] = CStringGetTextDatum(t->cluster);
	args[1] = CStringGetTextDatum(t->node_id);
	args[2] = CStringGetTextDatum(t->url);
	args[3] = TimestampTzGetDatum(t->started);
	args[4] = Int64GetDatum(written);
	args[5] = Int64GetDatum(filtered);
	args[6] = IntervalPGetDatum(dur);
	args[7] = error ? CStringGetTextDatum(error) : (Datum) 0;
	if (error == NULL)
		nulls[7] = 'n';
	if (SPI_execute_with_args(ok
							  ? "INSERT INTO raydar.scrape_status AS s (cluster, node_id, url, last_scrape_at, "
							  "last_success_at, scrapes, samples_written, samples_filtered, last_duration) "
							  "VALUES ($1, $2, $3, $4, $4, 1, $5, $6, $7) "
							  "ON CONFLICT (cluster, node_id) DO UPDATE SET url = $3, last_scrape_at = $4, "
							  "last_success_at = $4, consecutive_failures = 0, scrapes = s.scrapes + 1, "
							  "samples_written = s.samples_written + $5, "
							  "samples_filtered = s.samples_filtered + $6, last_duration = $7"
							  : "INSERT INTO raydar.scrape_status AS s (cluster, node_id, url, last_scrape_at, "
							  "consecutive_failures, scrapes, errors, last_duration, last_error) "
							  "VALUES ($1, $2, $3, $4, 1, 1, 1, $7, $8) "
							  "ON CONFLICT (cluster, node_id) DO UPDATE SET url = $3, last_scrape_at = $4, "
							  "consecutive_failures = s.consecutive_failures + 1, scrapes = s.scrapes + 1, "
							  "errors = s.errors + 1, last_duration = $7, last_error = $8",
							  8, types, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write raydar.scrape_status");
}

/* The error a finished transfer stands for, or NULL if it brought a body. */
static char *
transfer_error(Target *t, CURLcode rc)
{
	long		status = 0;
	const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);

	if (t->body.too_large)
		return psprintf("the metrics of node %s at %s are larger than %zu MiB",
						t->node_id, t->url, MAX_BODY / (1024 * 1024));
	if (t->body.oom)
		return psprintf("out of memory receiving the metrics of node %s at %s", t->node_id, t->url);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return psprintf("the metrics endpoint of node %s at %s did not answer in time (%d ms): %s",
						t->node_id, t->url, Min(t->timeout_ms, metrics_interval_ms), detail);
	if (rc != CURLE_OK)
		return psprintf("could not fetch the metrics of node %s at %s: %s", t->node_id, t->url, detail);
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		return psprintf("the metrics endpoint of node %s at %s answered HTTP %ld", t->node_id, t->url, status);
	return NULL;
}

/*
 * The series ids a node's samples were written under, by the hash of
 * "metric\x01labels-json": a known series costs a hash lookup, not a
 * jsonb parse and an index probe. The text is kept to rule out a
 * collision (then the pair is simply looked up in SQL every time).
 */
typedef struct SeriesEntry
{
	uint64		key;			/* hash of the text */
	char	   *text;
	int64		series_id;
} SeriesEntry;

static HTAB *
series_cache(Target *t)
{
	if (t->series == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(SeriesEntry);
		ctl.hcxt = scraper_cxt;
		t->series = hash_create("raydar scraper series", 1024, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return t->series;
}

/* Forget every id: a failed write may have named series it rolled back. */
static void
forget_series(Target *t)
{
	if (t->series)
	{
		HASH_SEQ_STATUS st;
		SeriesEntry *e;

		hash_seq_init(&st, t->series);
		while ((e = hash_seq_search(&st)) != NULL)
			pfree(e->text);
		hash_destroy(t->series);
		t->series = NULL;
	}
	known_day = 0;
}

/*
 * One scrape's kept samples as SQL arguments, and the samples whose series
 * is not cached yet (position in the batch, key text, and the arguments of
 * raydar._node_series), whose ids are looked up in SQL.
 */
typedef struct ScrapeBatch
{
	Datum	   *ids;
	Datum	   *values;
	Datum	   *times;
	int			n;
	int		   *miss;
	char	  **miss_text;
	Datum	   *miss_metric;
	Datum	   *miss_labels;
	Datum	   *miss_type;
	int64	   *miss_id;
	int			nmiss;
	TimestampTz day;			/* a sample's time on a day not known yet */
	bool		new_day;
} ScrapeBatch;

static RayPromResult *
parse_scrape(Target *t, ProtobufCAllocator *alloc)
{
	RayPromResult *r;
	char		err[256];
	RayStatus	rs;

	rs = ray_prom_parse(t->body.data ? t->body.data : "", t->body.len, alloc, &r, err, sizeof(err));
	if (rs == RAY_ERR_OOM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory parsing the metrics of node %s", t->node_id)));
	if (rs != RAY_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("the metrics of node %s at %s are not in the Prometheus text format: %s",
						t->node_id, t->url, err)));
	return r;
}

static void
batch_init(ScrapeBatch *b, size_t nsamples)
{
	size_t		cap = Max(nsamples, 1);

	memset(b, 0, sizeof(*b));
	b->ids = palloc(sizeof(Datum) * cap);
	b->values = palloc(sizeof(Datum) * cap);
	b->times = palloc(sizeof(Datum) * cap);
	b->miss = palloc(sizeof(int) * cap);
	b->miss_text = palloc(sizeof(char *) * cap);
	b->miss_metric = palloc(sizeof(Datum) * cap);
	b->miss_labels = palloc(sizeof(Datum) * cap);
	b->miss_type = palloc(sizeof(Datum) * cap);
	b->miss_id = palloc(sizeof(int64) * cap);
}

/* A sample's time: the scrape's, or its own if it has one in range. */
static TimestampTz
sample_time(Target *t, const RayPromSample *s)
{
	TimestampTz at = t->started;

	if (s->has_timestamp)
	{
		/* 1970 to 9999: what timestamptz holds and Ray could mean */
		if (s->timestamp_ms < 0 || s->timestamp_ms > INT64CONST(253402300799999) ||
			!raydar_ms_to_timestamptz(s->timestamp_ms, &at))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("the metrics of node %s at %s have a timestamp out of range on line %d: %lld",
							t->node_id, t->url, s->line, (long long) s->timestamp_ms)));
	}
	return at;
}

/* "metric\x01{labels}": the series' key, the labels as JSON in the order served. */
static void
series_key(RayBuf *key, const RayPromResult *r, const RayPromSample *s, size_t name_len)
{
	ray_buf_reset(key);
	ray_buf_append(key, s->name, name_len);
	ray_buf_putc(key, '\x01');
	ray_buf_putc(key, '{');
	for (size_t k = 0; k < s->nlabels; k++)
	{
		const RayPromLabel *l = &r->labels[s->label0 + k];

		if (k > 0)
			ray_buf_putc(key, ',');
		ray_buf_json_string(key, l->name, strlen(l->name));
		ray_buf_putc(key, ':');
		ray_buf_json_string(key, l->value, l->value_len);
	}
	ray_buf_putc(key, '}');
	if (key->oom)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
}

/* The kept samples into the batch, with the cached series ids. */
static void
collect_samples(Target *t, const RayPromResult *r, HTAB *cache, ProtobufCAllocator *alloc,
				ScrapeBatch *b)
{
	RayBuf		key;

	ray_buf_init(&key, alloc);
	for (size_t i = 0; i < r->nsamples; i++)
	{
		const RayPromSample *s = &r->samples[i];
		TimestampTz at;
		size_t		name_len = strlen(s->name);
		uint64		h;
		SeriesEntry *e;

		if (!ray_prom_keep(metrics_keep, s->name))
			continue;
		at = sample_time(t, s);
		series_key(&key, r, s, name_len);
		h = hash_bytes_extended((const unsigned char *) key.data, (int) key.len, 0);
		e = hash_search(cache, &h, HASH_FIND, NULL);
		if (e != NULL && strcmp(e->text, key.data) == 0)
			b->ids[b->n] = Int64GetDatum(e->series_id);
		else
		{
			const char *json = key.data + name_len + 1;

			b->ids[b->n] = (Datum) 0;
			b->miss[b->nmiss] = b->n;
			b->miss_text[b->nmiss] = pstrdup(key.data);
			b->miss_metric[b->nmiss] = CStringGetTextDatum(s->name);
			b->miss_labels[b->nmiss] = raydar_json_to_jsonb(json, key.len - name_len - 1);
			b->miss_type[b->nmiss] = CStringGetTextDatum(ray_prom_type_name(r->families[s->family].type));
			b->nmiss++;
		}
		b->values[b->n] = Float8GetDatum(s->value);
		b->times[b->n] = TimestampTzGetDatum(at);
		/* partitions are per UTC day; one scrape is nearly always one day */
		if (at - at % USECS_PER_DAY != known_day && !b->new_day)
		{
			b->new_day = true;
			b->day = at;
		}
		b->n++;
	}
}

/* The ids of the series not cached, from raydar._node_series (inside SPI). */
static void
lookup_new_series(Target *t, ScrapeBatch *b)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID};
	Datum		args[5];
	int			nmiss = b->nmiss;

	args[0] = CStringGetTextDatum(t->cluster);
	args[1] = CStringGetTextDatum(t->node_id);
	args[2] = PointerGetDatum(make_array(b->miss_metric, nmiss, TEXTOID));
	args[3] = PointerGetDatum(make_array(b->miss_labels, nmiss, JSONBOID));
	args[4] = PointerGetDatum(make_array(b->miss_type, nmiss, TEXTOID));
	if (SPI_execute_with_args("SELECT ord, series_id FROM raydar._node_series($1, $2, $3, $4, $5)",
							  5, types, args, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != (uint64) nmiss)
		elog(ERROR, "could not find the series of node %s", t->node_id);
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int64		ord = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));
		int64		sid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 2, &isnull));

		if (ord < 1 || ord > nmiss)
			elog(ERROR, "raydar._node_series returned position %lld of %d", (long long) ord, nmiss);
		b->ids[b->miss[ord - 1]] = Int64GetDatum(sid);
		b->miss_id[ord - 1] = sid;	/* cached after the commit */
	}
}

/* The partition of the batch's new day (inside SPI). */
static void
add_day_partition(Target *t, const ScrapeBatch *b)
{
	Oid			types[1] = {TIMESTAMPTZARRAYOID};
	Datum		args[1];
	Datum		d = TimestampTzGetDatum(b->day);

	args[0] = PointerGetDatum(make_array(&d, 1, TIMESTAMPTZOID));
	if (SPI_execute_with_args("SELECT raydar._add_partitions('raydar', 'metric_samples', $1)",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not make the partition for the metrics of node %s", t->node_id);
}

/* The batch into raydar.metric_samples (inside SPI); rows written. */
static int64
insert_samples(Target *t, const ScrapeBatch *b)
{
	Datum		args[3];

	if (insert_plan == NULL)
	{
		Oid			types[3] = {TIMESTAMPTZARRAYOID, INT8ARRAYOID, FLOAT8ARRAYOID};

		insert_plan = SPI_prepare("INSERT INTO raydar.metric_samples (time, series_id, value) "
								  "SELECT * FROM unnest($1, $2, $3) ON CONFLICT DO NOTHING",
								  3, types);
		if (insert_plan == NULL || SPI_keepplan(insert_plan) != 0)
			elog(ERROR, "could not prepare the metric_samples insert: %s",
				 SPI_result_code_string(SPI_result));
	}
	args[0] = PointerGetDatum(make_array(b->times, b->n, TIMESTAMPTZOID));
	args[1] = PointerGetDatum(make_array(b->ids, b->n, INT8OID));
	args[2] = PointerGetDatum(make_array(b->values, b->n, FLOAT8OID));
	if (SPI_execute_plan(insert_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write the metrics of node %s", t->node_id);
	return (int64) SPI_processed;
}

/* Committed: the new ids and the day are facts now. */
static void
remember_batch(HTAB *cache, const ScrapeBatch *b)
{
	if (b->new_day)
		known_day = b->day - b->day % USECS_PER_DAY;
	for (int k = 0; k < b->nmiss; k++)
	{
		uint64		h = hash_bytes_extended((const unsigned char *) b->miss_text[k],
											(int) strlen(b->miss_text[k]), 0);
		bool		found;
		SeriesEntry *e = hash_search(cache, &h, HASH_ENTER, &found);

		if (found)
			continue;			/* a collision, or the same series twice */
		e->text = MemoryContextStrdup(scraper_cxt, b->miss_text[k]);
		e->series_id = b->miss_id[k];
	}
}

/*
 * Parse the body and write its kept samples and the status row in one
 * transaction; may ereport, and then nothing of it is written.
 */
static void
write_scrape(Target *t)
{
	ProtobufCAllocator alloc;
	RayPromResult *r;
	ScrapeBatch b;
	int64		written = 0;
	HTAB	   *cache = series_cache(t);

	raydar_allocator_init(&alloc, CurrentMemoryContext);
	r = parse_scrape(t, &alloc);
	batch_init(&b, r->nsamples);
	collect_samples(t, r, cache, &alloc, &b);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (b.nmiss > 0)
		lookup_new_series(t, &b);
	if (b.new_day)
		add_day_partition(t, &b);
	if (b.n > 0)
		written = insert_samples(t, &b);
	write_status(t, true, written, (int64) r->nsamples - b.n, NULL);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cycle_cxt);
	remember_batch(cache, &b);
}

/* The error, counted, in a transaction of its own; never throws. */
static void
record_failure(Target *t, const char *message)
{
	MemoryContext ccxt = CurrentMemoryContext;

	ereport(LOG, (errmsg("raydar metrics scraper: %s", message)));
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		write_status(t, false, 0, 0, message);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		raydar_worker_recover(ccxt, true);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(ccxt);
}

/* A transfer is complete: write it or count its error, then back off. */
static void
finish_target(Target *t, CURLcode rc)
{
	MemoryContext ccxt = CurrentMemoryContext;
	char	   *error = transfer_error(t, rc);

	if (error == NULL)
	{
		PG_TRY();
		{
			write_scrape(t);
		}
		PG_CATCH();
		{
			ErrorData  *edata = raydar_worker_recover(ccxt, false);

			error = edata->message;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(ccxt);
	}
	if (error)
	{
		int			skip = 1;

		forget_series(t);
		record_failure(t, error);
		t->failures++;
		/* skip 0, 1, 3, 7, ... intervals, at most MAX_BACKOFF_MS */
		for (int i = 1; i < t->failures && skip < 64; i++)
			skip *= 2;
		t->next_try = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  Min((int64) (skip - 1) * metrics_interval_ms,
													  MAX_BACKOFF_MS));
	}
	else
	{
		t->failures = 0;
		t->next_try = 0;
	}
	free(t->body.data);
	t->body.data = NULL;
	t->body.len = t->body.cap = 0;
}

/* ----------------------------------------------------------------------
 * Fetching: every due node at once
 * ---------------------------------------------------------------------- */

static bool
start_transfer(Target *t)
{
	if (t->easy == NULL && (t->easy = curl_easy_init()) == NULL)
		return false;
	curl_easy_reset(t->easy);
	t->body.data = NULL;
	t->body.len = t->body.cap = 0;
	t->body.too_large = t->body.oom = false;
	t->errbuf[0] = '\0';
	curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
	curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, (long) t->connect_timeout_ms);
	/* a scrape never outlives its interval: the next one would queue behind it */
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long) Min(t->timeout_ms, metrics_interval_ms));
	curl_easy_setopt(t->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, raydar_http_body_write);
	t->body.easy = t->easy;
	t->body.max = MAX_BODY;
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, &t->body);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "raydar/" RAYDAR_VERSION);
	if (curl_multi_add_handle(multi, t->easy) != CURLM_OK)
		return false;
	t->in_flight = true;
	t->started = GetCurrentTimestamp();
	return true;
}

static void
scrape_all(void)
{
	ListCell   *lc;
	int			in_flight = 0;
	TimestampTz now = GetCurrentTimestamp();

	foreach(lc, targets)
	{
		Target	   *t = lfirst(lc);

		if (t->next_try > now)
			continue;			/* backing off */
		if (start_transfer(t))
			in_flight++;
		else
			ereport(LOG, (errmsg("raydar metrics scraper: could not start a request to %s", t->url)));
	}
	pgstat_report_activity(STATE_RUNNING, "raydar metrics scraper: scraping");
	while (in_flight > 0)
	{
		int			running = 0;
		CURLMsg    *m;
		int			left;

		(void) raydar_http_perform_blocked(multi, &running);
		while ((m = curl_multi_info_read(multi, &left)) != NULL)
		{
			Target	   *t = NULL;
			CURLcode	result;

			if (m->msg != CURLMSG_DONE)
				continue;
			/* m belongs to the handle: read it all before removing that */
			result = m->data.result;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &t);
			/* the handle leaves the multi before any PostgreSQL work */
			curl_multi_remove_handle(multi, t->easy);
			t->in_flight = false;
			t->done = true;
			t->result = result;
			in_flight--;
		}
		if (in_flight <= 0)
			break;
		if (ProcDiePending)
			break;
		(void) curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	/*
	 * Then the writes. Not as each body arrives: while a transaction runs
	 * curl reads nothing, and the other transfers' time would run out.
	 */
	foreach(lc, targets)
	{
		Target	   *t = lfirst(lc);

		if (!t->done || ProcDiePending)
			continue;
		t->done = false;
		finish_target(t, t->result);
	}
	/* Stopping: transfers still running are dropped, never half-written. */
	foreach(lc, targets)
	{
		Target	   *t = lfirst(lc);

		t->done = false;
		if (t->in_flight)
		{
			curl_multi_remove_handle(multi, t->easy);
			t->in_flight = false;
			free(t->body.data);
			t->body.data = NULL;
			t->body.len = t->body.cap = 0;
		}
	}
	CHECK_FOR_INTERRUPTS();
}

/* ----------------------------------------------------------------------
 * The worker
 * ---------------------------------------------------------------------- */

static void
cycle(void)
{
	List	   *servers = NIL;
	ListCell   *lc;
	List	   *keep = NIL;
	MemoryContext ccxt = CurrentMemoryContext;

	PG_TRY();
	{
		servers = tracked_servers();
	}
	PG_CATCH();
	{
		raydar_worker_recover(ccxt, true);
		servers = NIL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(ccxt);

	foreach(lc, targets)
		((Target *) lfirst(lc))->seen = false;
	foreach(lc, servers)
	{
		const char *name = lfirst(lc);
		bool		failed = false;

		PG_TRY();
		{
			discover(name);
		}
		PG_CATCH();
		{
			ErrorData  *edata = raydar_worker_recover(ccxt, false);

			ereport(LOG,
					(errmsg("raydar metrics scraper: could not read the node table of server \"%s\": %s",
							name, edata->message)));
			failed = true;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(ccxt);
		/* The GCS unreachable: its nodes may still serve metrics. */
		if (failed)
		{
			ListCell   *tc;

			foreach(tc, targets)
			{
				Target	   *t = lfirst(tc);

				if (strcmp(t->cluster, name) == 0)
					t->seen = true;
			}
		}
	}

	/* Nodes that died or left, and clusters no longer tracked. */
	foreach(lc, targets)
	{
		Target	   *t = lfirst(lc);

		if (t->seen)
			keep = lappend(keep, t);
		else
			drop_target(t);
	}
	{
		MemoryContext old = MemoryContextSwitchTo(scraper_cxt);
		List	   *copy = list_copy(keep);

		MemoryContextSwitchTo(old);
		list_free(targets);
		targets = copy;
	}
	if (targets != NIL)
		scrape_all();
}

void
raydar_metrics_scraper_main(Datum arg)
{
	TimestampTz next;
	const char *db;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	db = GetConfigOption("raydar.database", true, false);
	BackgroundWorkerInitializeConnection(db ? db : "postgres", NULL, 0);
	pgstat_report_appname("raydar metrics scraper");

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (multi = curl_multi_init()) == NULL)
		ereport(FATAL, (errmsg("raydar metrics scraper: could not initialize libcurl")));
	scraper_cxt = AllocSetContextCreate(TopMemoryContext, "raydar metrics scraper",
										ALLOCSET_DEFAULT_SIZES);
	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "raydar metrics scrape",
									  ALLOCSET_DEFAULT_SIZES);

	/* Scrapes start every interval, counted from the start of the last. */
	next = GetCurrentTimestamp();
	for (;;)
	{
		long		wait_ms;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (metrics_interval_ms > 0)
				next = Min(next, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), metrics_interval_ms));
		}
		wait_ms = metrics_interval_ms > 0
			? TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next) : 60 * 1000L;
		if (metrics_interval_ms == 0 || wait_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		next = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), metrics_interval_ms);
		MemoryContextReset(cycle_cxt);
		MemoryContextSwitchTo(cycle_cxt);
		cycle();
		MemoryContextSwitchTo(TopMemoryContext);
		pgstat_report_activity(STATE_IDLE, NULL);
	}
}
