/*
 * worker_recovery.c
 *		Keep a background worker going after an ERROR, as PostgresMain does.
 *
 * raydar's workers (the collector's launcher and per-server workers, the
 * metrics scraper) catch the errors of one cycle so that one bad poll or
 * scrape does not restart the process: the transaction is aborted, the
 * error state cleared, and the loop goes on. One function, so that every
 * worker recovers the same way.
 */
#include "raydar.h"

#include "access/xact.h"
#include "miscadmin.h"

/*
 * Call in PG_CATCH. With emit the error is logged and NULL returned;
 * otherwise it is returned, copied into cxt, for the caller to record.
 * cxt is current on return either way.
 */
ErrorData *
raydar_worker_recover(MemoryContext cxt, bool emit)
{
	ErrorData  *edata = NULL;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	if (emit)
		EmitErrorReport();
	else
		edata = CopyErrorData();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	RESUME_INTERRUPTS();
	return edata;
}
