/*
 * collector_seen.c
 *		What a collector worker remembers between polls: the set of task
 *		attempts it wrote, and each tracked server's memory.
 *
 * The "remember" phase of a poll (collector_poll.c) marks what it
 * committed; the "classify" phase asks the set which attempts of a reply
 * are new, without decoding the ones already written. The set lives in
 * the worker's memory only: a worker that starts knows nothing and merges
 * with history (INSERT ... ON CONFLICT) until its first successful poll of
 * a server (collector_is_verified), after which the set is exact.
 */
#include "raydar.h"

#include "common/hashfn.h"
#include "port/pg_bitutils.h"
#include "utils/memutils.h"

#include "collector.h"

/*
 * An attempt already written: the server's number (collector_server_no),
 * the attempt and the whole task id, in 32 bytes. The idle poll looks up
 * every attempt the GCS holds, so the key is small and hashed by
 * seen_hash. Ray's ids are 24 bytes and are kept inline, zero-padded; the
 * length is part of the key, so an id is never truncated or padded into
 * another. A longer id (no Ray version sends one, but the wire allows it)
 * is kept whole elsewhere: the key then points to it (a copy owned by
 * seen_ids_cxt once inserted; a lookup key points into the reply for the
 * lookup only) with its hash.
 */
#define SEEN_INLINE_ID 24

typedef struct SeenKey
{
	uint16		server_no;
	uint16		id_len;
	int32		attempt;
	union
	{
		uint8		bytes[SEEN_INLINE_ID];	/* id_len <= SEEN_INLINE_ID */
		struct
		{
			const uint8 *data;
			uint64		hash;
		}			ext;		/* id_len > SEEN_INLINE_ID */
	}			id;
} SeenKey;

StaticAssertDecl(sizeof(SeenKey) == 32, "SeenKey is four 64-bit words");

/* An entry of the set of written attempts (open addressing, simplehash). */
typedef struct SeenEntry
{
	SeenKey		key;
	uint32		entry_len;		/* size of its TaskEvents when written */
	char		status;			/* simplehash's */
} SeenEntry;

static uint32 seen_hash(const SeenKey *key);
static bool seen_equal(const SeenKey *a, const SeenKey *b);

#define SH_PREFIX		seenset
#define SH_ELEMENT_TYPE SeenEntry
#define SH_KEY_TYPE		SeenKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	seen_hash(&(k))
#define SH_EQUAL(tb, a, b)	seen_equal(&(a), &(b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * Every attempt this worker wrote, for all servers. simplehash rather than
 * dynahash: an idle poll looks up every attempt the GCS holds (100,000 by
 * default), and open addressing costs about one cache miss per lookup.
 */
static seenset_hash *seen = NULL;
static MemoryContext seen_ids_cxt = NULL;	/* long ids of the set's keys */

/*
 * Servers whose attempts in history this worker knows: after its first
 * successful poll of a server the in-memory set is exact, and a plain
 * INSERT (about a third cheaper than ON CONFLICT on this table) is safe.
 * A worker that starts, or a poll that fails, falls back to ON CONFLICT.
 */
static List *verified = NIL;

static List *known_servers = NIL;	/* of TrackedServer, in TopMemoryContext */

/* Server names as small numbers for SeenKey; never shrinks (few servers). */
static List *server_names = NIL;

void
collector_seen_init(void)
{
	seen = seenset_create(TopMemoryContext, 4096, NULL);
	seen_ids_cxt = AllocSetContextCreate(TopMemoryContext, "raydar collector long ids",
										 ALLOCSET_SMALL_SIZES);
}

uint32
collector_server_no(const char *name)
{
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, server_names)
		if (strcmp(strVal(lfirst(lc)), name) == 0)
			return (uint32) foreach_current_index(lc);
	if (list_length(server_names) > PG_UINT16_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the raydar collector has seen more than %d server names since it started",
						PG_UINT16_MAX),
				 errhint("Restart the collector: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'raydar collector';")));
	old = MemoryContextSwitchTo(TopMemoryContext);
	server_names = lappend(server_names, makeString(pstrdup(name)));
	MemoryContextSwitchTo(old);
	return (uint32) (list_length(server_names) - 1);
}

/* The four words of the key, mixed: task ids are random bytes already. */
static uint32
seen_hash(const SeenKey *key)
{
	uint64		w[4];
	uint64		h;

	memcpy(w, key, sizeof(w));
	if (key->id_len > SEEN_INLINE_ID)
		w[1] = 0;				/* a pointer, not the id: w[2] is the id's hash */
	h = hash_combine64(hash_combine64(w[0], w[1]), hash_combine64(w[2], w[3]));
	return (uint32) (h ^ (h >> 32));
}

static bool
seen_equal(const SeenKey *a, const SeenKey *b)
{
	if (a->server_no != b->server_no || a->id_len != b->id_len || a->attempt != b->attempt)
		return false;
	if (a->id_len <= SEEN_INLINE_ID)
		return memcmp(a->id.bytes, b->id.bytes, SEEN_INLINE_ID) == 0;
	return a->id.ext.hash == b->id.ext.hash &&
		memcmp(a->id.ext.data, b->id.ext.data, a->id_len) == 0;
}

/*
 * The written-attempts set's key of one attempt. A long id is pointed to,
 * not copied: the key is good while task_id is (see mark_one).
 */
static SeenKey
seen_key(uint32 sno, const uint8_t *task_id, size_t len, int32_t attempt)
{
	SeenKey		key;

	memset(&key, 0, sizeof(key));
	key.server_no = (uint16) sno;
	key.id_len = (uint16) Min(len, PG_UINT16_MAX);
	key.attempt = attempt;
	if (len <= SEEN_INLINE_ID)
		memcpy(key.id.bytes, task_id, len);
	else
	{
		key.id.ext.data = task_id;
		key.id.ext.hash = hash_bytes_extended(task_id, (int) key.id_len, 0);
	}
	return key;
}

/* Forget the attempts written for a server, and that its history is known. */
void
collector_forget_server(const char *name)
{
	seenset_iterator it;
	SeenEntry  *e;
	uint32		sno = collector_server_no(name);

	/* simplehash allows deleting the current element while iterating. */
	seenset_start_iterate(seen, &it);
	while ((e = seenset_iterate(seen, &it)) != NULL)
		if (e->key.server_no == sno)
		{
			if (e->key.id_len > SEEN_INLINE_ID)
				pfree((void *) e->key.id.ext.data);
			seenset_delete_item(seen, e);
		}
	collector_set_verified(name, false);
}

/* A server's memory carried over from the last poll, if tracked all along. */
static void
carry_over(TrackedServer *ts)
{
	ListCell   *c;

	foreach(c, known_servers)
	{
		TrackedServer *old_ts = lfirst(c);

		if (strcmp(old_ts->name, ts->name) == 0 && old_ts->tracked_at == ts->tracked_at)
		{
			ts->has_live_fp = old_ts->has_live_fp;
			ts->live_fp = old_ts->live_fp;
			memcpy(ts->incarnation, old_ts->incarnation, sizeof(ts->incarnation));
			ts->version = old_ts->version;
			ts->warned_version = old_ts->warned_version;
			ts->last_warning = old_ts->last_warning;
			old_ts->last_warning = NULL;
		}
	}
}

/*
 * Bring the memory in line with the tracked servers (names and their
 * tracked_at, as read from raydar.tracked_servers): a server untracked, or
 * tracked again since, is forgotten.
 */
void
collector_sync_tracked(List *names, List *tracked_ats)
{
	List	   *now_known = NIL;
	ListCell   *a,
			   *b,
			   *lc2;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	foreach(a, known_servers)
	{
		TrackedServer *ts = lfirst(a);
		bool		still = false;

		forboth(b, names, lc2, tracked_ats)
			if (strcmp(ts->name, (char *) lfirst(b)) == 0 &&
				ts->tracked_at == *(TimestampTz *) lfirst(lc2))
				still = true;
		if (!still)
			collector_forget_server(ts->name);
	}
	forboth(a, names, b, tracked_ats)
	{
		TrackedServer *ts = palloc0(sizeof(TrackedServer));

		strlcpy(ts->name, (char *) lfirst(a), NAMEDATALEN);
		ts->tracked_at = *(TimestampTz *) lfirst(b);
		carry_over(ts);
		now_known = lappend(now_known, ts);
	}
	foreach(a, known_servers)
	{
		TrackedServer *ts = lfirst(a);

		if (ts->last_warning)
			pfree(ts->last_warning);
	}
	list_free_deep(known_servers);
	known_servers = now_known;
	MemoryContextSwitchTo(old);
}

TrackedServer *
collector_find_tracked(const char *name)
{
	ListCell   *lc;

	foreach(lc, known_servers)
		if (strcmp(((TrackedServer *) lfirst(lc))->name, name) == 0)
			return lfirst(lc);
	return NULL;
}

/* Remember that this worker wrote the attempt (written_before then skips it). */
static void
mark_one(uint32 sno, const RayTaskRow *row)
{
	bool		found;
	SeenKey		key;
	SeenEntry  *e;

	if (row->task_id.len > PG_UINT16_MAX)
		return;					/* not remembered: written again with ON CONFLICT */
	key = seen_key(sno, row->task_id.data, row->task_id.len, row->attempt_number);
	e = seenset_insert(seen, key, &found);
	e->entry_len = (uint32) Min(row->entry_len, PG_UINT32_MAX);
	if (!found && key.id_len > SEEN_INLINE_ID)
	{
		/* The row's id lives in the poll's memory: the set keeps its own copy. */
		uint8	   *copy = MemoryContextAlloc(seen_ids_cxt, key.id_len);

		memcpy(copy, row->task_id.data, key.id_len);
		e->key.id.ext.data = copy;
	}
}

/*
 * Remember the attempts at positions of keys as written; nnew of them are
 * new to the set, which grows once for them rather than by doubling.
 */
void
collector_mark_written(uint32 sno, const RayTaskReply *keys, List *positions, int nnew)
{
	ListCell   *lc;

	if (nnew > 0)
	{
		uint64		want = pg_nextpower2_64((seen->members + nnew) * 2);

		if (want > seen->size)
			seenset_grow(seen, want);
	}
	foreach(lc, positions)
		mark_one(sno, &keys->rows[lfirst_int(lc)]);
}

/*
 * RayKnownAttemptFn for the classify phase: attempts this worker wrote
 * (ctx: the server's number), as they were then. Ray only adds events to
 * an attempt, so one whose size changed since (it FAILED after it
 * FINISHED, a later end) is decoded again and rewritten. Over gRPC the
 * size is the attempt's bytes on the wire; over HTTP that of the
 * TaskEvents parsed from the dashboard's row (source_dashboard.c), which
 * grows with its events the same way.
 */
bool
collector_written_before(void *ctx, const uint8_t *task_id, size_t len, int32_t attempt,
						 size_t entry_len)
{
	SeenEntry  *e;

	if (len == 0 || len > PG_UINT16_MAX)
		return false;
	e = seenset_lookup(seen, seen_key(*(uint32 *) ctx, task_id, len, attempt));
	return e != NULL && e->entry_len == (uint32) Min(entry_len, PG_UINT32_MAX);
}

/* Did this worker write the attempt of row before, in whatever state? */
bool
collector_written_any(uint32 sno, const RayTaskRow *row)
{
	return row->task_id.len <= PG_UINT16_MAX &&
		seenset_lookup(seen, seen_key(sno, row->task_id.data, row->task_id.len,
									  row->attempt_number)) != NULL;
}

bool
collector_is_verified(const char *name)
{
	return list_member(verified, makeString((char *) name));
}

void
collector_set_verified(const char *name, bool is_verified)
{
	MemoryContext old;

	if (!is_verified)
	{
		verified = list_delete(verified, makeString((char *) name));
		return;
	}
	if (collector_is_verified(name))
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	verified = lappend(verified, makeString(pstrdup(name)));
	MemoryContextSwitchTo(old);
}
