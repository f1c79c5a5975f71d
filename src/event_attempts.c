/*
 * event_attempts.c
 *		Pushed task events merged per (cluster, incarnation, task_id,
 *		attempt) and the merged attempts written as rows.
 *
 * Merging is Ray's (gcs_ray_event_converter.cc): each task event is a
 * TaskEvents (src/ray/ray_event_json.c), packed; an attempt's packed events
 * are appended to what raydar.event_attempts holds for it, which parses as
 * protobuf MergeFrom. The merged attempts are derived into rows by
 * ray_task_reply_from_events and written through history_store.c, the one
 * place a row is built: attempts that are FINISHED or FAILED and have their
 * definition go to task_history (replacing their earlier row, so each is
 * stored once however often it changes), the rest to task_live. A terminal
 * attempt whose definition has not come is marked waiting_definition; after
 * raydar.event_definition_wait the merger stores it as Ray shows such a
 * task (event_attempts_settle_undefined), since Ray may have dropped the
 * definition for good. The attempts a dead worker or an ended job leaves
 * unfinished are marked FAILED as Ray's GCS marks them
 * (event_attempts_fail_dead_workers, _fail_ended_jobs: one pass, mark_due,
 * over a rule per kind): Ray exports no event for that.
 *
 * One set of statements per (cluster, incarnation) of a drained chunk,
 * however many bodies it holds: the per-statement cost, not the per-row
 * cost, dominated when each body was merged alone.
 */
#include "raydar.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "bulk_insert.h"
#include "event_attempts.h"
#include "history_store.h"
#include "ray_enums.h"
#include "ray_tasks.h"

uint64		event_attempts_merged = 0;

/*
 * Attempts of one (cluster, incarnation) changed by a merge: their keys,
 * merged events and event id hashes as they will be stored, and where
 * they were before.
 */
typedef struct MergedAttempts
{
	int			n;
	Datum	   *tids;
	Datum	   *atts;
	bytea	  **events;
	bytea	  **ids;
	bool	   *stored;			/* has a row in event_attempts already */
	bool	   *in_history;		/* was in task_history before */
	Ray__Rpc__GetTaskEventsReply msg;
} MergedAttempts;

/* What event_attempts holds for one attempt. */
typedef struct StoredAttempt
{
	bool		found;
	bool		expired;		/* forgotten: later events are not merged */
	bool		in_history;
	bytea	   *events;
	bytea	   *ids;
} StoredAttempt;



static int
cmp_key(const void *a, const void *b)
{
	const AttemptKey *x = a;
	const AttemptKey *y = b;
	int			c = strcmp(x->inc, y->inc);

	if (c != 0)
		return c;
	if (x->te->task_id.len != y->te->task_id.len)
		return x->te->task_id.len < y->te->task_id.len ? -1 : 1;
	c = memcmp(x->te->task_id.data, y->te->task_id.data, x->te->task_id.len);
	if (c != 0)
		return c;
	if (x->te->attempt_number != y->te->attempt_number)
		return x->te->attempt_number < y->te->attempt_number ? -1 : 1;
	return (x->item > y->item) - (x->item < y->item);	/* arrival order */
}

static bool
same_attempt(const AttemptKey *x, const AttemptKey *y)
{
	return strcmp(x->inc, y->inc) == 0 && x->te->task_id.len == y->te->task_id.len &&
		memcmp(x->te->task_id.data, y->te->task_id.data, x->te->task_id.len) == 0 &&
		x->te->attempt_number == y->te->attempt_number;
}

static void
merged_init(MergedAttempts *m, int cap)
{
	memset(m, 0, sizeof(*m));
	m->tids = palloc(sizeof(Datum) * (cap + 1));
	m->atts = palloc(sizeof(Datum) * (cap + 1));
	m->events = palloc(sizeof(bytea *) * (cap + 1));
	m->ids = palloc(sizeof(bytea *) * (cap + 1));
	m->stored = palloc(sizeof(bool) * (cap + 1));
	m->in_history = palloc(sizeof(bool) * (cap + 1));
}

/* Each merged attempt's events unpacked (m->msg), for the derivation. */
static void
unpack_merged(MergedAttempts *m, ProtobufCAllocator *alloc)
{
	ray__rpc__get_task_events_reply__init(&m->msg);
	m->msg.n_events_by_task = m->n;
	m->msg.events_by_task = palloc(sizeof(void *) * (m->n + 1));
	for (int k = 0; k < m->n; k++)
	{
		m->msg.events_by_task[k] = ray__rpc__task_events__unpack(alloc, VARSIZE_ANY_EXHDR(m->events[k]),
																 (uint8_t *) VARDATA_ANY(m->events[k]));
		if (m->msg.events_by_task[k] == NULL)
			elog(ERROR, "raydar.event_attempts holds an attempt that does not parse");
	}
}

/* a || b as a new bytea (a may be NULL) */
static bytea *
bytea_cat(const bytea *a, const bytea *b)
{
	size_t		la = a ? VARSIZE_ANY_EXHDR(a) : 0;
	size_t		lb = VARSIZE_ANY_EXHDR(b);
	bytea	   *r = palloc(VARHDRSZ + la + lb);

	SET_VARSIZE(r, VARHDRSZ + la + lb);
	if (la > 0)
		memcpy(VARDATA(r), VARDATA_ANY(a), la);
	memcpy(VARDATA(r) + la, VARDATA_ANY(b), lb);
	return r;
}

/* The attempts of keys[from, to) (sorted): a start index per attempt, and their keys as arrays. */
static int
attempt_starts(AttemptKey *keys, int from, int to, int *starts, Datum *tids, Datum *atts)
{
	int			n = 0;

	for (int i = from; i < to; i++)
		if (i == from || !same_attempt(&keys[i - 1], &keys[i]))
		{
			tids[n] = raydar_bytea_datum(keys[i].te->task_id.data, keys[i].te->task_id.len);
			atts[n] = Int32GetDatum(keys[i].te->attempt_number);
			starts[n++] = i;
		}
	starts[n] = to;
	return n;
}

static bool
has_hash(const uint8 *hashes, size_t n, uint64 h)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(hashes + 8 * i, &h, 8) == 0)
			return true;
	return false;
}

/*
 * Which keys of attempt [start, end) are fresh: their event id's hash is
 * neither stored (stored[0, nstored)) nor earlier in the chunk. Their
 * packed events and hashes go to *events and *hashes (NULL if none fresh).
 */
static void
fresh_of_attempt(AttemptKey *keys, int start, int end, const uint8 *stored, size_t nstored,
				 bytea **events, bytea **hashes)
{
	size_t		len = 0,
				off = 0;
	int			nfresh = 0;
	bool	   *fresh = palloc(sizeof(bool) * (end - start));
	uint8	   *hs = palloc(8 * (end - start));

	for (int k = start; k < end; k++)
	{
		uint64		h = hash_bytes_extended(keys[k].event_id, (int) keys[k].event_id_len, 0);

		fresh[k - start] = !has_hash(stored, nstored, h) && !has_hash(hs, nfresh, h);
		if (!fresh[k - start])
		{
			(*keys[k].ndup)++;
			continue;
		}
		memcpy(hs + 8 * nfresh++, &h, 8);
		len += ray__rpc__task_events__get_packed_size(keys[k].te);
	}
	*events = *hashes = NULL;
	if (nfresh == 0)
		return;
	*events = palloc(VARHDRSZ + len);
	SET_VARSIZE(*events, VARHDRSZ + len);
	for (int k = start; k < end; k++)
		if (fresh[k - start])
			off += ray__rpc__task_events__pack(keys[k].te, (uint8_t *) VARDATA(*events) + off);
	*hashes = (bytea *) DatumGetPointer(raydar_bytea_datum(hs, 8 * (size_t) nfresh));
}

/*
 * What event_attempts holds for each of the n attempts. A lateral index
 * probe per attempt: a join could hash the whole incarnation while the
 * statistics lag behind a new cluster's growth.
 */
static StoredAttempt *
read_stored(const char *cluster, const char *inc, Datum *tids, Datum *atts, int n)
{
	StoredAttempt *out = palloc0(sizeof(StoredAttempt) * (n + 1));
	Oid			t[4] = {TEXTOID, TEXTOID, BYTEAARRAYOID, INT4ARRAYOID};
	Datum		a[4];

	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(inc);
	a[2] = raydar_array_datum(tids, NULL, n, BYTEAOID);
	a[3] = raydar_array_datum(atts, NULL, n, INT4OID);
	if (SPI_execute_with_args("SELECT u.i::int, x.* FROM unnest($3::bytea[], $4::int[]) WITH ORDINALITY AS u(t, a, i) "
							  "CROSS JOIN LATERAL (SELECT e.expired, e.in_history, e.events, e.event_ids "
							  "FROM raydar.event_attempts e WHERE e.cluster = $1 AND e.incarnation = $2 "
							  "AND e.task_id = u.t AND e.attempt_number = u.a OFFSET 0) AS x",
							  4, t, a, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_attempts");
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		HeapTuple	tup = SPI_tuptable->vals[k];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int			i = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull)) - 1;
		StoredAttempt *st;

		if (i < 0 || i >= n)
			continue;
		st = &out[i];
		st->found = true;
		st->expired = DatumGetBool(SPI_getbinval(tup, td, 2, &isnull));
		st->in_history = DatumGetBool(SPI_getbinval(tup, td, 3, &isnull));
		st->events = DatumGetByteaPCopy(SPI_getbinval(tup, td, 4, &isnull));
		st->ids = DatumGetByteaPCopy(SPI_getbinval(tup, td, 5, &isnull));
	}
	return out;
}

/*
 * The attempts of keys[from, to) (sorted: one incarnation) with at least
 * one fresh event, each with what it held plus its fresh events, into m.
 * An attempt forgotten after the retention (expired) is not merged: its
 * events are counted as duplicates (Ray resending what was stored long
 * ago), as those of a tombstoned job, actor or node are, so that every
 * event received is counted somewhere.
 */
static void
merge_fresh(const char *cluster, const char *inc, AttemptKey *keys, int from, int to, MergedAttempts *m)
{
	int			cap = to - from + 1;
	int		   *starts = palloc(sizeof(int) * (cap + 1));
	Datum	   *tids = palloc(sizeof(Datum) * cap);
	Datum	   *atts = palloc(sizeof(Datum) * cap);
	int			na = attempt_starts(keys, from, to, starts, tids, atts);
	StoredAttempt *st = read_stored(cluster, inc, tids, atts, na);

	merged_init(m, na);
	for (int i = 0; i < na; i++)
	{
		bytea	   *ev,
				   *hs;

		if (st[i].expired)
		{
			for (int k = starts[i]; k < starts[i + 1]; k++)
				(*keys[k].ndup)++;
			continue;
		}
		fresh_of_attempt(keys, starts[i], starts[i + 1],
						 st[i].found ? (uint8 *) VARDATA_ANY(st[i].ids) : NULL,
						 st[i].found ? VARSIZE_ANY_EXHDR(st[i].ids) / 8 : 0, &ev, &hs);
		if (ev == NULL)
			continue;
		m->tids[m->n] = tids[i];
		m->atts[m->n] = atts[i];
		/* Appending packed TaskEvents is protobuf's MergeFrom (see the header). */
		m->events[m->n] = bytea_cat(st[i].events, ev);
		m->ids[m->n] = bytea_cat(st[i].ids, hs);
		m->stored[m->n] = st[i].found;
		m->in_history[m->n] = st[i].in_history;
		m->n++;
	}
}

/*
 * Store the merged attempts m with where each now is. The merger is
 * event_attempts' only writer and read the rows in this transaction, so
 * their values are computed here, and it knows which attempts are new:
 * those are written as COPY writes (bulk_insert.c: a WAL record per page,
 * no speculative insertion; this was a fifth of the merger's time as an
 * INSERT ... ON CONFLICT), the ones it read through one INSERT ... ON
 * CONFLICT DO UPDATE.
 */
static void
store_attempts(const char *cluster, const char *inc, const MergedAttempts *m,
			   const bool *to_hist, const bool *to_wait)
{
	static const char *const cols[] = {"cluster", "incarnation", "task_id", "attempt_number", "events",
	"event_ids", "in_history", "waiting_definition", "expired", "updated_at"};
	Datum		row[lengthof(cols)];
	bool		nulls[lengthof(cols)] = {0};
	RaydarBulkInsert *bulk = NULL;
	bool		bulk_tried = false;
	Datum	   *tids = palloc(sizeof(Datum) * (m->n + 1));
	Datum	   *atts = palloc(sizeof(Datum) * (m->n + 1));
	Datum	   *evs = palloc(sizeof(Datum) * (m->n + 1));
	Datum	   *ids = palloc(sizeof(Datum) * (m->n + 1));
	Datum	   *hs = palloc(sizeof(Datum) * (m->n + 1));
	Datum	   *ws = palloc(sizeof(Datum) * (m->n + 1));
	int			nold = 0;
	Oid			t[8] = {TEXTOID, TEXTOID, BYTEAARRAYOID, INT4ARRAYOID, BYTEAARRAYOID, BYTEAARRAYOID,
	BOOLARRAYOID, BOOLARRAYOID};
	Datum		a[8];

	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(inc);
	row[0] = a[0];
	row[1] = a[1];
	row[8] = BoolGetDatum(false);
	row[9] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());	/* now() */
	for (int k = 0; k < m->n; k++)
	{
		bool		in_hist = to_hist[k] || m->in_history[k];

		/* NULL: the table has triggers (a user's), which only SQL fires. */
		if (!m->stored[k] && !bulk_tried)
		{
			bulk = raydar_bulk_insert_begin("raydar", "event_attempts", cols, lengthof(cols));
			bulk_tried = true;
		}
		if (!m->stored[k] && bulk != NULL)
		{
			row[2] = m->tids[k];
			row[3] = m->atts[k];
			row[4] = PointerGetDatum(m->events[k]);
			row[5] = PointerGetDatum(m->ids[k]);
			row[6] = BoolGetDatum(in_hist);
			row[7] = BoolGetDatum(to_wait[k]);
			raydar_bulk_insert_row(bulk, row, nulls);
			continue;
		}
		tids[nold] = m->tids[k];
		atts[nold] = m->atts[k];
		evs[nold] = PointerGetDatum(m->events[k]);
		ids[nold] = PointerGetDatum(m->ids[k]);
		hs[nold] = BoolGetDatum(in_hist);
		ws[nold] = BoolGetDatum(to_wait[k]);
		nold++;
	}
	if (bulk != NULL)
		raydar_bulk_insert_end(bulk);
	event_attempts_merged += m->n;
	if (nold == 0)
		return;
	a[2] = raydar_array_datum(tids, NULL, nold, BYTEAOID);
	a[3] = raydar_array_datum(atts, NULL, nold, INT4OID);
	a[4] = raydar_array_datum(evs, NULL, nold, BYTEAOID);
	a[5] = raydar_array_datum(ids, NULL, nold, BYTEAOID);
	a[6] = raydar_array_datum(hs, NULL, nold, BOOLOID);
	a[7] = raydar_array_datum(ws, NULL, nold, BOOLOID);
	if (SPI_execute_with_args("INSERT INTO raydar.event_attempts AS e (cluster, incarnation, task_id, attempt_number, "
							  "events, event_ids, in_history, waiting_definition) "
							  "SELECT $1, $2, u.* FROM unnest($3::bytea[], $4::int[], $5::bytea[], $6::bytea[], "
							  "$7::bool[], $8::bool[]) AS u "
							  "ON CONFLICT (cluster, incarnation, task_id, attempt_number) DO UPDATE "
							  "SET events = EXCLUDED.events, event_ids = EXCLUDED.event_ids, "
							  "in_history = EXCLUDED.in_history, waiting_definition = EXCLUDED.waiting_definition, "
							  "updated_at = now()",
							  8, t, a, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not merge into raydar.event_attempts");
}

/*
 * Derive the rows of the merged attempts m and write them: terminal ones
 * with their definition (or, settling, without) to task_history, the rest
 * to task_live.
 */
static void
write_attempts(const char *cluster, const char *inc, const PushClusterInfo *ci,
			   MergedAttempts *m, ProtobufCAllocator *alloc, bool settling)
{
	RayTaskReply *reply;
	char		err[512];
	RayStatus	rs;
	List	   *hist = NIL,
			   *live = NIL,
			   *replace = NIL,
			   *moved_live = NIL;
	bool	   *to_hist;
	bool	   *to_wait;

	if (m->n == 0)
		return;
	unpack_merged(m, alloc);
	rs = ray_task_reply_from_events(&m->msg, &ci->v, alloc, &reply, err, sizeof(err));
	raydar_report_core_error(rs, "deriving pushed task attempts", err);
	to_hist = palloc0(sizeof(bool) * (reply->nrows + 1));
	to_wait = palloc0(sizeof(bool) * (reply->nrows + 1));
	for (size_t k = 0; k < reply->nrows; k++)
	{
		const RayTaskRow *row = &reply->rows[k];
		RayTaskState st = ray_task_status_meaning(&reply->version, row->state);
		bool		terminal = row->has_end_ms && (st == RAY_TS_FINISHED || st == RAY_TS_FAILED);

		if (terminal && (row->info != NULL || settling))
		{
			to_hist[k] = true;
			hist = lappend_int(hist, (int) k);
			if (m->in_history[k])
				replace = lappend_int(replace, (int) k);
			else
				moved_live = lappend_int(moved_live, (int) k);
		}
		else
		{
			to_wait[k] = terminal;
			live = lappend_int(live, (int) k);
		}
	}
	/*
	 * A polled cluster's task_live is the poller's. Of a push-only cluster
	 * it shows the newest session's attempts: they replace whatever row
	 * their key has (task_live is keyed without the incarnation: a job's
	 * driver task has the same id in every session). An earlier session's
	 * attempts (a late body, or its ended job's marking) only leave it,
	 * matched with their incarnation (see bind_session in event_merge.c),
	 * as do those of a cluster no longer received (raydar.stop_receiving
	 * emptied its task_live; its spooled bodies are still merged).
	 */
	if (!ci->polled && ci->found && (ci->live_inc == NULL || strcmp(ci->live_inc, inc) == 0))
	{
		history_store_delete(HISTORY_LIVE, cluster, NULL, reply, list_concat_copy(live, moved_live));
		history_store_write(HISTORY_LIVE, cluster, inc, reply, live);
	}
	else if (!ci->polled)
		history_store_delete(HISTORY_LIVE, cluster, inc, reply, moved_live);
	if (hist != NIL)
	{
		/*
		 * Each attempt's row is replaced as a whole. Unless the poller also
		 * writes this cluster, event_attempts says exactly what history
		 * holds (in_history; expired attempts are skipped above), so the
		 * rest are new to it: the bulk path.
		 */
		history_store_delete(HISTORY_MERGE, cluster, inc, reply, replace);
		history_store_add_partitions(reply, hist);
		history_store_write(ci->polled ? HISTORY_MERGE : HISTORY_NEW, cluster, inc, reply,
							history_store_key_order(reply, hist));
	}
	store_attempts(cluster, inc, m, to_hist, to_wait);
	ray_task_reply_free(reply);
}

void
event_attempts_merge(const char *cluster, const PushClusterInfo *ci, AttemptKey *keys, int n)
{
	ProtobufCAllocator alloc;

	raydar_allocator_init(&alloc, CurrentMemoryContext);
	if (n > 1)
		qsort(keys, n, sizeof(AttemptKey), cmp_key);
	for (int i = 0; i < n;)
	{
		int			j = i;
		MergedAttempts m;

		while (j < n && strcmp(keys[j].inc, keys[i].inc) == 0)
			j++;
		merge_fresh(cluster, keys[i].inc, keys, i, j, &m);
		write_attempts(cluster, keys[i].inc, ci, &m, &alloc, false);
		i = j;
	}
}

/* Rows of a statement returning (task_id, attempt_number, events, event_ids, in_history) into m. */
static void
read_waiting(MergedAttempts *m)
{
	merged_init(m, (int) SPI_processed);
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		HeapTuple	tup = SPI_tuptable->vals[k];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;

		m->tids[m->n] = PointerGetDatum(DatumGetByteaPCopy(SPI_getbinval(tup, td, 1, &isnull)));
		m->atts[m->n] = SPI_getbinval(tup, td, 2, &isnull);
		m->events[m->n] = DatumGetByteaPCopy(SPI_getbinval(tup, td, 3, &isnull));
		m->ids[m->n] = DatumGetByteaPCopy(SPI_getbinval(tup, td, 4, &isnull));
		m->stored[m->n] = true;
		m->in_history[m->n] = DatumGetBool(SPI_getbinval(tup, td, 5, &isnull));
		m->n++;
	}
}

uint64
event_attempts_settle_undefined(void)
{
	Oid			t[1] = {INT4OID};
	Datum		a[1];
	uint64		total = 0;
	ProtobufCAllocator alloc;
	SPITupleTable *groups;

	raydar_allocator_init(&alloc, CurrentMemoryContext);
	a[0] = Int32GetDatum(event_definition_wait_s);
	/* The (cluster, incarnation)s that have such attempts (a partial index); then each. */
	if (SPI_execute_with_args("SELECT DISTINCT cluster, incarnation FROM raydar.event_attempts "
							  "WHERE waiting_definition AND updated_at < now() - make_interval(secs => $1)",
							  1, t, a, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.event_attempts");
	groups = SPI_tuptable;
	for (uint64 g = 0; g < groups->numvals; g++)
	{
		Oid			t2[3] = {TEXTOID, TEXTOID, INT4OID};
		Datum		a2[3];
		PushClusterInfo ci;
		MergedAttempts m;
		char	   *cluster = SPI_getvalue(groups->vals[g], groups->tupdesc, 1);
		char	   *inc = SPI_getvalue(groups->vals[g], groups->tupdesc, 2);

		event_push_cluster_info(cluster, &ci);
		a2[0] = CStringGetTextDatum(cluster);
		a2[1] = CStringGetTextDatum(inc);
		a2[2] = a[0];
		if (SPI_execute_with_args("SELECT task_id, attempt_number, events, event_ids, in_history "
								  "FROM raydar.event_attempts "
								  "WHERE cluster = $1 AND incarnation = $2 AND waiting_definition "
								  "AND NOT expired AND updated_at < now() - make_interval(secs => $3) "
								  "ORDER BY task_id, attempt_number",
								  3, t2, a2, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read raydar.event_attempts");
		total += SPI_processed;
		read_waiting(&m);
		write_attempts(cluster, inc, &ci, &m, &alloc, true);
	}
	return total;
}

/* Does the merged attempt (packed TaskEvents) have FINISHED or FAILED? Ray's IsTaskTerminated. */
static bool
attempt_terminated(const bytea *events, const RayVersion *v, ProtobufCAllocator *alloc)
{
	Ray__Rpc__TaskEvents *te = ray__rpc__task_events__unpack(alloc, VARSIZE_ANY_EXHDR(events),
															   (const uint8_t *) VARDATA_ANY(events));
	int			finished = ray_task_status_number(v, RAY_TS_FINISHED);
	int			failed = ray_task_status_number(v, RAY_TS_FAILED);
	bool		done = false;

	if (te == NULL)
		elog(ERROR, "raydar.event_attempts holds an attempt that does not parse");
	if (te->state_updates != NULL)
		for (size_t i = 0; i < te->state_updates->n_state_ts_ns; i++)
			if (te->state_updates->state_ts_ns[i]->key == finished ||
				te->state_updates->state_ts_ns[i]->key == failed)
				done = true;
	ray__rpc__task_events__free_unpacked(te, alloc);
	return done;
}

/*
 * What GcsTaskManagerStorage::MarkTaskAttemptFailedIfNeeded writes into an
 * attempt, as a packed TaskEvents to append (MergeFrom): FAILED at
 * failed_ns and error_info WORKER_DIED with message (and the job id, when
 * job_id is not NULL: the attempt's own). Ray replaces error_info
 * (CopyFrom) where this merges it; an attempt that is neither FINISHED nor
 * FAILED has none in practice.
 */
static bytea *
failed_events(const bytea *task_id, int32 attempt, const bytea *job_id, int64 failed_ns,
			  int failed_state, const char *message)
{
	Ray__Rpc__TaskEvents te = RAY__RPC__TASK_EVENTS__INIT;
	Ray__Rpc__TaskStateUpdate su = RAY__RPC__TASK_STATE_UPDATE__INIT;
	Ray__Rpc__TaskStateUpdate__StateTsNsEntry e = RAY__RPC__TASK_STATE_UPDATE__STATE_TS_NS_ENTRY__INIT;
	Ray__Rpc__TaskStateUpdate__StateTsNsEntry *ep = &e;
	Ray__Rpc__RayErrorInfo ei = RAY__RPC__RAY_ERROR_INFO__INIT;
	size_t		len;
	bytea	   *b;

	te.has_task_id = 1;
	te.task_id.data = (uint8_t *) VARDATA_ANY(task_id);
	te.task_id.len = VARSIZE_ANY_EXHDR(task_id);
	te.has_attempt_number = 1;
	te.attempt_number = attempt;
	if (job_id != NULL)
	{
		te.has_job_id = 1;
		te.job_id.data = (uint8_t *) VARDATA_ANY(job_id);
		te.job_id.len = VARSIZE_ANY_EXHDR(job_id);
	}
	e.has_key = 1;
	e.key = failed_state;
	e.has_value = 1;
	e.value = failed_ns;
	su.n_state_ts_ns = 1;
	su.state_ts_ns = &ep;
	ei.has_error_type = 1;
	ei.error_type = 0;			/* WORKER_DIED in every version */
	ei.error_message = (char *) message;
	su.error_info = &ei;
	te.state_updates = &su;
	len = ray__rpc__task_events__get_packed_size(&te);
	b = palloc(VARHDRSZ + len);
	SET_VARSIZE(b, VARHDRSZ + len);
	ray__rpc__task_events__pack(&te, (uint8_t *) VARDATA(b));
	return b;
}

/*
 * What Ray's GCS writes into the attempts it marks FAILED: when (ns), the
 * WORKER_DIED message, and the job id for a job's attempts (NULL for a
 * worker's: each keeps its own).
 */
typedef struct GcsMark
{
	int64		failed_ns;
	const char *message;
	bytea	   *job_id;
} GcsMark;

/*
 * The attempts of one ended job or dead worker (rows of read_waiting's
 * shape, in SPI_tuptable) marked as Ray's GCS marks them; the last one's
 * key into *last_tid / *last_att. Returns how many were marked.
 */
static uint64
mark_attempts(const char *cluster, const char *inc, const PushClusterInfo *ci, const GcsMark *mark,
			  ProtobufCAllocator *alloc, char **last_tid, int32 *last_att)
{
	MergedAttempts all,
				m;
	int			failed_state = ray_task_status_number(&ci->v, RAY_TS_FAILED);

	read_waiting(&all);
	merged_init(&m, all.n);
	for (int k = 0; k < all.n; k++)
	{
		if (attempt_terminated(all.events[k], &ci->v, alloc))
			continue;
		m.tids[m.n] = all.tids[k];
		m.atts[m.n] = all.atts[k];
		m.events[m.n] = bytea_cat(all.events[k],
								  failed_events(DatumGetByteaPP(all.tids[k]), DatumGetInt32(all.atts[k]),
												mark->job_id, mark->failed_ns, failed_state, mark->message));
		m.ids[m.n] = all.ids[k];
		m.stored[m.n] = true;
		m.in_history[m.n] = all.in_history[k];
		m.n++;
	}
	if (all.n > 0)
	{
		bytea	   *t = DatumGetByteaPP(all.tids[all.n - 1]);

		*last_tid = palloc(2 * VARSIZE_ANY_EXHDR(t) + 1);
		(*last_tid)[hex_encode(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), *last_tid)] = '\0';
		*last_att = DatumGetInt32(all.atts[all.n - 1]);
	}
	write_attempts(cluster, inc, ci, &m, alloc, false);
	return (uint64) m.n;
}

/*
 * Mark the unfinished attempts of one ended job or dead worker: the
 * push-only cluster's task_live rows whose keycol (job_id: TaskEvents.job_id,
 * Ray's job index; worker_id: the state updates' worker, Ray's worker
 * index) is key, FAIL_BATCH at a time in task_live's key order (a job may
 * leave any number: memory stays bounded). Returns how many.
 */
#define FAIL_BATCH 2000

static uint64
mark_live(const char *cluster, const char *inc, const PushClusterInfo *ci, const char *keycol, bytea *key,
		  const GcsMark *mark)
{
	Oid			t[5] = {TEXTOID, TEXTOID, BYTEAOID, TEXTOID, INT4OID};
	Datum		a[5];
	char	   *last_tid = "";
	int32		last_att = -1;
	uint64		n = 0;
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "raydar GCS mark batch",
													ALLOCSET_DEFAULT_SIZES);
	char	   *sql = psprintf("SELECT e.task_id, e.attempt_number, e.events, e.event_ids, e.in_history "
							   "FROM raydar.task_live l JOIN raydar.event_attempts e "
							   "ON e.cluster = l.cluster AND e.incarnation = l.incarnation "
							   "AND e.task_id = decode(l.task_id, 'hex') AND e.attempt_number = l.attempt_number "
							   "WHERE l.cluster = $1 AND l.incarnation = $2 AND l.%s = encode($3, 'hex') "
							   "AND (l.task_id, l.attempt_number) > ($4, $5) "
							   "AND NOT e.expired AND NOT e.in_history "
							   "ORDER BY l.task_id, l.attempt_number LIMIT " CppAsString2(FAIL_BATCH),
							   keycol);
	ProtobufCAllocator alloc;	/* unpacked attempts: freed with each batch */

	raydar_allocator_init(&alloc, batch_cxt);

	a[0] = CStringGetTextDatum(cluster);
	a[1] = CStringGetTextDatum(inc);
	a[2] = PointerGetDatum(key);
	for (;;)
	{
		MemoryContext old;
		uint64		rows;
		SPITupleTable *read;

		a[3] = CStringGetTextDatum(last_tid);
		a[4] = Int32GetDatum(last_att);
		if (SPI_execute_with_args(sql, 5, t, a, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read raydar.event_attempts");
		rows = SPI_processed;
		read = SPI_tuptable;
		if (rows == 0)
			break;
		old = MemoryContextSwitchTo(batch_cxt);
		n += mark_attempts(cluster, inc, ci, mark, &alloc, &last_tid, &last_att);
		MemoryContextSwitchTo(old);
		last_tid = pstrdup(last_tid);
		SPI_freetuptable(read);
		MemoryContextReset(batch_cxt);
		if (rows < FAIL_BATCH)
			break;
	}
	MemoryContextDelete(batch_cxt);
	return n;
}

/*
 * One kind of failure Ray's GCS writes and exports nothing of: where the
 * pushed events that set it off are kept (table, keyed by key, which
 * task_live also has), how long after one arrived it is due (*wait_s), the
 * row's other columns the mark is made from (cols), and how (make: from the
 * due row, whose columns 4.. are cols, and the key in hex).
 */
typedef struct GcsMarkRule
{
	const char *table;
	const char *key;
	const int  *wait_s;
	const char *cols;
	void		(*make) (HeapTuple row, TupleDesc td, const char *key_hex, GcsMark *mark);
} GcsMarkRule;

/*
 * Mark what rule's due rows left unfinished, once per row. Due: the wait
 * has passed since the row was merged, and every body of its cluster
 * received within that wait has been merged (Ray's GCS has the events that
 * reach it in its delay; here a backlog in the spool, after an outage, must
 * not lose that race). A polled cluster's task_live is the poller's: it
 * stores the GCS's own marks, so nothing is marked there. Returns the
 * attempts marked.
 */
static uint64
mark_due(const GcsMarkRule *rule)
{
	Oid			t[1] = {INT4OID};
	Oid			t2[4] = {TEXTOID, TEXTOID, BYTEAOID, INT8OID};
	Datum		a[1];
	uint64		total = 0;
	SPITupleTable *due;

	if (*rule->wait_s < 0)
		return 0;
	a[0] = Int32GetDatum(*rule->wait_s);
	if (SPI_execute_with_args(psprintf("SELECT d.cluster, d.incarnation, d.%s, %s FROM raydar.%s d "
									   "WHERE d.marked_at IS NULL AND d.received_at <= now() - make_interval(secs => $1) "
									   "AND NOT EXISTS (SELECT 1 FROM raydar.event_spool s WHERE s.cluster = d.cluster "
									   "AND s.received_at <= d.received_at + make_interval(secs => $1)) "
									   "ORDER BY d.received_at LIMIT 1000", rule->key, rule->cols, rule->table),
							  1, t, a, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read raydar.%s", rule->table);
	due = SPI_tuptable;
	for (uint64 j = 0; j < due->numvals; j++)
	{
		Datum		a2[4];
		PushClusterInfo ci;
		bool		isnull;
		HeapTuple	row = due->vals[j];
		char	   *cluster = SPI_getvalue(row, due->tupdesc, 1);
		char	   *inc = SPI_getvalue(row, due->tupdesc, 2);
		bytea	   *key = DatumGetByteaPCopy(SPI_getbinval(row, due->tupdesc, 3, &isnull));
		char	   *hex = palloc(2 * VARSIZE_ANY_EXHDR(key) + 1);
		uint64		n = 0;
		GcsMark		mark;

		hex[hex_encode(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), hex)] = '\0';
		rule->make(row, due->tupdesc, hex, &mark);
		event_push_cluster_info(cluster, &ci);
		if (!ci.polled)
			n = mark_live(cluster, inc, &ci, rule->key, key, &mark);
		a2[0] = CStringGetTextDatum(cluster);
		a2[1] = CStringGetTextDatum(inc);
		a2[2] = PointerGetDatum(key);
		a2[3] = Int64GetDatum((int64) n);
		if (SPI_execute_with_args(psprintf("UPDATE raydar.%s SET marked_at = now(), marked = $4 "
										   "WHERE cluster = $1 AND incarnation = $2 AND %s = $3",
										   rule->table, rule->key),
								  4, t2, a2, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update raydar.%s", rule->table);
		total += n;
	}
	return total;
}

/* GcsTaskManager::OnJobFinished / MarkTasksFailedOnJobEnds: the job's end_time in ms. */
static void
job_end_mark(HeapTuple row, TupleDesc td, const char *job_hex, GcsMark *mark)
{
	bool		isnull;

	mark->failed_ns = DatumGetInt64(SPI_getbinval(row, td, 4, &isnull)) / 1000000 * 1000000;
	mark->message = psprintf("Job finishes (%s) as driver exits. Marking all non-terminal tasks as failed.", job_hex);
	mark->job_id = DatumGetByteaPCopy(SPI_getbinval(row, td, 3, &isnull));
}

/*
 * GcsTaskManagerStorage::MarkTasksFailedOnWorkerDead: the worker's
 * end_time_ms in ns (range-checked to fit: ray_event_worker.c, and the
 * table's CHECK), its exit type as a number (a C++ enum streamed), then its
 * exit detail; each attempt keeps its own job id.
 */
static void
worker_death_mark(HeapTuple row, TupleDesc td, const char *worker_hex, GcsMark *mark)
{
	bool		isnull;

	mark->failed_ns = DatumGetInt64(SPI_getbinval(row, td, 4, &isnull)) * 1000000;
	mark->message = psprintf("Worker running the task (%s) died with exit_type: %d with error_message: %s",
							 worker_hex, DatumGetInt32(SPI_getbinval(row, td, 5, &isnull)),
							 SPI_getvalue(row, td, 6));
	mark->job_id = NULL;
}

uint64
event_attempts_fail_ended_jobs(void)
{
	static const GcsMarkRule rule = {"event_job_ends", "job_id", &event_job_end_wait_s, "d.end_ns", job_end_mark};

	return mark_due(&rule);
}

uint64
event_attempts_fail_dead_workers(void)
{
	static const GcsMarkRule rule = {"event_worker_deaths", "worker_id", &event_worker_death_wait_s,
	"d.end_ms, d.exit_type, d.exit_detail", worker_death_mark};

	return mark_due(&rule);
}
