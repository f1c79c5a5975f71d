/*
 * version_check.c
 *		Refuse to run against SQL objects of another raydar version.
 *
 * Installing a new raydar library replaces raydar.so for every database
 * at once, while each database keeps the SQL objects of the version it was
 * created or last updated with (pg_extension.extversion) until someone
 * runs ALTER EXTENSION raydar UPDATE there. The library's SQL (the
 * collector's INSERTs, the tables it expects) may not match those objects,
 * so a scan of a foreign table and each collector poll check first and
 * stop with an error that names both versions and the command to run,
 * before anything is read from Ray or written to a table.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "raydar.h"

/* pg_extension.extversion of raydar in this database, or NULL. */
static char *
installed_version(void)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("raydar"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Negative, zero or positive as version a is older than, equal to or newer
 * than b: dot-separated numbers ("0.2" < "0.10" < "0.10.1"), anything
 * after the numbers compared as text.
 */
static int
compare_versions(const char *a, const char *b)
{
	for (;;)
	{
		char	   *ea,
				   *eb;
		long		na = strtol(a, &ea, 10),
					nb = strtol(b, &eb, 10);

		if (na != nb)
			return na < nb ? -1 : 1;
		if (*ea != '.' && *eb != '.')
			return strcmp(ea, eb);
		if (*ea != '.')
			return -1;
		if (*eb != '.')
			return 1;
		a = ea + 1;
		b = eb + 1;
	}
}

/*
 * raydar_check_sql_version(): ERROR unless raydar's SQL objects in this
 * database are the version of this library. Quiet while raydar is not
 * installed here (there is nothing to mismatch) and inside CREATE or ALTER
 * EXTENSION (the objects are being changed). Needs a transaction.
 */
void
raydar_check_sql_version(void)
{
	char	   *sql_version;
	const char *db;

	if (creating_extension)
		return;
	sql_version = installed_version();
	if (sql_version == NULL || strcmp(sql_version, RAYDAR_VERSION) == 0)
		return;
	db = get_database_name(MyDatabaseId);
	if (compare_versions(sql_version, RAYDAR_VERSION) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("raydar's SQL objects in database \"%s\" are version %s, but the raydar library is version %s",
						db ? db : "?", sql_version, RAYDAR_VERSION),
				 errdetail("raydar neither reads from Ray nor writes any row until they match."),
				 errhint("Run ALTER EXTENSION raydar UPDATE in database \"%s\".",
						 db ? db : "?")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("raydar's SQL objects in database \"%s\" are version %s, but the raydar library is version %s",
					db ? db : "?", sql_version, RAYDAR_VERSION),
			 errdetail("raydar neither reads from Ray nor writes any row until they match."),
			 errhint("The library is older than the SQL objects: install raydar %s and restart PostgreSQL.",
					 sql_version)));
}
