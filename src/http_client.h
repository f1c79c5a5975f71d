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

typedef struct RaydarHttp RaydarHttp;

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
