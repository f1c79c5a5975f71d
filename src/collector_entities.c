/*
 * collector_entities.c
 *		Jobs, actors and nodes: the latest row per id in
 *		raydar.<job|actor|node>_history, written at the end of each poll.
 *
 * Each resource is fetched through the source interface (source.h, so
 * over gRPC or the dashboard alike) outside any transaction, then upserted
 * in a short transaction of its own: one INSERT ... ON CONFLICT DO UPDATE
 * per resource, with one array per column, that touches a row only when
 * one of its values changed. The statement is built from the resource's
 * column catalog, so the history tables follow the foreign tables (a
 * regression test checks the DDL).
 */
#include "raydar.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "collector.h"
#include "source.h"

typedef struct EntityTable
{
	const char *resource;		/* raydar_resources name */
	const char *table;			/* in schema raydar */
	const char *key;			/* id column */
	SPIPlanPtr	plan;			/* prepared once per process */
} EntityTable;

static EntityTable entity_tables[] = {
	{"jobs", "job_history", "job_id", NULL},
	{"actors", "actor_history", "actor_id", NULL},
	{"nodes", "node_history", "node_id", NULL},
};

/*
 * INSERT INTO raydar.<table> AS t (<columns>, cluster, incarnation)
 *   SELECT u.*, $1, $2 FROM unnest($3, ...) AS u
 *   ON CONFLICT (cluster, incarnation, <key>) DO UPDATE SET ... , updated_at = now()
 *   WHERE (t.<columns>) IS DISTINCT FROM (excluded.<columns>)
 */
static SPIPlanPtr
prepare_upsert(EntityTable *et, const RaydarResource *res)
{
	StringInfoData sql,
				cols,
				sets,
				cmp_old,
				cmp_new;
	Oid			types[64];
	int			n = 0;
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	initStringInfo(&cols);
	initStringInfo(&sets);
	initStringInfo(&cmp_old);
	initStringInfo(&cmp_new);
	types[n++] = TEXTOID;
	types[n++] = TEXTOID;
	for (const RaydarColumn *c = res->columns; c->name; c++)
	{
		const char *q = quote_identifier(c->name);

		Assert(n < lengthof(types));
		appendStringInfo(&cols, "%s, ", q);
		if (strcmp(c->name, et->key) != 0)
		{
			appendStringInfo(&sets, "%s = excluded.%s, ", q, q);
			appendStringInfo(&cmp_old, "%st.%s", cmp_old.len ? ", " : "", q);
			appendStringInfo(&cmp_new, "%sexcluded.%s", cmp_new.len ? ", " : "", q);
		}
		types[n++] = get_array_type(raydar_coltype_oid(c->type));
	}
	appendStringInfo(&sql, "INSERT INTO raydar.%s AS t (%scluster, incarnation) SELECT u.*, $1, $2 "
					 "FROM unnest(", et->table, cols.data);
	for (int i = 3; i <= n; i++)
		appendStringInfo(&sql, "%s$%d", i > 3 ? ", " : "", i);
	appendStringInfo(&sql, ") AS u ON CONFLICT (cluster, incarnation, %s) DO UPDATE SET %supdated_at = now() "
					 "WHERE (%s) IS DISTINCT FROM (%s)",
					 et->key, sets.data, cmp_old.data, cmp_new.data);
	plan = SPI_prepare(sql.data, n, types);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not prepare the upsert into raydar.%s: %s", et->table,
						SPI_result_code_string(SPI_result))));
	SPI_keepplan(plan);
	return plan;
}

/*
 * The arguments of the upsert: name, incarnation, then one array per
 * column of the fetched rows that have an id (no id, no row). Values are
 * read as the source shows them: NULL where the transport does not carry
 * the column. NULL when no row has an id.
 */
static Datum *
upsert_args(const RaydarResource *res, const char *key, RaydarSourceResult *r,
			const char *name, const char *inc)
{
	const RayClusterReply *cr = raydar_source_cluster_reply(r);
	int			ncols = raydar_ncolumns(res->columns);
	Datum	  **cols = palloc(sizeof(Datum *) * ncols);
	bool	  **nulls = palloc(sizeof(bool *) * ncols);
	Datum	   *args = palloc(sizeof(Datum) * (ncols + 2));
	int			keycol = 0;
	int			nrows = 0;
	int			dims[1];
	int			lbs[1] = {1};
	ProtobufCAllocator alloc;
	RayBuf		scratch;

	for (const RaydarColumn *c = res->columns; c->name && strcmp(c->name, key) != 0; c++)
		keycol++;
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	ray_buf_init(&scratch, &alloc);
	for (int c = 0; c < ncols; c++)
	{
		cols[c] = palloc(sizeof(Datum) * Max(cr->nrows, 1));
		nulls[c] = palloc(sizeof(bool) * Max(cr->nrows, 1));
	}
	for (size_t i = 0; i < cr->nrows; i++)
	{
		for (int c = 0; c < ncols; c++)
			cols[c][nrows] = raydar_source_value(r, &res->columns[c], cr, cr->rows[i], i,
												 &scratch, &nulls[c][nrows]);
		if (!nulls[keycol][nrows])
			nrows++;
	}
	if (nrows == 0)
		return NULL;
	dims[0] = nrows;
	args[0] = CStringGetTextDatum(name);
	args[1] = CStringGetTextDatum(inc);
	for (int c = 0; c < ncols; c++)
	{
		Oid			elem = raydar_coltype_oid(res->columns[c].type);
		int16		typlen;
		bool		typbyval;
		char		typalign;

		get_typlenbyvalalign(elem, &typlen, &typbyval, &typalign);
		args[c + 2] = PointerGetDatum(construct_md_array(cols[c], nulls[c], 1, dims, lbs,
														 elem, typlen, typbyval, typalign));
	}
	return args;
}

/* One resource: fetched outside any transaction, upserted in one. */
static void
poll_entity(EntityTable *et, const char *name, const char *inc, RaydarConn *conn,
			const RayVersion *v)
{
	const RaydarResource *res = raydar_find_resource(et->resource);
	RaydarSourceRequest req;
	RaydarSourceResult *r;
	Datum	   *args;

	memset(&req, 0, sizeof(req));
	req.limit = -1;
	req.rows = RAYDAR_ROWS_FULL;
	r = raydar_source_fetch(conn, v, res, &req);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	args = upsert_args(res, et->key, r, name, inc);
	if (args != NULL)
	{
		if (et->plan == NULL)
			et->plan = prepare_upsert(et, res);
		if (SPI_execute_plan(et->plan, args, NULL, false, 0) != SPI_OK_INSERT)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not write raydar.%s", et->table)));
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(collector_cycle_cxt);
}

void
collector_poll_entities(const char *name, const char *inc, RaydarConn *conn, const RayVersion *v)
{
	pgstat_report_activity(STATE_RUNNING, "raydar collector: jobs, actors, nodes");
	for (int e = 0; e < lengthof(entity_tables); e++)
		poll_entity(&entity_tables[e], name, inc, conn, v);
	pgstat_report_activity(STATE_IDLE, NULL);
}
