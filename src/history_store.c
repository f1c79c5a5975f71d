/*
 * history_store.c
 *		Writing task attempts into raydar.task_history and raydar.task_live.
 *
 * The one place where a decoded task attempt becomes a stored row (see
 * history_store.h): the columns are the task column list's (task_columns.c),
 * each value read by that column's getter, plus cluster, incarnation and
 * ingested_at. Rows known to be new go straight into the partitions
 * (bulk_insert.c, about a third cheaper than SQL for a full GCS); others
 * go through one prepared INSERT per BATCH_ROWS attempts, with one array
 * per column (unnest), the whole batch one statement.
 */
#include "raydar.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "bulk_insert.h"
#include "history_store.h"

/* Attempts written per INSERT (one array per column). */
#define BATCH_ROWS 10000

/* Prepared once per process, kept for its life (SPI_keepplan). */
static SPIPlanPtr history_insert_plan = NULL;	/* plain INSERT */
static SPIPlanPtr history_merge_plan = NULL;	/* ... ON CONFLICT, moved ends */
static SPIPlanPtr live_insert_plan = NULL;	/* INSERT INTO task_live */

/*
 * INSERT INTO raydar.<table> (task columns, cluster, incarnation) from one
 * array per column ($3...) and cluster, incarnation ($1, $2).
 */
static SPIPlanPtr
prepare_insert(const char *table, bool merge)
{
	StringInfoData sql;
	Oid			types[64];
	int			n = 0;
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	if (merge)
		appendStringInfoString(&sql, "WITH ins AS (");
	appendStringInfo(&sql, "INSERT INTO raydar.%s (", table);
	for (const RaydarColumn *c = raydar_task_columns; c->name; c++)
		appendStringInfo(&sql, "%s, ", quote_identifier(c->name));
	appendStringInfoString(&sql, "cluster, incarnation) SELECT u.*, $1, $2 FROM unnest(");
	types[n++] = TEXTOID;
	types[n++] = TEXTOID;
	for (const RaydarColumn *c = raydar_task_columns; c->name; c++)
	{
		Assert(n < lengthof(types));
		types[n] = get_array_type(raydar_coltype_oid(c->type));
		appendStringInfo(&sql, "%s$%d", n > 2 ? ", " : "", n + 1);
		n++;
	}
	if (merge)
	{
		/*
		 * One row per attempt even when its end moved (FINISHED, then FAILED
		 * later): the key holds end_time, the partition key, so an attempt
		 * whose end changed is not a conflict. Of the rows actually
		 * inserted (new attempts, or moved ones), other rows of the same
		 * attempt are deleted: the newest report wins. The DELETE sees the
		 * table as before the INSERT, so it never meets the new rows.
		 * Returns (rows inserted, of which moved).
		 */
		appendStringInfo(&sql, ") AS u ON CONFLICT DO NOTHING "
						 "RETURNING task_id, attempt_number, end_time), "
						 "del AS (DELETE FROM raydar.%s h USING ins "
						 "WHERE h.cluster = $1 AND h.incarnation = $2 AND h.task_id = ins.task_id "
						 "AND h.attempt_number = ins.attempt_number AND h.end_time <> ins.end_time "
						 "RETURNING 1) "
						 "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del)", table);
	}
	else
		appendStringInfoString(&sql, ") AS u");
	plan = SPI_prepare(sql.data, n, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the insert into raydar.%s: %s", table,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

static SPIPlanPtr
plan_for(HistoryWrite how)
{
	switch (how)
	{
		case HISTORY_NEW:
			if (history_insert_plan == NULL)
				history_insert_plan = prepare_insert("task_history", false);
			return history_insert_plan;
		case HISTORY_MERGE:
			if (history_merge_plan == NULL)
				history_merge_plan = prepare_insert("task_history", true);
			return history_merge_plan;
		case HISTORY_LIVE:
			if (live_insert_plan == NULL)
				live_insert_plan = prepare_insert("task_live", false);
			return live_insert_plan;
	}
	return NULL;				/* not reached */
}

/* Write the first nrows rows of the batch columns; returns how many were new. */
static uint64
insert_batch(SPIPlanPtr plan, const char *cluster, const char *incarnation,
			 Datum **cols, bool **nulls, int ncols, int nrows)
{
	Datum	   *args = palloc(sizeof(Datum) * (ncols + 2));
	int			dims[1] = {nrows};
	int			lbs[1] = {1};
	int			c = 0;

	args[0] = CStringGetTextDatum(cluster);
	args[1] = CStringGetTextDatum(incarnation);
	for (const RaydarColumn *col = raydar_task_columns; col->name; col++, c++)
	{
		Oid			elem = raydar_coltype_oid(col->type);
		int16		typlen;
		bool		typbyval;
		char		typalign;

		get_typlenbyvalalign(elem, &typlen, &typbyval, &typalign);
		args[c + 2] = PointerGetDatum(construct_md_array(cols[c], nulls[c], 1, dims, lbs, elem,
														 typlen, typbyval, typalign));
	}
	switch (SPI_execute_plan(plan, args, NULL, false, 0))
	{
		case SPI_OK_INSERT:
			return SPI_processed;
		case SPI_OK_SELECT:
			{
				/* Merge: (inserted, moved); a moved attempt is not a new one. */
				bool		isnull;
				int64		ins = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc, 1, &isnull));
				int64		moved = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
																SPI_tuptable->tupdesc, 2, &isnull));

				return (uint64) (ins - moved);
			}
		default:
			elog(ERROR, "could not insert task attempts");
	}
	return 0;
}

/*
 * A bulk insert into task_history of the task columns, cluster,
 * incarnation and ingested_at, or NULL when the table has triggers and must
 * be written through SQL.
 */
static RaydarBulkInsert *
begin_bulk(void)
{
	int			ncols = raydar_ncolumns(raydar_task_columns);
	const char **names = palloc(sizeof(char *) * (ncols + 3));
	int			c = 0;

	for (const RaydarColumn *col = raydar_task_columns; col->name; col++)
		names[c++] = col->name;
	names[c++] = "cluster";
	names[c++] = "incarnation";
	names[c++] = "ingested_at";
	return raydar_bulk_insert_begin("raydar", "task_history", names, c);
}

/* The writer's value function: the caller's, else the getters. */
typedef struct ValueReader
{
	HistoryValueFn fn;
	void	   *ctx;
} ValueReader;

/* One attempt's values into values/nulls (stride apart). */
static void
row_values(const ValueReader *vr, RayTaskReply *attempts, const RayTaskRow *row, RayBuf *scratch,
		   Datum *values, bool *nulls, int stride)
{
	int			c = 0;

	for (const RaydarColumn *col = raydar_task_columns; col->name; col++, c++)
	{
		/* Getters set isnull only for NULL: start from false. */
		nulls[c * stride] = false;
		values[c * stride] = vr->fn ? vr->fn(vr->ctx, col, attempts, row, scratch, &nulls[c * stride])
			: col->get(attempts, row, scratch, &nulls[c * stride]);
	}
}

/*
 * Is cluster both pushed (76_push.sql) and polled? Then either writer may
 * have stored an attempt first.
 */
static bool
cluster_is_pushed_and_polled(const char *cluster)
{
	Datum		args[1];
	Oid			types[1] = {TEXTOID};
	bool		isnull;

	args[0] = CStringGetTextDatum(cluster);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT 1 FROM raydar.event_clusters WHERE cluster = $1) "
							  "AND EXISTS (SELECT 1 FROM raydar.tracked_servers WHERE server_name::text = $1)",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look up raydar.event_clusters");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

uint64
history_store_write(HistoryWrite how, const char *cluster, const char *incarnation,
					RayTaskReply *attempts, List *positions)
{
	return history_store_write_with(how, cluster, incarnation, attempts, positions, NULL, NULL);
}

uint64
history_store_write_with(HistoryWrite how, const char *cluster, const char *incarnation,
						 RayTaskReply *attempts, List *positions, HistoryValueFn value, void *ctx)
{
	ValueReader vr = {value, ctx};
	int			ncols = raydar_ncolumns(raydar_task_columns);
	int			left = list_length(positions);
	MemoryContext row_cxt;
	RaydarBulkInsert *bulk = NULL;
	SPIPlanPtr	plan = NULL;
	Datum	  **cols = NULL;
	bool	  **cnulls = NULL;
	Datum	   *brow;
	bool	   *bnull;
	int			in_batch = 0;
	uint64		written = 0;
	ProtobufCAllocator alloc;
	RayBuf		scratch;
	ListCell   *lc;

	if (left == 0)
		return 0;
	/*
	 * The push receiver may have stored some of these attempts already
	 * (a cluster both polled and pushed): merge, so each is stored once.
	 */
	if (how == HISTORY_NEW && cluster_is_pushed_and_polled(cluster))
		how = HISTORY_MERGE;
	if (how == HISTORY_NEW)
		bulk = begin_bulk();
	if (bulk == NULL)
	{
		plan = plan_for(how);
		cols = palloc(sizeof(Datum *) * ncols);
		cnulls = palloc(sizeof(bool *) * ncols);
		for (int c = 0; c < ncols; c++)
		{
			cols[c] = palloc(sizeof(Datum) * Min(left, BATCH_ROWS));
			cnulls[c] = palloc(sizeof(bool) * Min(left, BATCH_ROWS));
		}
	}
	/* A bulk row: the task columns, cluster, incarnation, ingested_at. */
	brow = palloc(sizeof(Datum) * (ncols + 3));
	bnull = palloc0(sizeof(bool) * (ncols + 3));
	brow[ncols] = CStringGetTextDatum(cluster);
	brow[ncols + 1] = CStringGetTextDatum(incarnation);
	brow[ncols + 2] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "raydar history rows",
									ALLOCSET_DEFAULT_SIZES);
	raydar_allocator_init(&alloc, row_cxt);
	ray_buf_init(&scratch, &alloc);
	foreach(lc, positions)
	{
		const RayTaskRow *row;
		MemoryContext old;
		char		err[512];
		RayStatus	rs;

		rs = ray_task_reply_row(attempts, (size_t) lfirst_int(lc), &row, err, sizeof(err));
		raydar_report_core_error(rs, "decoding a task attempt", err);
		/* Values live until their batch is written. */
		old = MemoryContextSwitchTo(row_cxt);
		if (bulk != NULL)
		{
			row_values(&vr, attempts, row, &scratch, brow, bnull, 1);
			raydar_bulk_insert_row(bulk, brow, bnull);
		}
		else
		{
			for (int c = 0; c < ncols; c++)
			{
				cnulls[c][in_batch] = false;
				cols[c][in_batch] = vr.fn ? vr.fn(vr.ctx, &raydar_task_columns[c], attempts, row,
												  &scratch, &cnulls[c][in_batch])
					: raydar_task_columns[c].get(attempts, row, &scratch, &cnulls[c][in_batch]);
			}
		}
		MemoryContextSwitchTo(old);
		in_batch++;
		left--;
		if (in_batch == BATCH_ROWS || left == 0)
		{
			if (bulk != NULL)
			{
				raydar_bulk_insert_flush(bulk);
				written += in_batch;
			}
			else
				written += insert_batch(plan, cluster, incarnation, cols, cnulls, ncols, in_batch);
			MemoryContextReset(row_cxt);
			ray_buf_init(&scratch, &alloc);
			in_batch = 0;
		}
	}
	if (bulk != NULL)
		raydar_bulk_insert_end(bulk);
	MemoryContextDelete(row_cxt);
	return written;
}

uint64
history_store_delete(HistoryWrite how, const char *cluster, const char *incarnation,
					 const RayTaskReply *rows, List *positions)
{
	int			n = list_length(positions);
	Datum	   *ids;
	Datum	   *atts;
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT4ARRAYOID};
	RayBuf		hex;
	ProtobufCAllocator alloc;
	int			k = 0;
	ListCell   *lc;
	int			rc;

	if (n == 0)
		return 0;
	ids = palloc(sizeof(Datum) * n);
	atts = palloc(sizeof(Datum) * n);
	raydar_allocator_init(&alloc, CurrentMemoryContext);
	ray_buf_init(&hex, &alloc);
	foreach(lc, positions)
	{
		const RayTaskRow *row = &rows->rows[lfirst_int(lc)];
		bool		isnull = false;
		Datum		id = raydar_id_datum(&row->task_id, &hex, &isnull);

		if (isnull)
			continue;			/* no id: never stored */
		ids[k] = id;
		atts[k++] = Int32GetDatum(row->attempt_number);
	}
	if (k == 0)
		return 0;
	args[0] = CStringGetTextDatum(cluster);
	Assert(incarnation != NULL || how == HISTORY_LIVE);
	if (incarnation != NULL)
		args[1] = CStringGetTextDatum(incarnation);
	else
		nulls[1] = 'n';
	args[2] = PointerGetDatum(construct_array(ids, k, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(atts, k, INT4OID, 4, true, TYPALIGN_INT));
	if (how == HISTORY_LIVE)
		rc = SPI_execute_with_args("DELETE FROM raydar.task_live l USING unnest($3::text[], $4::int[]) AS u(t, a) "
								   "WHERE l.cluster = $1 AND ($2::text IS NULL OR l.incarnation = $2) "
								   "AND l.task_id = u.t AND l.attempt_number = u.a",
								   4, types, args, nulls, false, 0);
	else
		rc = SPI_execute_with_args("DELETE FROM raydar.task_history h USING unnest($3::text[], $4::int[]) AS u(t, a) "
								   "WHERE h.cluster = $1 AND h.incarnation = $2 AND h.task_id = u.t "
								   "AND h.attempt_number = u.a", 4, types, args, nulls, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "could not delete replaced task attempts");
	return SPI_processed;
}

bool
history_store_is_empty(const char *cluster, const char *incarnation)
{
	Datum		args[2];
	Oid			types[2] = {TEXTOID, TEXTOID};
	bool		isnull;

	args[0] = CStringGetTextDatum(cluster);
	args[1] = CStringGetTextDatum(incarnation);
	if (SPI_execute_with_args("SELECT NOT EXISTS (SELECT 1 FROM raydar.task_history "
							  "WHERE cluster = $1 AND incarnation = $2)",
							  2, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look up raydar.task_history");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* UTC day number of a Unix ms time, rounding down also before 1970. */
static int64
utc_day(int64 ms)
{
	return ms >= 0 ? ms / 86400000 : -((-ms - 1) / 86400000) - 1;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * One instant per distinct UTC day, given to _add_partitions at most
 * MAX_DAYS_PER_CALL at a time (it refuses more in one call, a guard for
 * interactive use). A reply may span any number of days, for example a
 * cluster that ran for years: every poll must still get through.
 */
#define MAX_DAYS_PER_CALL 400

void
history_store_add_partitions(const RayTaskReply *rows, List *positions)
{
	int			n = list_length(positions);
	int64	   *days;
	Datum	   *ends;
	int			ndays = 0;
	ListCell   *lc;

	if (n == 0)
		return;
	days = palloc(sizeof(int64) * n);
	ends = palloc(sizeof(Datum) * Min(n, MAX_DAYS_PER_CALL));
	foreach(lc, positions)
		days[ndays++] = utc_day(rows->rows[lfirst_int(lc)].end_ms);
	qsort(days, ndays, sizeof(int64), cmp_int64);
	for (int i = 0; i < ndays;)
	{
		Oid			t[1] = {TIMESTAMPTZARRAYOID};
		Datum		a[1];
		int			k = 0;

		for (; i < ndays && k < MAX_DAYS_PER_CALL; i++)
		{
			TimestampTz day_start;

			/* Task times are int64 ns, always in timestamptz's range; checked anyway. */
			if ((i == 0 || days[i] != days[i - 1]) &&
				raydar_ms_to_timestamptz(days[i] * 86400000, &day_start))
				ends[k++] = TimestampTzGetDatum(day_start);
		}
		a[0] = PointerGetDatum(construct_array(ends, k, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL,
											   TYPALIGN_DOUBLE));
		if (SPI_execute_with_args("SELECT raydar._add_partitions('raydar', 'task_history', $1)",
								  1, t, a, NULL, false, 0) < 0)
			elog(ERROR, "could not make task_history partitions");
	}
	pfree(days);
	pfree(ends);
}

/*
 * Sorted on a copy of each id's first 8 bytes: comparing through the rows
 * for 100,000 attempts was most of the sort. The GCS stores each attempt
 * once, but a reply naming one twice must not fail every write on the
 * primary key (and so hold back everything after it).
 */
typedef struct SortAttempt
{
	uint64		prefix;			/* first 8 id bytes, big-endian */
	const RayTaskRow *row;
	int			pos;
} SortAttempt;

static int
cmp_attempts(const void *a, const void *b, void *arg)
{
	const SortAttempt *x = a;
	const SortAttempt *y = b;
	int			c;

	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	c = memcmp(x->row->task_id.data, y->row->task_id.data,
			   Min(x->row->task_id.len, y->row->task_id.len));
	if (c != 0)
		return c;
	if (x->row->task_id.len != y->row->task_id.len)
		return x->row->task_id.len < y->row->task_id.len ? -1 : 1;
	return (x->row->attempt_number > y->row->attempt_number) -
		(x->row->attempt_number < y->row->attempt_number);
}

List *
history_store_key_order(const RayTaskReply *rows, List *positions)
{
	int			n = list_length(positions);
	SortAttempt *v;
	List	   *out = NIL;
	ListCell   *lc;

	if (n < 2)
		return positions;
	v = palloc(sizeof(SortAttempt) * n);
	foreach(lc, positions)
	{
		SortAttempt *e = &v[foreach_current_index(lc)];
		uint8		be[8] = {0};

		e->pos = lfirst_int(lc);
		e->row = &rows->rows[e->pos];
		memcpy(be, e->row->task_id.data, Min(e->row->task_id.len, sizeof(be)));
		e->prefix = pg_ntoh64(*(uint64 *) be);
	}
	qsort_arg(v, n, sizeof(SortAttempt), cmp_attempts, NULL);
	for (int i = 0; i < n; i++)
		if (i == 0 || cmp_attempts(&v[i - 1], &v[i], NULL) != 0)
			out = lappend_int(out, v[i].pos);
	pfree(v);
	return out;
}
