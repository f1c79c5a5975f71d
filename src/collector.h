/*
 * collector.h
 *		The collector's parts, shared between its files (not an API).
 *
 * The collector keeps every finished task attempt of each tracked server
 * (docs/architecture.md, "The collector's phases"). Its files, one purpose each:
 *
 *	 collector_launcher.c	GUCs, registration at preload, the launcher (one
 *							worker per tracked server), the shared memory
 *							and the wake-up at commit of raydar.track()
 *	 collector_worker.c		a per-server worker: its loop, schedule, backoff,
 *							and the recovery from a failed poll
 *	 collector_poll.c		one poll, as named phases: resolve, fetch,
 *							classify, store, publish, remember
 *	 collector_cluster.c	which cluster answers: its incarnation and Ray
 *							version, over gRPC or the dashboard
 *	 collector_seen.c		what a worker remembers between polls: the
 *							written-attempts set and each server's memory
 *	 collector_status.c		raydar.collector_status, collector_errors, NOTIFY
 *	 collector_entities.c	jobs, actors and nodes into their history tables
 *
 * Everything here runs in a collector background worker, never in a
 * user's backend, except raydar_wake_collector (launcher file).
 */
#ifndef RAYDAR_COLLECTOR_H
#define RAYDAR_COLLECTOR_H

#include "raydar.h"

#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "ray_cluster.h"
#include "ray_tasks.h"
#include "ray_version.h"

/* GUCs (collector_launcher.c). */
extern char *collector_database;
extern int	collector_poll_ms;
extern bool collector_enabled;

/*
 * The memory of the current cycle (a poll, or a launcher round), reset at
 * the start of each; set up by the process's main function.
 */
extern MemoryContext collector_cycle_cxt;

/*
 * A cluster's incarnation: each start of a Ray cluster, known by what Ray
 * reports (the GCS's ClusterID as hex: 56 characters; or the dashboard's
 * session_name). A longer one is refused, never cut short: two
 * incarnations must not become one.
 */
#define INCARNATION_MAX 200

/*
 * What a worker remembers of a tracked server between polls. tracked_at as
 * last seen: a server untracked and tracked again (even between two polls)
 * starts with nothing remembered.
 */
typedef struct TrackedServer
{
	char		name[NAMEDATALEN];
	TimestampTz tracked_at;
	bool		has_live_fp;	/* live rows written with this fingerprint */
	uint64		live_fp;
	RayVersion	version;		/* as of the last poll; major 0: unknown */
	bool		warned_version; /* "the option wins" said once */
	char		incarnation[INCARNATION_MAX + 1];	/* as of the last poll; "" unknown */
	char	   *last_warning;	/* of the last poll, TopMemoryContext; NULL: none */
} TrackedServer;

/* collector_launcher.c */
extern List *collector_tracked_servers(bool sync);

/* collector_worker.c */
extern int	collector_backoff_ms(int failures);

/* collector_poll.c */
extern void collector_poll_server(const char *name);

/* collector_cluster.c */
extern char *collector_identify(RaydarConn *conn, const char *name, TrackedServer *ts,
								RayVersion *v);

/* collector_seen.c */
extern void collector_seen_init(void);
extern uint32 collector_server_no(const char *name);
extern void collector_sync_tracked(List *names, List *tracked_ats);
extern TrackedServer *collector_find_tracked(const char *name);
extern void collector_forget_server(const char *name);
extern bool collector_written_before(void *ctx, const uint8_t *task_id, size_t len,
									 int32_t attempt, size_t entry_len);
extern bool collector_written_any(uint32 sno, const RayTaskRow *row);
extern void collector_mark_written(uint32 sno, const RayTaskReply *keys, List *positions,
								   int nnew);
extern bool collector_is_verified(const char *name);
extern void collector_set_verified(const char *name, bool verified);

/* collector_status.c */

/* A successful poll, as collector_status shows it. */
typedef struct CollectorPollResult
{
	const char *server;
	const char *incarnation;
	uint64		inserted;		/* attempts new to history */
	int64		dropped;		/* Ray's num_status_task_events_dropped */
	int64		newest_end_ms;	/* newest end among attempts written; 0: none */
	int64		vanished;		/* live attempts gone unfinished */
	int64		cap_hidden;		/* rows the dashboard's cap hid from this poll */
	const char *warning;		/* what the poll found amiss though it worked; NULL */
} CollectorPollResult;

extern void collector_record_success(const CollectorPollResult *res);
extern void collector_record_error(const char *server, const char *message);
extern void collector_record_failure(const char *server, const char *message, bool is_new,
									 int delay_ms);
extern void collector_record_no_slot(const char *server);
extern void collector_notify_progress(const char *name, const RayTaskReply *keys, List *fresh,
									  List *live);

/* collector_entities.c */
extern void collector_poll_entities(const char *name, const char *incarnation, RaydarConn *conn,
									const RayVersion *v);
/*
 * Rows rebuilt from pushed events (event_entities.c) into the history table
 * of cr's kind (jobs, actors or nodes), SPI connected: the columns named in
 * unknown (NULL-terminated) are not carried by the events and keep what is
 * stored; a row is touched only when a value changed.
 */
extern void collector_upsert_entities(const RayClusterReply *cr, const char *name,
									  const char *incarnation, const char *const *unknown);

#endif							/* RAYDAR_COLLECTOR_H */
