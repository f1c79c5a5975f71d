/*
 * history_store.h
 *		Writing task attempts into raydar.task_history and raydar.task_live.
 *
 * One place for how a decoded attempt becomes a stored row: the poller
 * (collector_poll.c), whatever source its rows come from, and the push receiver
 * write through it, so the same attempt gives the same row whichever way it
 * arrived. Rows are read with the task column getters (task_columns.c); the
 * history is keyed by (cluster, incarnation, task_id, attempt_number,
 * end_time) and partitioned by day of end_time.
 *
 * All functions need a transaction, an active snapshot and SPI_connect.
 */
#ifndef RAYDAR_HISTORY_STORE_H
#define RAYDAR_HISTORY_STORE_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "ray_tasks.h"

typedef enum HistoryWrite
{
	/*
	 * Attempts known to be new to history (history holds nothing of this
	 * incarnation, or the caller knows exactly what it wrote): straight into
	 * the partitions, as COPY does (bulk_insert.c), or a plain INSERT where
	 * the table has triggers.
	 */
	HISTORY_NEW,

	/*
	 * Attempts history may hold already: INSERT ... ON CONFLICT DO NOTHING,
	 * and of an attempt whose end moved (FINISHED, then FAILED later) the
	 * older row is deleted, so each attempt is stored once.
	 */
	HISTORY_MERGE,

	/* Not yet terminal attempts into raydar.task_live (plain INSERT). */
	HISTORY_LIVE
} HistoryWrite;

/*
 * Write the attempts at positions (reply positions: a List of int) of
 * attempts, which is either an index (ray_task_reply_index: each attempt
 * is unpacked as it is written, so peak memory is one batch) or a reply
 * with its rows in memory. Returns how many attempts were new to the table
 * (for HISTORY_MERGE, moved attempts are not counted as new).
 */
extern uint64 history_store_write(HistoryWrite how, const char *cluster, const char *incarnation,
								  RayTaskReply *attempts, List *positions);

/*
 * The value of one column of one attempt as the writer wants it stored:
 * col->get's, or NULL where the rows' source does not carry the column or
 * could not read the value (the collector over HTTP: raydar_source_value).
 * ctx is the caller's.
 */
typedef Datum (*HistoryValueFn) (void *ctx, const RaydarColumn *col, RayTaskReply *attempts,
								 const RayTaskRow *row, RayBuf *scratch, bool *isnull);

/*
 * history_store_write, each value read by value(ctx, ...) rather than the
 * column's getter (value NULL: the getter).
 */
extern uint64 history_store_write_with(HistoryWrite how, const char *cluster,
									   const char *incarnation, RayTaskReply *attempts,
									   List *positions, HistoryValueFn value, void *ctx);

/*
 * Make the daily task_history partitions the attempts' end times fall in:
 * rows is a reply whose rows are in memory (a keys pass is enough), and
 * positions index its rows.
 */
extern void history_store_add_partitions(const RayTaskReply *rows, List *positions);

/*
 * Delete the stored rows of the attempts at positions (of rows, a reply
 * whose rows are in memory): from task_live (how = HISTORY_LIVE; that
 * table is keyed without the incarnation, so incarnation NULL deletes the
 * attempt's row whichever incarnation it has) or from task_history (any
 * other how), whatever their end_time. For a writer that replaces an
 * attempt's row when the attempt changes (the push receiver). Returns rows
 * deleted.
 */
extern uint64 history_store_delete(HistoryWrite how, const char *cluster, const char *incarnation,
								   const RayTaskReply *rows, List *positions);

/* Does task_history hold nothing of this incarnation of the cluster? */
extern bool history_store_is_empty(const char *cluster, const char *incarnation);

/*
 * positions (of rows, a reply whose rows are in memory) in primary key order (task id bytes, then attempt), without a
 * second position for the same attempt: each index insert then lands next
 * to the last one. The result is a new List unless there are fewer than 2.
 */
extern List *history_store_key_order(const RayTaskReply *rows, List *positions);

#endif							/* RAYDAR_HISTORY_STORE_H */
