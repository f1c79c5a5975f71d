/*
 * http_client.c
 *		libcurl GETs to the Ray dashboard, interruptible and signal-safe.
 *
 * The rules for network code inside a backend:
 *  - the multi interface, polled in 100 ms ticks; after each tick a
 *    pending cancel, statement_timeout or shutdown stops the transfer, the
 *    handle is detached and only then is the interrupt processed, so no
 *    curl state is left half-used by a longjmp;
 *  - CURLOPT_NOSIGNAL, and every curl_multi_perform (where the threaded
 *    resolver starts its thread) runs with all signals blocked;
 *  - curl's callbacks never call PostgreSQL: the body grows with malloc
 *    and is copied into a memory context after the transfer;
 *  - connect and total timeouts come from the server options.
 * Each failure becomes one ereport naming the URL, what happened and what
 * to do; the HTTP statuses follow the dashboard's (400 bad limit or
 * filter, 401/403 auth, 429 more than 100 requests in flight, 500 the GCS
 * unavailable or an internal error).
 */
#include "raydar.h"

#include <ctype.h>

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>

#include "miscadmin.h"
#include "utils/builtins.h"

#include "http_client.h"
#include "ray_dashboard_parse.h"

struct RaydarHttp
{
	CURL	   *easy;
};

/* The body being received: malloc'd, never PostgreSQL memory. */

static CURLM *multi = NULL;
static bool curl_ready = false;

static void
init_curl(void)
{
	if (curl_ready)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not initialize libcurl")));
	curl_ready = true;
}

RaydarHttp *
raydar_http_create(void)
{
	RaydarHttp *h;

	init_curl();
	h = malloc(sizeof(RaydarHttp));
	if (h == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	h->easy = curl_easy_init();
	if (h->easy == NULL)
	{
		free(h);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a curl handle")));
	}
	return h;
}

void
raydar_http_destroy(RaydarHttp *h)
{
	if (h == NULL)
		return;
	if (h->easy)
		curl_easy_cleanup(h->easy);
	free(h);
}

const char *
raydar_http_curl_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

char *
raydar_http_escape(const char *s)
{
	char	   *e;
	char	   *res;

	init_curl();
	e = curl_easy_escape(NULL, s, (int) strlen(s));
	if (e == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	res = pstrdup(e);
	curl_free(e);
	return res;
}

size_t
raydar_http_body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	RaydarHttpBody *b = userdata;
	size_t		n = size * nmemb;

	curl_off_t	announced = -1;

	if (b->cap == 0)
		(void) curl_easy_getinfo(b->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced);
	if (b->len + n > b->max ||
		(announced > 0 && (uint64) announced > b->max))
	{
		b->too_large = true;
		return 0;				/* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap)
	{
		/* The first block is the announced length, so a body is copied once. */
		size_t		cap = Max(b->cap * 2, Max(b->len + n + 1, 64 * 1024));
		char	   *p;

		if (b->cap == 0 && announced > 0 && (size_t) announced + 1 > cap)
			cap = (size_t) announced + 1;
		p = realloc(b->data, cap);
		if (p == NULL)
		{
			b->oom = true;
			return 0;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

CURLMcode
raydar_http_perform_blocked(CURLM *multi, int *running)
{
	sigset_t	all,
				old;
	CURLMcode	mc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	mc = curl_multi_perform(multi, running);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return mc;
}

static bool
interrupted(void)
{
	return QueryCancelPending || ProcDiePending;
}

/* The peer of t, for report.c. */
static void
target_peer(const RaydarHttpTarget *t, RaydarPeer *peer)
{
	peer->http = true;
	peer->endpoint = t->base_url;
	peer->server = t->server_name;
	peer->has_token = t->token != NULL;
	peer->connect_timeout_ms = t->connect_timeout_ms;
	peer->timeout_ms = t->timeout_ms;
	peer->max_reply_bytes = t->max_body_bytes;
}

/* The error for a transfer that produced no HTTP answer. */
static void
report_transfer_error(const RaydarHttpTarget *t, const char *url, CURLcode rc,
					  const char *errbuf, const RaydarHttpBody *b)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	RaydarPeer	peer;
	RaydarFailure f;

	target_peer(t, &peer);
	peer.max_reply_bytes = b->max;
	if (b->too_large)
		raydar_report_failure(&peer, RAYDAR_FAIL_TOO_LARGE, 0, url, detail);
	if (b->oom)
		raydar_report_failure(&peer, RAYDAR_FAIL_OUT_OF_MEMORY, 0, url, detail);
	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
			f = RAYDAR_FAIL_CONNECT;
			break;
		case CURLE_OPERATION_TIMEDOUT:
			f = RAYDAR_FAIL_TIMEOUT;
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
			f = RAYDAR_FAIL_TLS;
			break;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			f = RAYDAR_FAIL_BAD_URL;
			break;
		default:
			f = RAYDAR_FAIL_OTHER;
			break;
	}
	raydar_report_failure(&peer, f, 0, url, detail);
}

/*
 * What an error body says: Ray's {"msg": ...}, else only its size. The body
 * of something that is not the dashboard (a login page, another service)
 * is not echoed into a message every role can see in the log.
 */
static void
body_message(const RaydarHttpBody *b, char *msg, size_t msglen)
{
	size_t		i = 0;

	while (i < b->len && isspace((unsigned char) b->data[i]))
		i++;
	msg[0] = '\0';
	if (i < b->len && b->data[i] == '{')
		ray_state_json_error_message(b->data, b->len, msg, msglen);
	/* Its fallback is the body's first line: not a message from Ray. */
	if (msg[0] == '\0' || strncmp(msg, b->data + i, strlen(msg)) == 0)
		snprintf(msg, msglen, "the body (%zu bytes) is not a Ray dashboard's JSON", b->len);
}

/* The error for an HTTP answer other than 2xx. */
static void
report_status(const RaydarHttpTarget *t, const char *url, long status, const RaydarHttpBody *b)
{
	char		msg[512];
	RaydarPeer	peer;

	body_message(b, msg, sizeof(msg));
	target_peer(t, &peer);
	/* A 404 names the path it did not find, the others the whole URL. */
	raydar_report_failure(&peer, RAYDAR_FAIL_HTTP_STATUS, status,
						  status == 404 ? url + strlen(t->base_url) : url, msg);
}

/* The request's headers; an ERROR if they cannot be made. */
static struct curl_slist *
make_headers(const RaydarHttpTarget *t)
{
	char	   *auth = t->token ? psprintf("Authorization: Bearer %s", t->token) : NULL;
	struct curl_slist *headers = NULL;
	struct curl_slist *tmp;

	tmp = curl_slist_append(headers, "Accept: application/json");
	if (tmp)
		headers = tmp;
	if (auth && (tmp = curl_slist_append(headers, auth)) != NULL)
		headers = tmp;
	if (headers == NULL || (auth && headers->next == NULL))
	{
		curl_slist_free_all(headers);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	return headers;
}

/* Options are set afresh: the handle (and its connection) is reused. */
static void
set_options(CURL *e, const RaydarHttpTarget *t, const char *url, struct curl_slist *headers,
			RaydarHttpBody *body, char *errbuf)
{
	errbuf[0] = '\0';
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) t->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) t->timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, raydar_http_body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, t->tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, t->tls_verify ? 2L : 0L);
	if (t->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "raydar/" RAYDAR_VERSION);
	/*
	 * Only the server's proxy option, never http_proxy & co from the
	 * postmaster's environment: the bearer token must not go to a proxy
	 * nobody configured for this server ("" turns libcurl's lookup off).
	 */
	curl_easy_setopt(e, CURLOPT_PROXY, t->proxy ? t->proxy : "");
}

/*
 * Run e's transfer to its end, polling for interrupts. False if an
 * interrupt is pending (the transfer is abandoned); *rc is its result.
 */
static bool
run_transfer(CURL *e, CURLcode *rc, char *errbuf)
{
	for (;;)
	{
		int			running = 0;
		CURLMsg    *m;
		int			left;
		bool		done = false;
		CURLMcode	mc = raydar_http_perform_blocked(multi, &running);

		while ((m = curl_multi_info_read(multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE && m->easy_handle == e)
			{
				*rc = m->data.result;
				done = true;
			}
		if (mc != CURLM_OK)
		{
			*rc = CURLE_FAILED_INIT;
			snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_multi_strerror(mc));
			return true;
		}
		if (done || running == 0)
			return true;
		if (interrupted())
			return false;
		(void) curl_multi_poll(multi, NULL, 0, 100, NULL);
		if (interrupted())
			return false;
	}
}

char *
raydar_http_get(RaydarHttp *h, const RaydarHttpTarget *t, const char *path_and_query, size_t *len)
{
	char	   *url = psprintf("%s%s", t->base_url, path_and_query);
	char		errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers;
	RaydarHttpBody		body = {h->easy, NULL, 0, 0, 0, false, false};
	CURLcode	rc = CURLE_OK;
	CURLMcode	mc;
	long		status = 0;
	bool		finished;
	char	   *res;
	CURL	   *e = h->easy;

	body.max = t->max_body_bytes > 0 && t->max_body_bytes < RAY_STATE_JSON_MAX_BYTES
		? t->max_body_bytes : RAY_STATE_JSON_MAX_BYTES;
	init_curl();
	if (multi == NULL)
	{
		multi = curl_multi_init();
		if (multi == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a curl multi handle")));
	}
	headers = make_headers(t);
	set_options(e, t, url, headers, &body, errbuf);
	mc = curl_multi_add_handle(multi, e);
	if (mc != CURLM_OK)
	{
		curl_slist_free_all(headers);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not start a request to %s: %s", url, curl_multi_strerror(mc))));
	}
	finished = run_transfer(e, &rc, errbuf);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	/* A cancelled transfer's connection is closed, not reused half-read. */
	curl_multi_remove_handle(multi, e);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);

	if (!finished)
	{
		free(body.data);
		CHECK_FOR_INTERRUPTS();
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling the request to the Ray dashboard at %s", t->base_url)));
	}
	if (rc != CURLE_OK)
	{
		PG_TRY();
		{
			report_transfer_error(t, url, rc, errbuf, &body);
		}
		PG_FINALLY();
		{
			free(body.data);
		}
		PG_END_TRY();
	}
	if (status < 200 || status > 299)
	{
		PG_TRY();
		{
			report_status(t, url, status, &body);
		}
		PG_FINALLY();
		{
			free(body.data);
		}
		PG_END_TRY();
	}
	res = palloc_extended(body.len + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (res == NULL)
	{
		free(body.data);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory receiving %zu bytes from %s", body.len, url)));
	}
	if (body.len > 0)
		memcpy(res, body.data, body.len);
	res[body.len] = '\0';
	free(body.data);
	*len = body.len;
	return res;
}
