/*
 * collector_cluster.c
 *		Which cluster answers a poll: its incarnation (which start of the
 *		cluster) and the Ray version it runs, asked at every poll, over the
 *		server's transport.
 *
 * A cluster started anew reuses task ids, so history keeps incarnations
 * apart (docs/operations.md, "Incarnations"); a cluster upgraded or
 * downgraded in place keeps its address, and decoding with the old
 * version's tables would write wrong states. Both are asked outside any
 * transaction (the "fetch" phase of collector_poll.c).
 *
 *	 gRPC	 NodeInfoGcsService/GetClusterId (the GCS's 28-byte ClusterID,
 *			 made at each cluster start and kept across a GCS restart with
 *			 fault tolerance) and CheckAlive (the version)
 *	 HTTP	 GET /api/version: ray_version and session_name, which Ray's
 *			 dashboard makes at each cluster start
 */
#include "raydar.h"

#include <cjson/cJSON.h>

#include "pgstat.h"
#include "utils/builtins.h"

#include "collector.h"
#include "ray_cluster.h"
#include "ray_requests.h"
#include "ray_wire.h"

/* The GCS's ClusterID, as hex (GetClusterIdReply {status = 1 {code = 1}; cluster_id = 2}). */
static char *
gcs_incarnation(RaydarConn *conn, const char *name)
{
	bool		cached;
	bytea	   *reply = raydar_conn_call(conn, RAYDAR_METHOD_GET_CLUSTER_ID, (const uint8_t *) "", 0, &cached);
	const uint8_t *id = NULL;
	size_t		idlen = 0;
	int64		code = 0;
	RayWireReader rd;
	RayWireField f;
	char	   *out;

	ray_wire_init(&rd, (const uint8_t *) VARDATA(reply), VARSIZE(reply) - VARHDRSZ);
	while (ray_wire_next(&rd, &f))
		if (f.number == 2 && f.type == RAY_WIRE_LEN)
		{
			id = f.data;
			idlen = f.len;
		}
		else if (f.number == 1 && f.type == RAY_WIRE_LEN)
		{
			RayWireReader s;
			RayWireField g;

			ray_wire_init(&s, f.data, f.len);
			while (ray_wire_next(&s, &g))
				if (g.number == 1 && g.type == RAY_WIRE_VARINT)
					code = (int64) g.varint;
		}
	if (rd.error || code != 0 || idlen == 0 || idlen * 2 > INCARNATION_MAX)
		ereport(ERROR,
				(errcode(rd.error ? ERRCODE_PROTOCOL_VIOLATION : ERRCODE_FDW_ERROR),
				 errmsg("Ray GCS of server \"%s\" did not give its cluster id", name),
				 rd.error ? errdetail("GetClusterId answered bytes that are not a GetClusterIdReply.") :
				 code != 0 ? errdetail("GetClusterId answered status %lld.", (long long) code) :
				 errdetail("GetClusterId answered an id of %zu bytes.", idlen),
				 errhint("raydar keeps the history of each start of a cluster apart by this id (Ray's ClusterID, 28 bytes).")));
	out = palloc(idlen * 2 + 1);
	for (size_t i = 0; i < idlen; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
	return out;
}

/* The version CheckAlive reports, as text ("" when it says none). */
static char *
gcs_version_text(RaydarConn *conn, const char *name)
{
	bool		cached;
	bytea	   *reply = raydar_conn_call(conn, RAYDAR_METHOD_CHECK_ALIVE, (const uint8_t *) "", 0, &cached);
	char		vt[64];
	char		err[256];
	int32_t		code;
	RayStatus	st;

	st = ray_check_alive_reply_decode((const uint8_t *) VARDATA(reply), VARSIZE(reply) - VARHDRSZ,
									  vt, sizeof(vt), &code, err, sizeof(err));
	/* A reply that is not a CheckAliveReply is a bad reply, as for tasks. */
	raydar_report_core_error(st, psprintf("decoding the CheckAlive reply of server \"%s\"", name), err);
	return pstrdup(vt);
}

/*
 * GET /api/version: {"ray_version": "2.40.0", "session_name": "session_...", ...}.
 * The version is "" when the body has none; the session name is required.
 */
static void
dashboard_identity(RaydarConn *conn, const char *name, char **vt, char **inc)
{
	size_t		len;
	char	   *body = raydar_conn_http_get(conn, "/api/version", &len);
	cJSON	   *root = cJSON_ParseWithLength(body, len);
	const cJSON *v = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "ray_version") : NULL;
	const cJSON *s = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "session_name") : NULL;
	bool		is_object = cJSON_IsObject(root);

	/* cJSON allocates with malloc: copy out, free, and only then report. */
	*vt = pstrdup(cJSON_IsString(v) ? v->valuestring : "");
	*inc = cJSON_IsString(s) ? pstrdup(s->valuestring) : NULL;
	cJSON_Delete(root);
	pfree(body);
	if (!is_object)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the Ray dashboard at %s sent a response raydar cannot read (server \"%s\")",
						raydar_conn_options(conn)->dashboard_url, name),
				 errdetail("GET /api/version: the body is not a JSON object."),
				 errhint("Check that dashboard_url is the Ray dashboard itself, not a proxy or login page.")));
	if (*inc == NULL || (*inc)[0] == '\0' || strlen(*inc) > INCARNATION_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("the Ray dashboard of server \"%s\" did not give its session name", name),
				 *inc == NULL ? errdetail("GET /api/version has no \"session_name\" string.") :
				 errdetail("GET /api/version has a \"session_name\" of %zu bytes.", strlen(*inc)),
				 errhint("raydar keeps the history of each start of a cluster apart by it (the dashboard's session_name).")));
}

/*
 * The version a poll decodes with, from what the cluster said (vt). A
 * ray_version option must agree with it (major.minor: what raydar's
 * version facts depend on); where the cluster cannot say, the option wins,
 * with a WARNING once. A change of version is logged (ts: the server's
 * memory, NULL before its first poll).
 */
static void
settle_version(RaydarConn *conn, const char *name, const char *vt, TrackedServer *ts, RayVersion *v)
{
	const RaydarServerOptions *opts = raydar_conn_options(conn);
	bool		known = ray_version_parse(vt, v);

	if (opts->has_version)
	{
		if (known && (v->major != opts->version.major || v->minor != opts->version.minor))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("server \"%s\" has ray_version '%s', but the cluster runs Ray %s",
							name, opts->version_text, vt),
					 errhint("Drop the option to follow the cluster's version: ALTER SERVER %s OPTIONS (DROP ray_version);",
							 quote_identifier(name))));
		if (!known && ts != NULL && !ts->warned_version)
		{
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("the cluster of server \"%s\" does not say its Ray version; the collector uses ray_version '%s'",
							name, opts->version_text),
					 errdetail("It said \"%s\".", vt)));
			ts->warned_version = true;
		}
		*v = opts->version;
	}
	else if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not learn the Ray version of server \"%s\"", name),
				 errdetail("It said \"%s\".", vt),
				 errhint("Set it with ALTER SERVER %s OPTIONS (ADD ray_version '2.40.0').",
						 quote_identifier(name))));
	if (ts != NULL)
	{
		if (ts->version.major != 0 &&
			(ts->version.major != v->major || ts->version.minor != v->minor ||
			 ts->version.patch != v->patch))
			ereport(LOG,
					(errmsg("the raydar collector found that server \"%s\" now runs Ray %d.%d.%d (was %d.%d.%d)",
							name, v->major, v->minor, v->patch,
							ts->version.major, ts->version.minor, ts->version.patch)));
		ts->version = *v;
	}
}

/*
 * The incarnation of the cluster behind conn (palloc'd), and in *v the Ray
 * version to decode its replies with. Outside any transaction.
 */
char *
collector_identify(RaydarConn *conn, const char *name, TrackedServer *ts, RayVersion *v)
{
	char	   *vt;
	char	   *inc;

	if (raydar_conn_is_http(conn))
		dashboard_identity(conn, name, &vt, &inc);
	else
	{
		pgstat_report_activity(STATE_RUNNING, "raydar collector: GetClusterId");
		inc = gcs_incarnation(conn, name);
		vt = gcs_version_text(conn, name);
	}
	settle_version(conn, name, vt, ts, v);
	return inc;
}
