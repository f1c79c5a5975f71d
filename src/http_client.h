/*
 * http_client.h
 *		GET requests to the Ray dashboard with libcurl, inside a backend.
 *
 * One handle per (server, user) per backend, kept by connection.c, so the
 * TCP/TLS connection is reused between queries. Waits are 100 ms ticks of
 * the multi interface that honour query cancel and statement_timeout;
 * curl never uses signals (CURLOPT_NOSIGNAL) and runs with all signals
 * blocked, so its resolver thread never runs PostgreSQL's handlers.
 */
#ifndef RAYDAR_HTTP_CLIENT_H
#define RAYDAR_HTTP_CLIENT_H

#include "postgres.h"

#include <curl/curl.h>

typedef struct RaydarHttp RaydarHttp;

/*
 * A response body as it arrives (CURLOPT_WRITEFUNCTION
 * raydar_http_body_write, CURLOPT_WRITEDATA the body): malloc'd, grown in
 * one block of the announced length where there is one, NUL-terminated.
 * Past max bytes the transfer is aborted with too_large set; oom when
 * malloc failed. easy is read for the announced Content-Length.
 */
typedef struct RaydarHttpBody
{
	CURL	   *easy;
	char	   *data;
	size_t		len;
	size_t		cap;
	size_t		max;			/* largest body accepted */
	bool		too_large;
	bool		oom;
} RaydarHttpBody;

extern size_t raydar_http_body_write(char *ptr, size_t size, size_t nmemb, void *userdata);

/* curl_multi_perform with every signal blocked (its resolver thread inherits the mask). */
extern CURLMcode raydar_http_perform_blocked(CURLM *multi, int *running);

/* What a request needs from the server's options and user mapping. */
typedef struct RaydarHttpTarget
{
	const char *base_url;		/* dashboard_url without a trailing '/' */
	const char *server_name;	/* for messages */
	const char *token;			/* Authorization: Bearer, or NULL */
	const char *ca_file;		/* CA bundle for https, or NULL for the system's */
	bool		tls_verify;		/* false only if the server says so */
	int			connect_timeout_ms;
	int			timeout_ms;
	const char *proxy;			/* proxy URL, or NULL: connect directly, whatever the environment says */
	size_t		max_body_bytes; /* refuse larger bodies (at most RAY_STATE_JSON_MAX_BYTES) */
} RaydarHttpTarget;

extern RaydarHttp *raydar_http_create(void);
extern void raydar_http_destroy(RaydarHttp *h);

/*
 * GET base_url + path_and_query. On 2xx returns the body (palloc'd in
 * CurrentMemoryContext, NUL-terminated, *len bytes). Anything else is an
 * ereport(ERROR) that says what happened and what to do.
 */
extern char *raydar_http_get(RaydarHttp *h, const RaydarHttpTarget *t,
							 const char *path_and_query, size_t *len);

/* URL-escape s (curl_easy_escape), palloc'd. */
extern char *raydar_http_escape(const char *s);

/* libcurl's version, for messages. */
extern const char *raydar_http_curl_version(void);

#endif							/* RAYDAR_HTTP_CLIENT_H */
