/*
 * collector_entities.c
 *		Jobs, actors and nodes: the latest row per id in
 *		raydar.<job|actor|node>_history, written at the end of each poll.
 *
 * Each resource is fetched through the source interface (source.h, so
 * over gRPC or the dashboard alike) outside any transaction, then upserted
 * in a short transaction of its own: one INSERT ... ON CONFLICT DO UPDATE
 * per resource, with one array per column, that touches a row only when
 * one of its values changed. Rows rebuilt from pushed events
 * (event_entities.c) go through the same upsert (collector_upsert_entities),
 * so one place writes an entity row whichever way it came. The statement is built from the resource's
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
	RayResourceKind kind;
	SPIPlanPtr	plan;			/* prepared once per process */
	SPIPlanPtr	push_plan;		/* the same for pushed rows */
} EntityTable;

static EntityTable entity_tables[] = {
	{"jobs", "job_history", "job_id", RAY_RESOURCE_JOBS, NULL, NULL},
	{"actors", "actor_history", "actor_id", RAY_RESOURCE_ACTORS, NULL, NULL},
	{"nodes", "node_history", "node_id", RAY_RESOURCE_NODES, NULL, NULL},
};

/*
 * INSERT INTO raydar.<table> AS t (<columns>, cluster, incarnation)
 *   SELECT u.*, $1, $2 FROM unnest($3, ...) AS u
 *   ON CONFLICT (cluster, incarnation, <key>) DO UPDATE SET ... , updated_at = now()
 *   WHERE (t.<columns>) IS DISTINCT FROM (excluded.<columns>)
 * For pushed rows (pushed) each new value is coalesce(excluded.<column>,
 * t.<column>): what the events do not carry is NULL and keeps what a poll
 * of the same cluster stored.
 */
static SPIPlanPtr
prepare_upsert(EntityTable *et, const RaydarResource *res, bool pushed)
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
			char	   *val = pushed ? psprintf("coalesce(excluded.%s, t.%s)", q, q) :
				psprintf("excluded.%s", q);

			appendStringInfo(&sets, "%s = %s, ", q, val);
			appendStringInfo(&cmp_old, "%st.%s", cmp_old.len ? ", " : "", q);
			appendStringInfo(&cmp_new, "%s%s", cmp_new.len ? ", " : "", val);
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

/* Is name in the NULL-terminated list (NULL: empty)? */
static bool
listed(const char *const *list, const char *name)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

/*
 * The arguments of the upsert: name, incarnation, then one array per
 * column of the rows of cr that have an id (no id, no row). Polled values
 * are read as the source r shows them: NULL where the transport does not
 * carry the column; pushed ones (r NULL) are NULL in the columns listed in
 * unknown. NULL when no row has an id.
 */
static Datum *
upsert_args(const RaydarResource *res, const char *key, RaydarSourceResult *r,
			const RayClusterReply *cr, const char *const *unknown,
			const char *name, const char *inc)
{
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
		{
			const RaydarColumn *col = &res->columns[c];

			nulls[c][nrows] = false;
			if (r != NULL)
				cols[c][nrows] = raydar_source_value(r, col, cr, cr->rows[i], i, &scratch,
													 &nulls[c][nrows]);
			else if (listed(unknown, col->name))
			{
				cols[c][nrows] = (Datum) 0;
				nulls[c][nrows] = true;
			}
			else
				cols[c][nrows] = col->get(cr, cr->rows[i], &scratch, &nulls[c][nrows]);
		}
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

/* Write args (upsert_args) with et's upsert; SPI connected. */
static void
run_upsert(EntityTable *et, const RaydarResource *res, Datum *args, bool pushed)
{
	SPIPlanPtr *plan = pushed ? &et->push_plan : &et->plan;

	if (*plan == NULL)
		*plan = prepare_upsert(et, res, pushed);
	if (SPI_execute_plan(*plan, args, NULL, false, 0) != SPI_OK_INSERT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not write raydar.%s", et->table)));
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
	args = upsert_args(res, et->key, r, raydar_source_cluster_reply(r), NULL, name, inc);
	if (args != NULL)
		run_upsert(et, res, args, false);
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

void
collector_upsert_entities(const RayClusterReply *cr, const char *name, const char *inc,
						  const char *const *unknown)
{
	for (int e = 0; e < lengthof(entity_tables); e++)
	{
		EntityTable *et = &entity_tables[e];
		const RaydarResource *res;
		Datum	   *args;

		if (et->kind != cr->kind)
			continue;
		res = raydar_find_resource(et->resource);
		args = upsert_args(res, et->key, NULL, cr, unknown, name, inc);
		if (args != NULL)
			run_upsert(et, res, args, true);
		return;
	}
	elog(ERROR, "raydar: resource kind %d has no history table", (int) cr->kind);
}
