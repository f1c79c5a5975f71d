/*
 * option.c
 *		Validate and read raydar's FDW options.
 *
 * Modelled on file_fdw's valid_options table: one row per option, the
 * catalog it belongs to, and a value check. Where options live follows
 * postgres_fdw: endpoint and deadlines on the SERVER, the token in the USER
 * MAPPING (so it is visible only to those who may see the mapping), the
 * resource on the TABLE.
 */
#include "raydar.h"

#include <ctype.h>

#include "access/reloptions.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "ray_version.h"

typedef enum OptionKind
{
	OPT_TEXT,
	OPT_ADDRESS,
	OPT_URL,
	OPT_BOOL,
	OPT_SUPERUSER_FILE,
	OPT_VERSION,
	OPT_POSITIVE_INT,
	OPT_NONNEGATIVE_INT,
	OPT_REPLY_MB,
	OPT_PROXY,
	OPT_RESOURCE
} OptionKind;

typedef struct RaydarOption
{
	const char *name;
	Oid			context;		/* catalog the option may appear in */
	OptionKind	kind;
} RaydarOption;

static const RaydarOption valid_options[] = {
	{"address", ForeignServerRelationId, OPT_ADDRESS},
	{"dashboard_url", ForeignServerRelationId, OPT_URL},
	{"ca_file", ForeignServerRelationId, OPT_SUPERUSER_FILE},
	/* TLS client certificate for a GCS with RAY_USE_TLS (mutual TLS) */
	{"client_cert_file", ForeignServerRelationId, OPT_SUPERUSER_FILE},
	{"client_key_file", ForeignServerRelationId, OPT_SUPERUSER_FILE},
	{"tls_verify", ForeignServerRelationId, OPT_BOOL},
	{"ray_version", ForeignServerRelationId, OPT_VERSION},
	{"timeout_ms", ForeignServerRelationId, OPT_POSITIVE_INT},
	{"connect_timeout_ms", ForeignServerRelationId, OPT_POSITIVE_INT},
	{"cache_ttl_ms", ForeignServerRelationId, OPT_NONNEGATIVE_INT},
	{"max_reply_mb", ForeignServerRelationId, OPT_REPLY_MB},
	{"proxy", ForeignServerRelationId, OPT_PROXY},
	{"token", UserMappingRelationId, OPT_TEXT},
	/* A file holding the token, re-read for every call: a rotated Kubernetes service-account token */
	{"token_file", UserMappingRelationId, OPT_SUPERUSER_FILE},
	{"resource", ForeignTableRelationId, OPT_RESOURCE},
	{NULL, InvalidOid, OPT_TEXT}
};

static int
parse_int_option(DefElem *def, int min)
{
	int			val;
	char	   *s = defGetString(def);

	if (!parse_int(s, &val, 0, NULL) || val < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->defname, s),
				 errhint("Use an integer number of milliseconds, at least %d.", min)));
	return val;
}

/*
 * A host as Ray prints it: a DNS name or IPv4 address ([A-Za-z0-9.-_]), or
 * an IPv6 address in brackets. Nothing else: gRPC would also take target
 * URIs such as 'unix:/path' or 'unix-abstract:name', which reach local
 * sockets a foreign server must not be able to name.
 */
static bool
valid_host(const char *h, size_t n)
{
	if (n == 0)
		return false;
	if (h[0] == '[')
	{
		if (n < 3 || h[n - 1] != ']')
			return false;
		for (size_t i = 1; i < n - 1; i++)
			if (!isxdigit((unsigned char) h[i]) && h[i] != ':' && h[i] != '.')
				return false;
		return true;
	}
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char) h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
			return false;
	return true;
}

static void
check_address(DefElem *def)
{
	char	   *s = defGetString(def);
	char	   *colon = strrchr(s, ':');
	int			port;

	if (s[0] == '\0' || colon == NULL || colon == s ||
		!valid_host(s, colon - s) ||
		!parse_int(colon + 1, &port, 0, NULL) || port < 1 || port > 65535)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"address\": \"%s\"", s),
				 errhint("Use host:port of the Ray GCS, for example '10.0.0.5:6379' "
						 "(the head node's --port, 6379 by default).")));
}

/*
 * s is scheme://host:port, optionally with a trailing '/', for one of
 * schemes (NULL-terminated). *rest and *n: what follows the scheme, without
 * that '/'. The options that hold a URL differ only in what else they refuse.
 */
static bool
host_port_url(const char *s, const char *const *schemes, const char **rest, size_t *n)
{
	const char *colon;
	int			port;

	*rest = NULL;
	*n = 0;
	for (int i = 0; schemes[i] && *rest == NULL; i++)
		if (strncmp(s, schemes[i], strlen(schemes[i])) == 0)
			*rest = s + strlen(schemes[i]);
	if (*rest == NULL)
		return false;
	*n = strlen(*rest);
	if (*n > 0 && (*rest)[*n - 1] == '/')
		(*n)--;
	colon = memrchr(*rest, ':', *n);
	return colon != NULL && valid_host(*rest, colon - *rest) &&
		*n - (colon + 1 - *rest) > 0 &&
		parse_int(pnstrdup(colon + 1, *n - (colon + 1 - *rest)), &port, 0, NULL) &&
		port >= 1 && port <= 65535;
}

/*
 * dashboard_url: http(s)://host:port, optionally with a trailing '/' (the
 * URL the dashboard prints). A path would be a proxy prefix, which the
 * State API routes do not take relative to; it is refused rather than
 * guessed.
 */
static void
check_url(DefElem *def)
{
	static const char *const schemes[] = {"http://", "https://", NULL};
	char	   *s = defGetString(def);
	const char *rest;
	size_t		n;

	if (!host_port_url(s, schemes, &rest, &n) ||
		memchr(rest, '/', n) != NULL || strpbrk(s, " \t\n?#@") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"dashboard_url\": \"%s\"", s),
				 errhint("Use http://host:port or https://host:port of the Ray dashboard, "
						 "for example 'http://10.0.0.5:8265'.")));
}

/*
 * proxy: the one way raydar's HTTP requests go through a proxy. The
 * environment's http_proxy/https_proxy are ignored (libcurl would otherwise
 * send the bearer token to whatever proxy the postmaster's environment
 * names, in clear text for an http:// proxy).
 */
static void
check_proxy(DefElem *def)
{
	static const char *const schemes[] = {"http://", "https://", "socks5://", "socks5h://", NULL};
	char	   *s = defGetString(def);
	const char *rest;
	size_t		n;

	if (!host_port_url(s, schemes, &rest, &n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"proxy\": \"%s\"", s),
				 errhint("Use scheme://host:port with scheme http, https, socks5 or socks5h, "
						 "for example 'http://proxy.internal:3128'.")));
}

static void
check_option(DefElem *def, const RaydarOption *opt)
{
	switch (opt->kind)
	{
		case OPT_TEXT:
			(void) defGetString(def);
			break;
		case OPT_ADDRESS:
			check_address(def);
			break;
		case OPT_URL:
			check_url(def);
			break;
		case OPT_BOOL:
			(void) defGetBoolean(def);
			break;
		case OPT_SUPERUSER_FILE:
			/* As file_fdw's filename: a path the server reads is superuser-only. */
			if (!superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("only superuser can set option \"%s\"", def->defname)));
			if (!is_absolute_path(defGetString(def)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" must be an absolute path", def->defname)));
			break;
		case OPT_VERSION:
			{
				RayVersion	v;
				char	   *s = defGetString(def);

				if (!ray_version_parse(s, &v))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid value for option \"ray_version\": \"%s\"", s),
							 errhint("Use the cluster's Ray version, for example '2.40.0'.")));
				if (!ray_version_has(&v, RAY_FACT_SUPPORTED))
				{
					char		since[16];

					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("Ray %s is older than %s, the oldest version raydar reads", s,
									ray_fact_since(RAY_FACT_SUPPORTED, since, sizeof(since)))));
				}
				break;
			}
		case OPT_POSITIVE_INT:
			(void) parse_int_option(def, 1);
			break;
		case OPT_NONNEGATIVE_INT:
			(void) parse_int_option(def, 0);
			break;
		case OPT_REPLY_MB:
			{
				int			mb;
				char	   *v = defGetString(def);

				if (!parse_int(v, &mb, 0, NULL) || mb < 1 ||
					(size_t) mb > RAY_MAX_MESSAGE_SIZE / (1024 * 1024))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid value for option \"max_reply_mb\": \"%s\"", v),
							 errhint("Use a whole number of MiB from 1 to %zu (Ray's own limit).",
									 RAY_MAX_MESSAGE_SIZE / (1024 * 1024))));
				break;
			}
		case OPT_PROXY:
			check_proxy(def);
			break;
		case OPT_RESOURCE:
			{
				char	   *s = defGetString(def);
				StringInfoData names;

				if (raydar_find_resource(s))
					return;
				initStringInfo(&names);
				for (const RaydarResource *r = raydar_resources; r->name; r++)
					appendStringInfo(&names, "%s%s", names.len ? ", " : "", r->name);
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for option \"resource\": \"%s\"", s),
						 errhint("Valid resources are: %s.", names.data)));
			}
	}
}

PG_FUNCTION_INFO_V1(raydar_fdw_validator);

Datum
raydar_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *cell;
	bool		has_address = false,
				has_dashboard = false,
				has_client_cert = false,
				has_client_key = false;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		const RaydarOption *opt = NULL;

		for (const RaydarOption *o = valid_options; o->name; o++)
			if (o->context == catalog && strcmp(o->name, def->defname) == 0)
				opt = o;
		if (opt == NULL)
		{
			StringInfoData buf;

			initStringInfo(&buf);
			for (const RaydarOption *o = valid_options; o->name; o++)
				if (o->context == catalog)
					appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", o->name);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 buf.len > 0
					 ? errhint("Valid options in this context are: %s.", buf.data)
					 : errhint("There are no valid options in this context.")));
		}
		check_option(def, opt);
		has_address |= strcmp(def->defname, "address") == 0;
		has_dashboard |= strcmp(def->defname, "dashboard_url") == 0;
		has_client_cert |= strcmp(def->defname, "client_cert_file") == 0;
		has_client_key |= strcmp(def->defname, "client_key_file") == 0;
	}

	if (has_client_cert != has_client_key)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options \"client_cert_file\" and \"client_key_file\" must be set together"),
				 errhint("A GCS started with RAY_USE_TLS=1 needs a client certificate and its key.")));
	if (has_address && has_dashboard)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options \"address\" and \"dashboard_url\" cannot both be set"),
				 errhint("Use address for the GCS (gRPC) or dashboard_url for the dashboard (HTTP).")));
	PG_RETURN_VOID();
}

/* The options of a server, with the documented defaults. */
void
raydar_read_server_options(ForeignServer *server, RaydarServerOptions *opts)
{
	ListCell   *cell;

	memset(opts, 0, sizeof(*opts));
	opts->timeout_ms = 30000;
	opts->connect_timeout_ms = 5000;
	opts->cache_ttl_ms = 0;
	opts->max_reply_bytes = RAY_MAX_MESSAGE_SIZE;
	opts->tls_verify = true;
	foreach(cell, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "address") == 0)
			opts->address = defGetString(def);
		else if (strcmp(def->defname, "dashboard_url") == 0)
		{
			/* Kept without the trailing '/': paths are appended. */
			char	   *u = pstrdup(defGetString(def));
			size_t		n = strlen(u);

			if (n > 0 && u[n - 1] == '/')
				u[n - 1] = '\0';
			opts->dashboard_url = u;
		}
		else if (strcmp(def->defname, "ca_file") == 0)
			opts->ca_file = defGetString(def);
		else if (strcmp(def->defname, "client_cert_file") == 0)
			opts->client_cert_file = defGetString(def);
		else if (strcmp(def->defname, "client_key_file") == 0)
			opts->client_key_file = defGetString(def);
		else if (strcmp(def->defname, "tls_verify") == 0)
			opts->tls_verify = defGetBoolean(def);
		else if (strcmp(def->defname, "ray_version") == 0)
		{
			opts->has_version = ray_version_parse(defGetString(def), &opts->version);
			opts->version_text = defGetString(def);
		}
		else if (strcmp(def->defname, "timeout_ms") == 0)
			opts->timeout_ms = parse_int_option(def, 1);
		else if (strcmp(def->defname, "connect_timeout_ms") == 0)
			opts->connect_timeout_ms = parse_int_option(def, 1);
		else if (strcmp(def->defname, "cache_ttl_ms") == 0)
			opts->cache_ttl_ms = parse_int_option(def, 0);
		else if (strcmp(def->defname, "max_reply_mb") == 0)
			opts->max_reply_bytes = (size_t) parse_int_option(def, 1) * 1024 * 1024;
		else if (strcmp(def->defname, "proxy") == 0)
			opts->proxy = defGetString(def);
	}
	opts->max_reply_bytes = Min(opts->max_reply_bytes, RAY_MAX_MESSAGE_SIZE);
	if (opts->address == NULL && opts->dashboard_url == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("foreign server \"%s\" has no address", server->servername),
				 errhint("ALTER SERVER %s OPTIONS (ADD address 'host:6379'); "
						 "or, for the dashboard's HTTP API, OPTIONS (ADD dashboard_url 'http://host:8265').",
						 quote_identifier(server->servername))));
}

/* A table's resource: its option, else its name. */
const RaydarResource *
raydar_table_resource(ForeignTable *table, const char *relname)
{
	ListCell   *cell;
	const RaydarResource *r;

	foreach(cell, table->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "resource") == 0 &&
			(r = raydar_find_resource(defGetString(def))) != NULL)
			return r;
	}
	if ((r = raydar_find_resource(relname)) != NULL)
		return r;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
			 errmsg("foreign table \"%s\" does not say which Ray resource it reads", relname),
			 errhint("Add OPTIONS (resource 'tasks'), or use IMPORT FOREIGN SCHEMA ray.")));
	return NULL;
}
