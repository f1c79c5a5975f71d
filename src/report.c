/*
 * report.c
 *		The one place raydar words its errors about Ray, in the style of
 *		postgres_fdw's pgfdw_report_error.
 *
 * Callers say what went wrong (RaydarFailure) and with which peer (the GCS
 * over gRPC or the dashboard over HTTP, RaydarPeer); this file picks the
 * SQLSTATE, a whole translatable message per transport (never a sentence
 * assembled from pieces), the detail from Ray or the library, and a hint
 * that says what to do. A reply raydar cannot read is a protocol violation
 * (08P01): the peer broke the protocol, the data is not of a wrong SQL type.
 */
#include "raydar.h"

#include "miscadmin.h"
#include "utils/builtins.h"

#include "ray_dashboard_parse.h"

static int
timeout_hint(const RaydarPeer *p)
{
	return errhint("The limits are the server options connect_timeout_ms (%d) and timeout_ms (%d).",
				   p->connect_timeout_ms, p->timeout_ms);
}

/* Failures of the connection itself: reaching the peer and its credentials. */
static void
report_connection(const RaydarPeer *p, RaydarFailure f, const char *detail)
{
	const char *d = detail && detail[0] ? detail : "deadline exceeded";

	switch (f)
	{
		case RAYDAR_FAIL_CONNECT:
			if (p->http)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
						 errmsg("could not connect to the Ray dashboard at %s (server \"%s\")",
								p->endpoint, p->server),
						 errdetail("%s", d),
						 errhint("Check that the Ray head node is up and that dashboard_url names its dashboard: "
								 "port 8265 unless started with --dashboard-port, reachable from this host "
								 "only if started with --dashboard-host=0.0.0.0.")));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("could not connect to Ray GCS at %s (server \"%s\")", p->endpoint, p->server),
					 errdetail("%s", d),
					 errhint("Check that the Ray head node is up and that address names its GCS port: "
							 "6379 unless the head was started with ray start --head --port=N "
							 "(not the dashboard's 8265).")));
			break;
		case RAYDAR_FAIL_TIMEOUT:
			if (p->http)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
						 errmsg("the Ray dashboard at %s did not answer in time (server \"%s\")",
								p->endpoint, p->server),
						 errdetail("%s", d), timeout_hint(p)));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("Ray GCS at %s did not answer in time (server \"%s\")", p->endpoint, p->server),
					 errdetail("%s", d), timeout_hint(p)));
			break;
		case RAYDAR_FAIL_TLS:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("TLS with the Ray dashboard at %s failed (server \"%s\")", p->endpoint, p->server),
					 errdetail("%s", d),
					 errhint("If the dashboard's certificate is signed by a private CA, set the server option "
							 "ca_file to that CA's PEM file; tls_verify 'false' turns verification off "
							 "(anyone on the path can then read the token).")));
			break;
		default:
			break;
	}
}

/* The peer refused raydar's token (or its absence). */
static void
report_credentials(const RaydarPeer *p, const char *detail)
{
	if (p->http && p->has_token)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the Ray dashboard at %s refused raydar's credentials (HTTP 401): the token is wrong",
						p->endpoint),
				 errdetail("%s", detail),
				 errhint("Put the cluster's token in a user mapping: "
						 "CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (token '...').",
						 quote_identifier(p->server))));
	if (p->http)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the Ray dashboard at %s refused raydar's credentials (HTTP 401): the token is missing",
						p->endpoint),
				 errdetail("%s", detail),
				 errhint("Put the cluster's token in a user mapping: "
						 "CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (token '...').",
						 quote_identifier(p->server))));

	/*
	 * From 2.52 the GCS answers a ray_cluster_id of another cluster with
	 * UNAUTHENTICATED "WrongClusterID" too (ABORTED before, which is not a
	 * credentials failure): the token is not the problem, so do not blame it.
	 */
	if (!p->http && detail && strstr(detail, "WrongClusterID") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("Ray GCS at %s refused the call: it was sent the cluster id of another Ray cluster",
						p->endpoint),
				 errdetail("Ray said: %s", detail),
				 errhint("raydar sends no cluster id itself: check that the address of server %s names this "
						 "cluster's GCS, and that no proxy in front of it adds a ray_cluster_id header.",
						 quote_identifier(p->server))));
	if (p->has_token)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("Ray GCS at %s refused raydar's credentials: the token is wrong", p->endpoint),
				 errdetail("Ray said: %s", detail),
				 errhint("The cluster runs with RAY_AUTH_MODE=token. Put its token in a user mapping: "
						 "CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (token '...').",
						 quote_identifier(p->server))));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("Ray GCS at %s refused raydar's credentials: the token is missing", p->endpoint),
			 errdetail("Ray said: %s", detail),
			 errhint("The cluster runs with RAY_AUTH_MODE=token. Put its token in a user mapping: "
					 "CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (token '...').",
					 quote_identifier(p->server))));
}

/* A reply the peer sent that raydar cannot take: too large or unreadable. */
static void
report_reply(const RaydarPeer *p, RaydarFailure f, const char *request, const char *detail)
{
	if (f == RAYDAR_FAIL_TOO_LARGE && p->http)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("the response of the Ray dashboard at %s is larger than %zu MiB",
						request ? request : p->endpoint, p->max_reply_bytes / (1024 * 1024)),
				 errhint("Filter by job_id, state or name, or add a LIMIT, so Ray sends less; "
						 "the limit is the server option max_reply_mb (at most %zu over HTTP).",
						 (size_t) RAY_STATE_JSON_MAX_BYTES / (1024 * 1024))));
	if (f == RAYDAR_FAIL_TOO_LARGE)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("the reply from Ray GCS at %s is larger than %zu MiB", p->endpoint,
						p->max_reply_bytes / (1024 * 1024)),
				 errdetail("%s", detail),
				 errhint("Filter by job_id, state or name, or add a LIMIT, so Ray sends less; "
						 "the limit is the server option max_reply_mb (at most 512, Ray's own).")));
	if (p->http)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the Ray dashboard at %s sent a response raydar cannot read (server \"%s\")",
						p->endpoint, p->server),
				 errdetail("GET %s: %s", request, detail),
				 errhint("Check that dashboard_url is the Ray dashboard itself, not a proxy or login page.")));
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("Ray GCS at %s sent a reply raydar cannot read", p->endpoint),
			 errdetail("%s", detail)));
}

/* An HTTP answer other than 2xx; detail is what its body says. */
static void
report_http_status(const RaydarPeer *p, long status, const char *request, const char *detail)
{
	switch (status)
	{
		case 400:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("the Ray dashboard at %s rejected the request as invalid (HTTP 400)", p->endpoint),
					 errdetail("GET %s: %s", request, detail),
					 errhint("This Ray version may not take one of the pushed filters or the limit; "
							 "set the server option ray_version to the cluster's version, or report it.")));
			break;
		case 401:
			report_credentials(p, detail);
			break;
		case 403:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the Ray dashboard at %s forbids this request (HTTP 403)", p->endpoint),
					 errdetail("GET %s: %s", request, detail),
					 /* Ray: 401 without a token, 403 for a wrong one (http_token_authentication.py). */
					 p->has_token ?
					 errhint("Ray answers 403 to a token that is not the cluster's: "
							 "check the token in the user mapping (ALTER USER MAPPING FOR CURRENT_USER SERVER %s "
							 "OPTIONS (SET token '...')), or a proxy in front of the dashboard wants a token with read access.",
							 quote_identifier(p->server)) :
					 errhint("A proxy in front of the dashboard blocks the request; "
							 "give raydar a token with read access in a user mapping.")));
			break;
		case 404:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("the Ray dashboard at %s has no %s (HTTP 404)", p->endpoint, request),
					 errdetail("%s", detail),
					 errhint("Check that dashboard_url is the Ray dashboard (port 8265 by default), not a proxy path.")));
			break;
		case 429:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("the Ray dashboard at %s is busy (HTTP 429): too many requests in flight", p->endpoint),
					 errdetail("%s", detail),
					 errhint("The dashboard serves at most 100 State API requests at once; retry later, "
							 "query less often, or set cache_ttl_ms on the server.")));
			break;
		case 500:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("the Ray dashboard at %s failed to answer (HTTP 500)", p->endpoint),
					 errdetail("%s", detail),
					 errhint("The dashboard could not reach the GCS or failed internally; check the head node "
							 "and its dashboard.log, then retry.")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("the Ray dashboard at %s answered HTTP %ld", p->endpoint, status),
					 errdetail("GET %s: %s", request, detail),
					 status >= 502 && status <= 504
					 ? errhint("A proxy in front of the dashboard could not reach it; check that the Ray head node is up.")
					 : errhint("Check that dashboard_url is the Ray dashboard.")));
	}
}

void
raydar_report_failure(const RaydarPeer *p, RaydarFailure f, long http_status,
					  const char *request, const char *detail)
{
	switch (f)
	{
		case RAYDAR_FAIL_CANCELLED:
			/* The call stopped because an interrupt is pending: raise it. */
			CHECK_FOR_INTERRUPTS();
			if (p->http)
				ereport(ERROR,
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("canceling the request to the Ray dashboard at %s", p->endpoint)));
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("canceling the call to Ray GCS at %s", p->endpoint)));
			break;
		case RAYDAR_FAIL_CONNECT:
		case RAYDAR_FAIL_TIMEOUT:
		case RAYDAR_FAIL_TLS:
			report_connection(p, f, detail);
			break;
		case RAYDAR_FAIL_CREDENTIALS:
			report_credentials(p, detail);
			break;
		case RAYDAR_FAIL_TOO_LARGE:
		case RAYDAR_FAIL_MALFORMED:
			report_reply(p, f, request, detail);
			break;
		case RAYDAR_FAIL_HTTP_STATUS:
			report_http_status(p, http_status, request, detail);
			break;
		case RAYDAR_FAIL_RAY_ERROR:
			if (p->http)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_ERROR),
						 errmsg("the Ray dashboard at %s answered GET %s with an error", p->endpoint, request),
						 errdetail("Ray said: %s", detail)));
			/* detail: "status N: message", Ray's status code and text. */
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("Ray GCS at %s answered %s with an error", p->endpoint, request),
					 errdetail("Ray said: %s", detail),
					 errhint("The GCS handled the call and refused it itself; this is not a network failure. "
							 "Its log on the head node (gcs_server.out) says more.")));
			break;
		case RAYDAR_FAIL_BAD_URL:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("cannot request %s (server \"%s\")", request, p->server),
					 errdetail("%s", detail),
					 errhint("dashboard_url must be http://host:port or https://host:port.")));
			break;
		case RAYDAR_FAIL_OUT_OF_MEMORY:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory receiving the response of %s", request ? request : p->endpoint)));
			break;
		case RAYDAR_FAIL_OTHER:
			if (p->http)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_ERROR),
						 errmsg("the request to the Ray dashboard %s failed (server \"%s\")",
								request ? request : p->endpoint, p->server),
						 errdetail("%s", detail)));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("gRPC call %s to Ray GCS at %s failed", request, p->endpoint),
					 errdetail("%s", detail)));
			break;
	}
	elog(ERROR, "unknown raydar failure %d", (int) f);
}

/*
 * A failure of the core (src/ray) with no peer at hand: what names the
 * work it was doing ("decoding the GetTaskEvents reply of server ...").
 * Network failures never come here: the transports report them with their
 * peer.
 */
void
raydar_report_core_error(RayStatus st, const char *what, const char *msg)
{
	switch (st)
	{
		case RAY_OK:
			return;
		case RAY_ERR_OOM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory while %s", what),
					 errdetail("%s", msg)));
			break;
		case RAY_ERR_MALFORMED:
		case RAY_ERR_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("Ray sent a reply raydar cannot read while %s", what),
					 errdetail("%s", msg),
					 errhint("Check that the address is a Ray GCS and that ray_version matches the cluster.")));
			break;
		case RAY_ERR_CANCELLED:
			CHECK_FOR_INTERRUPTS();
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("canceling statement while %s", what)));
			break;
		case RAY_ERR_BAD_ID:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("an ID is not valid for Ray while %s", what),
					 errdetail("%s", msg)));
			break;
		case RAY_ERR_UNSUPPORTED:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the server's Ray version cannot express this while %s", what),
					 errdetail("%s", msg)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("failed while %s", what),
					 errdetail("%s", msg)));
	}
}
