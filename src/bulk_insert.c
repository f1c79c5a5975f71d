/*
 * bulk_insert.c
 *		Insert built rows straight into a (partitioned) table, as COPY does.
 *
 * The collector writes up to 100,000 task attempts per poll. Going through
 * SQL (INSERT ... SELECT FROM unnest($1, ..., $29)) costs, per row: copying
 * every value into an array, unnest materializing the rows into a
 * tuplestore (which spills to disk past work_mem), projection, and one WAL
 * record per heap tuple. This file does what COPY FROM does instead
 * (src/backend/commands/copyfrom.c): route each row with the executor's
 * partition routing, buffer rows per partition, write them with
 * table_multi_insert (one WAL record per heap page), then insert their index
 * entries and check their constraints. Unique violations raise the usual
 * error, so this is for rows known to be new: the caller keeps
 * INSERT ... ON CONFLICT for the others.
 *
 * Row triggers are not fired here; a table with any (on the parent, or on a
 * partition met while routing) is refused, and the caller falls back to SQL
 * (or reports the error), so a user's trigger is never silently skipped.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/execPartition.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "bulk_insert.h"

/* As COPY: flush a partition's buffer at this many rows. */
#define BUFFERED_ROWS 1000

/* Rows waiting for one partition. */
typedef struct PartitionBuffer
{
	ResultRelInfo *rri;
	TupleTableSlot *slots[BUFFERED_ROWS];
	int			nused;
} PartitionBuffer;

struct RaydarBulkInsert
{
	Relation	rel;			/* the table named to begin */
	EState	   *estate;
	ModifyTableState *mtstate;
	ResultRelInfo *root;
	PartitionTupleRouting *proute;	/* NULL if rel is not partitioned */
	TupleTableSlot *root_slot;
	BulkInsertState bistate;
	CommandId	cid;
	int			natts;
	int		   *attno;			/* per given column: its index in rel */
	int			ncols;
	List	   *buffers;		/* of PartitionBuffer, one per partition met */
	PartitionBuffer *last;		/* rows usually come in runs of one partition */
};

RaydarBulkInsert *
raydar_bulk_insert_begin(const char *schema, const char *table,
						 const char *const *colnames, int ncols)
{
	RaydarBulkInsert *bi = palloc0(sizeof(RaydarBulkInsert));
	Oid			relid;
	RangeTblEntry *rte;
	TupleDesc	desc;

	relid = get_relname_relid(table, get_namespace_oid(schema, false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", schema, table)));
	bi->rel = table_open(relid, RowExclusiveLock);
	if (bi->rel->trigdesc != NULL)
	{
		table_close(bi->rel, RowExclusiveLock);
		pfree(bi);
		return NULL;
	}
	desc = RelationGetDescr(bi->rel);
	bi->natts = desc->natts;
	bi->ncols = ncols;
	bi->attno = palloc(sizeof(int) * ncols);
	for (int c = 0; c < ncols; c++)
	{
		bi->attno[c] = -1;
		for (int a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), colnames[c]) == 0)
				bi->attno[c] = a;
		}
		if (bi->attno[c] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s.%s\" does not exist",
							colnames[c], schema, table),
					 errhint("The raydar extension's tables do not match this library: "
							 "run ALTER EXTENSION raydar UPDATE.")));
	}

	/* The executor state COPY FROM sets up (copyfrom.c, CopyFrom). */
	bi->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = bi->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_INSERT;
	ExecInitRangeTable(bi->estate, list_make1(rte));
	bi->root = makeNode(ResultRelInfo);
	ExecInitResultRelation(bi->estate, bi->root, 1);
	bi->cid = GetCurrentCommandId(true);
	bi->estate->es_output_cid = bi->cid;

	bi->mtstate = makeNode(ModifyTableState);
	bi->mtstate->ps.plan = NULL;
	bi->mtstate->ps.state = bi->estate;
	bi->mtstate->operation = CMD_INSERT;
	bi->mtstate->mt_nrels = 1;
	bi->mtstate->resultRelInfo = bi->root;
	bi->mtstate->rootResultRelInfo = bi->root;

	if (bi->rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		bi->proute = ExecSetupPartitionTupleRouting(bi->estate, bi->rel);
	else
		ExecOpenIndices(bi->root, false);
	bi->root_slot = ExecInitExtraTupleSlot(bi->estate, desc, &TTSOpsVirtual);
	bi->bistate = GetBulkInsertState();
	return bi;
}

/* Write one partition's buffered rows: heap first, then index entries. */
static void
flush_buffer(RaydarBulkInsert *bi, PartitionBuffer *buf)
{
	ResultRelInfo *rri = buf->rri;
	MemoryContext old;

	if (buf->nused == 0)
		return;
	old = MemoryContextSwitchTo(GetPerTupleMemoryContext(bi->estate));
	table_multi_insert(rri->ri_RelationDesc, buf->slots, buf->nused, bi->cid, 0, bi->bistate);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < buf->nused; i++)
	{
		if (rri->ri_NumIndices > 0)
		{
			List	   *recheck;

			old = MemoryContextSwitchTo(GetPerTupleMemoryContext(bi->estate));
			recheck = ExecInsertIndexTuples(rri, buf->slots[i], bi->estate,
											false, false, NULL, NIL);
			MemoryContextSwitchTo(old);
			list_free(recheck);
		}
		ExecClearTuple(buf->slots[i]);
		ResetPerTupleExprContext(bi->estate);
	}
	buf->nused = 0;
	/* As COPY: don't keep a pin on a page of a partition we may not return to. */
	ReleaseBulkInsertStatePin(bi->bistate);
}

static PartitionBuffer *
buffer_for(RaydarBulkInsert *bi, ResultRelInfo *rri)
{
	PartitionBuffer *buf;
	MemoryContext old;
	ListCell   *lc;

	if (bi->last != NULL && bi->last->rri == rri)
		return bi->last;
	foreach(lc, bi->buffers)
	{
		buf = lfirst(lc);
		if (buf->rri == rri)
			return bi->last = buf;
	}
	if (rri->ri_TrigDesc != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("partition \"%s\" of \"%s\" has triggers, which the collector's bulk insert does not fire",
						RelationGetRelationName(rri->ri_RelationDesc),
						RelationGetRelationName(bi->rel)),
				 errhint("Create the trigger on \"%s\" itself: the collector then inserts through SQL and fires it.",
						 RelationGetRelationName(bi->rel))));
	/* Buffers live as long as the executor state, not the caller's context. */
	old = MemoryContextSwitchTo(bi->estate->es_query_cxt);
	buf = palloc0(sizeof(PartitionBuffer));
	buf->rri = rri;
	for (int i = 0; i < BUFFERED_ROWS; i++)
		buf->slots[i] = table_slot_create(rri->ri_RelationDesc, &bi->estate->es_tupleTable);
	bi->buffers = lappend(bi->buffers, buf);
	MemoryContextSwitchTo(old);
	return bi->last = buf;
}

/*
 * Queue one row: values and nulls in the order of begin's colnames. The
 * values must stay valid until the next raydar_bulk_insert_flush or _end
 * (a partition's buffer is also written when it fills up).
 */
void
raydar_bulk_insert_row(RaydarBulkInsert *bi, const Datum *values, const bool *nulls)
{
	TupleTableSlot *slot = bi->root_slot;
	ResultRelInfo *rri = bi->root;
	PartitionBuffer *buf;
	TupleTableSlot *dst;

	ExecClearTuple(slot);
	for (int a = 0; a < bi->natts; a++)
		slot->tts_isnull[a] = true;
	for (int c = 0; c < bi->ncols; c++)
	{
		slot->tts_values[bi->attno[c]] = values[c];
		slot->tts_isnull[bi->attno[c]] = nulls[c];
	}
	ExecStoreVirtualTuple(slot);

	if (bi->proute != NULL)
		rri = ExecFindPartition(bi->mtstate, bi->root, bi->proute, slot, bi->estate);
	buf = buffer_for(bi, rri);
	dst = buf->slots[buf->nused];
	if (rri->ri_RootToPartitionMap != NULL)
		dst = execute_attr_map_slot(rri->ri_RootToPartitionMap->attrMap, slot, dst);
	else
	{
		/* Same layout: copy the values (the slot is the partition's type). */
		ExecClearTuple(dst);
		memcpy(dst->tts_values, slot->tts_values, sizeof(Datum) * bi->natts);
		memcpy(dst->tts_isnull, slot->tts_isnull, sizeof(bool) * bi->natts);
		ExecStoreVirtualTuple(dst);
	}
	/* NOT NULL and CHECK constraints, as INSERT checks them. */
	if (rri->ri_RelationDesc->rd_att->constr)
		ExecConstraints(rri, dst, bi->estate);
	buf->nused++;
	if (buf->nused == BUFFERED_ROWS)
		flush_buffer(bi, buf);
}

/* Write every buffered row. */
void
raydar_bulk_insert_flush(RaydarBulkInsert *bi)
{
	ListCell   *lc;

	foreach(lc, bi->buffers)
		flush_buffer(bi, lfirst(lc));
}

void
raydar_bulk_insert_end(RaydarBulkInsert *bi)
{
	raydar_bulk_insert_flush(bi);
	FreeBulkInsertState(bi->bistate);
	if (bi->proute != NULL)
		ExecCleanupTupleRouting(bi->mtstate, bi->proute);
	/* The root's indexes are closed with it, as a result relation (as COPY). */
	ExecResetTupleTable(bi->estate->es_tupleTable, false);
	ExecCloseResultRelations(bi->estate);
	ExecCloseRangeTableRelations(bi->estate);
	FreeExecutorState(bi->estate);
	table_close(bi->rel, NoLock);
}
