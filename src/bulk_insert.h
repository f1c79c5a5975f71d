/*
 * bulk_insert.h
 *		Insert built rows straight into a (partitioned) table, as COPY does.
 *
 * See bulk_insert.c.
 */
#ifndef RAYDAR_BULK_INSERT_H
#define RAYDAR_BULK_INSERT_H

#include "postgres.h"

typedef struct RaydarBulkInsert RaydarBulkInsert;

/*
 * Start inserting into schema.table the columns named in colnames (ncols of
 * them, in the order values will be given); the table's other columns get
 * NULL. Returns NULL when the table has row triggers, which this path would
 * not fire: the caller then uses SQL. Needs a transaction; holds
 * RowExclusiveLock on the table until it ends.
 */
extern RaydarBulkInsert *raydar_bulk_insert_begin(const char *schema, const char *table,
												  const char *const *colnames, int ncols);
/* values must stay valid until the next flush or end. */
extern void raydar_bulk_insert_row(RaydarBulkInsert *bi, const Datum *values, const bool *nulls);
extern void raydar_bulk_insert_flush(RaydarBulkInsert *bi);
extern void raydar_bulk_insert_end(RaydarBulkInsert *bi);

#endif							/* RAYDAR_BULK_INSERT_H */
