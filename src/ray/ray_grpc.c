/*
 * ray_grpc.c
 *		Unary calls over grpc core with interruptible waits and blocked
 *		signals. See ray_grpc.h for the rules and why.
 */
#include "ray_grpc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "ray_status.h"

struct RayGrpcChannel
{
	grpc_channel *channel;
	grpc_completion_queue *cq;
	grpc_completion_queue *watch_cq;	/* ray_grpc_connection_new's watch only */
	bool		watching;		/* a watch of READY is pending on watch_cq */
	bool		tls;			/* SSL credentials (RAY_USE_TLS) */
	char		target[256];
};

static bool grpc_started = false;

/* Block every signal around grpc calls that may start threads. */
typedef struct SignalGuard
{
	sigset_t	saved;
} SignalGuard;

static void
block_signals(SignalGuard *g)
{
	sigset_t	all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &g->saved);
}

static void
restore_signals(SignalGuard *g)
{
	pthread_sigmask(SIG_SETMASK, &g->saved, NULL);
}

static void
ensure_grpc(void)
{
	SignalGuard g;

	if (grpc_started)
		return;
	block_signals(&g);
	grpc_init();
	restore_signals(&g);
	grpc_started = true;
}

void
ray_grpc_shutdown(void)
{
	SignalGuard g;

	if (!grpc_started)
		return;
	block_signals(&g);
	grpc_shutdown_blocking();
	restore_signals(&g);
	grpc_started = false;
}

const char *
ray_grpc_version(void)
{
	return grpc_version_string();
}

/* Bytes of a received reply copied between interrupt checks. */
#define COPY_STEP ((size_t) 4 * 1024 * 1024)

#ifndef Min
#define Min(a, b) ((a) < (b) ? (a) : (b))
#endif

static gpr_timespec
deadline_in(int ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* Largest PEM file read: certificate chains and keys are a few kB. */
#define PEM_MAX ((long) 1024 * 1024)

/*
 * The whole PEM file `path` as a NUL-terminated malloc'd string, or NULL
 * with `err` saying why (what names which option it came from).
 */
static char *
read_pem(const char *path, const char *what, char *err, size_t errlen)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;
	size_t		got;

	if (f == NULL)
	{
		snprintf(err, errlen, "could not open %s \"%s\": %s", what, path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		snprintf(err, errlen, "could not read %s \"%s\": %s", what, path, strerror(errno));
		fclose(f);
		return NULL;
	}
	if (n == 0 || n > PEM_MAX)
	{
		snprintf(err, errlen, "%s \"%s\" is %s", what, path,
				 n == 0 ? "empty" : "larger than 1 MB, not a PEM certificate or key");
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t) n + 1);
	if (buf == NULL)
	{
		snprintf(err, errlen, "out of memory reading %s \"%s\"", what, path);
		fclose(f);
		return NULL;
	}
	got = fread(buf, 1, (size_t) n, f);
	fclose(f);
	if (got != (size_t) n)
	{
		snprintf(err, errlen, "could not read %s \"%s\": short read", what, path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Free a PEM string; key material is wiped first. */
static void
free_pem(char *pem)
{
	if (pem == NULL)
		return;
	memset(pem, 0, strlen(pem));
	free(pem);
}

/*
 * SSL channel credentials from tls's files, or NULL with err set. grpc
 * copies the strings, so they are freed (wiped) here.
 */
static grpc_channel_credentials *
tls_credentials(const RayGrpcTls *tls, char *err, size_t errlen)
{
	char	   *ca = NULL,
			   *cert = NULL,
			   *key = NULL;
	grpc_ssl_pem_key_cert_pair pair;
	grpc_channel_credentials *creds = NULL;

	if ((tls->cert_file == NULL) != (tls->key_file == NULL))
	{
		snprintf(err, errlen, "a client certificate needs both client_cert_file and client_key_file");
		return NULL;
	}
	if (tls->ca_file && (ca = read_pem(tls->ca_file, "CA file", err, errlen)) == NULL)
		goto done;
	if (tls->cert_file &&
		((cert = read_pem(tls->cert_file, "client certificate file", err, errlen)) == NULL ||
		 (key = read_pem(tls->key_file, "client key file", err, errlen)) == NULL))
		goto done;
	pair.private_key = key;
	pair.cert_chain = cert;
	creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
	if (creds == NULL)
		snprintf(err, errlen, "could not make TLS credentials from the CA and client certificate files");
done:
	free_pem(ca);
	free_pem(cert);
	free_pem(key);
	return creds;
}

RayGrpcChannel *
ray_grpc_channel_create(const char *target, size_t max_reply_bytes, char *err, size_t errlen)
{
	return ray_grpc_channel_create_tls(target, max_reply_bytes, NULL, err, errlen);
}

RayGrpcChannel *
ray_grpc_channel_create_tls(const char *target, size_t max_reply_bytes, const RayGrpcTls *tls,
							char *err, size_t errlen)
{
	RayGrpcChannel *ch;
	grpc_channel_credentials *creds;
	bool		use_tls = tls && (tls->ca_file || tls->cert_file || tls->key_file);
	grpc_arg	args[4];
	grpc_channel_args chargs;
	SignalGuard g;

	if (strlen(target) >= sizeof(ch->target))
	{
		snprintf(err, errlen, "address \"%.64s...\" is too long", target);
		return NULL;
	}
	ch = calloc(1, sizeof(RayGrpcChannel));
	if (ch == NULL)
	{
		snprintf(err, errlen, "out of memory creating a gRPC channel");
		return NULL;
	}
	strcpy(ch->target, target);
	ensure_grpc();

	/*
	 * The caller's cap, at most Ray's own limit; grpc's default of 4 MiB is
	 * far too small for tasks. grpc refuses a larger reply before holding
	 * it (RESOURCE_EXHAUSTED).
	 */
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int) (max_reply_bytes > 0 && max_reply_bytes < RAY_MAX_MESSAGE_SIZE
								   ? max_reply_bytes : RAY_MAX_MESSAGE_SIZE);
	/* The GCS is reached directly; http_proxy in a server's environment must not apply. */
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_ENABLE_HTTP_PROXY;
	args[1].value.integer = 0;
	/* Ray's GCS answers pings more often than every 60 s with GOAWAY. */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_KEEPALIVE_TIME_MS;
	args[2].value.integer = 300000;
	/* Reconnect promptly after a GCS restart instead of backing off for minutes. */
	args[3].type = GRPC_ARG_INTEGER;
	args[3].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
	args[3].value.integer = 2000;
	chargs.num_args = 4;
	chargs.args = args;

	block_signals(&g);
	creds = use_tls ? tls_credentials(tls, err, errlen) : grpc_insecure_credentials_create();
	if (creds == NULL)
	{
		restore_signals(&g);
		free(ch);
		return NULL;
	}
	ch->tls = use_tls;
	ch->channel = grpc_channel_create(target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	ch->cq = grpc_completion_queue_create_for_next(NULL);
	ch->watch_cq = grpc_completion_queue_create_for_next(NULL);
	restore_signals(&g);
	if (ch->channel == NULL || ch->cq == NULL || ch->watch_cq == NULL)
	{
		snprintf(err, errlen, "could not create a gRPC channel to \"%s\"", target);
		ray_grpc_channel_destroy(ch);
		return NULL;
	}
	return ch;
}

void
ray_grpc_channel_destroy(RayGrpcChannel *ch)
{
	SignalGuard g;

	if (ch == NULL)
		return;
	block_signals(&g);
	if (ch->channel)
		grpc_channel_destroy(ch->channel);
	if (ch->cq)
	{
		grpc_event	ev;

		grpc_completion_queue_shutdown(ch->cq);
		do
			ev = grpc_completion_queue_next(ch->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		while (ev.type != GRPC_QUEUE_SHUTDOWN);
		grpc_completion_queue_destroy(ch->cq);
	}
	if (ch->watch_cq)
	{
		grpc_event	ev;

		/* The channel is gone: a pending watch has completed (failed). */
		grpc_completion_queue_shutdown(ch->watch_cq);
		do
			ev = grpc_completion_queue_next(ch->watch_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		while (ev.type != GRPC_QUEUE_SHUTDOWN);
		grpc_completion_queue_destroy(ch->watch_cq);
	}
	restore_signals(&g);
	free(ch);
}

/*
 * Wait for the event with `tag` on the channel's queue, a tick at a time.
 * If interrupted, cancel the call (when given) and keep waiting for the
 * event, which grpc then delivers promptly: the call must complete before
 * its memory can be released.
 */
static bool
wait_for(RayGrpcChannel *ch, void *tag, grpc_call *call,
		 RayInterruptFn interrupted, void *arg, bool *was_cancelled)
{
	*was_cancelled = false;
	for (;;)
	{
		SignalGuard g;
		grpc_event	ev;

		block_signals(&g);
		ev = grpc_completion_queue_next(ch->cq, deadline_in(RAY_GRPC_TICK_MS), NULL);
		restore_signals(&g);	/* pending signals are delivered here */
		if (ev.type == GRPC_OP_COMPLETE && ev.tag == tag)
			return ev.success != 0;
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return false;
		if (!*was_cancelled && interrupted && interrupted(arg))
		{
			*was_cancelled = true;
			if (call)
			{
				block_signals(&g);
				grpc_call_cancel(call, NULL);
				restore_signals(&g);
			}
			else
				return false;	/* a connectivity watch ends on its own */
		}
	}
}

bool
ray_grpc_connection_new(RayGrpcChannel *ch)
{
	static int	watch_tag;
	SignalGuard g;
	bool		changed = !ch->watching;

	block_signals(&g);
	if (ch->watching)
	{
		grpc_event	ev = grpc_completion_queue_next(ch->watch_cq,
													gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);

		if (ev.type == GRPC_OP_COMPLETE)
		{
			ch->watching = false;
			changed = true;
		}
	}
	if (!ch->watching &&
		grpc_channel_check_connectivity_state(ch->channel, 0) == GRPC_CHANNEL_READY)
	{
		grpc_channel_watch_connectivity_state(ch->channel, GRPC_CHANNEL_READY,
											  gpr_inf_future(GPR_CLOCK_MONOTONIC),
											  ch->watch_cq, &watch_tag);
		ch->watching = true;
	}
	restore_signals(&g);
	return changed;
}

RayStatus
ray_grpc_connect(RayGrpcChannel *ch, int timeout_ms, RayInterruptFn interrupted,
				 void *arg, char *err, size_t errlen)
{
	gpr_timespec until = deadline_in(timeout_ms);
	bool		tried_once = false;

	for (;;)
	{
		SignalGuard g;
		grpc_connectivity_state st;
		bool		cancelled;
		gpr_timespec tick;
		int			tag;

		block_signals(&g);
		st = grpc_channel_check_connectivity_state(ch->channel, 1);
		restore_signals(&g);
		if (st == GRPC_CHANNEL_READY)
			return RAY_OK;
		if (st == GRPC_CHANNEL_SHUTDOWN ||
			(st == GRPC_CHANNEL_TRANSIENT_FAILURE && tried_once))
		{
			/* grpc does not say why; a failed handshake looks like a refusal. */
			if (ch->tls)
				snprintf(err, errlen, "could not connect to %s over TLS: connection refused, host "
						 "unreachable, or the TLS handshake failed (a GCS certificate ca_file did not "
						 "sign, or a client certificate the GCS does not accept)", ch->target);
			else
				snprintf(err, errlen, "could not connect to %s: connection refused or host unreachable "
						 "(or a GCS started with RAY_USE_TLS=1, which needs ca_file, client_cert_file "
						 "and client_key_file)", ch->target);
			return RAY_ERR_UNAVAILABLE;
		}
		if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), until) >= 0)
		{
			snprintf(err, errlen, "could not connect to %s within %d ms", ch->target, timeout_ms);
			return RAY_ERR_TIMEOUT;
		}
		if (st == GRPC_CHANNEL_CONNECTING || st == GRPC_CHANNEL_IDLE)
			tried_once = true;

		/* Watch for a state change, at most one tick, then look again. */
		tick = deadline_in(RAY_GRPC_TICK_MS);
		if (gpr_time_cmp(tick, until) > 0)
			tick = until;
		block_signals(&g);
		grpc_channel_watch_connectivity_state(ch->channel, st, tick, ch->cq, &tag);
		restore_signals(&g);
		(void) wait_for(ch, &tag, NULL, NULL, NULL, &cancelled);
		if (interrupted && interrupted(arg))
		{
			snprintf(err, errlen, "cancelled while connecting to %s", ch->target);
			return RAY_ERR_CANCELLED;
		}
	}
}

static RayStatus
status_to_ray(grpc_status_code code)
{
	switch (code)
	{
		case GRPC_STATUS_OK:
			return RAY_OK;
		case GRPC_STATUS_UNAVAILABLE:
			return RAY_ERR_UNAVAILABLE;
		case GRPC_STATUS_DEADLINE_EXCEEDED:
			return RAY_ERR_TIMEOUT;
		case GRPC_STATUS_UNAUTHENTICATED:
		case GRPC_STATUS_PERMISSION_DENIED:
			return RAY_ERR_UNAUTHENTICATED;
		case GRPC_STATUS_CANCELLED:
			return RAY_ERR_CANCELLED;
		case GRPC_STATUS_RESOURCE_EXHAUSTED:
			return RAY_ERR_TOO_LARGE;
		default:
			return RAY_ERR_RPC;
	}
}

/*
 * The received message into one buffer from alloc: *reply, *reply_len.
 * Reading the finished call starts no grpc thread, so this runs with
 * signals unblocked and `interrupted` is asked between steps of the copy.
 */
static RayStatus
copy_reply(RayGrpcChannel *ch, grpc_byte_buffer *recv_bb,
		   RayInterruptFn interrupted, void *arg, ProtobufCAllocator *alloc,
		   uint8_t **reply, size_t *reply_len, char *err, size_t errlen)
{
	grpc_byte_buffer_reader reader;
	size_t		n = grpc_byte_buffer_length(recv_bb);
	RayStatus	rs = RAY_OK;

	*reply = alloc ? alloc->alloc(alloc->allocator_data, n ? n : 1) : malloc(n ? n : 1);
	if (*reply == NULL)
	{
		snprintf(err, errlen, "out of memory receiving a %zu-byte reply", n);
		rs = RAY_ERR_OOM;
	}
	else if (grpc_byte_buffer_reader_init(&reader, recv_bb))
	{
		grpc_slice	s;
		size_t		off = 0;

		/*
		 * Copy slice by slice: no second full-size buffer. A 500 MB
		 * reply takes a while to copy, so cancel is honoured here too.
		 */
		while (rs == RAY_OK && grpc_byte_buffer_reader_next(&reader, &s))
		{
			size_t		len = GRPC_SLICE_LENGTH(s);
			const uint8_t *src = GRPC_SLICE_START_PTR(s);

			/* A slice can be large: copy and check in steps of 4 MiB. */
			for (size_t done = 0; done < len && rs == RAY_OK;)
			{
				size_t		step = Min(len - done, COPY_STEP);

				if (off + done + step <= n)
					memcpy(*reply + off + done, src + done, step);
				done += step;
				if (interrupted && interrupted(arg))
				{
					snprintf(err, errlen, "cancelled while reading the reply from %s", ch->target);
					rs = RAY_ERR_CANCELLED;
				}
			}
			off += len;
			grpc_slice_unref(s);
		}
		grpc_byte_buffer_reader_destroy(&reader);
		*reply_len = off <= n ? off : n;
	}
	else
	{
		snprintf(err, errlen, "could not read the reply from %s", ch->target);
		rs = RAY_ERR_MALFORMED;
	}
	return rs;
}

/*
 * Ray's token authentication: `authorization: Bearer <token>` as initial
 * metadata of the call. Returns the malloc'd header text (the caller frees
 * it after the call), or NULL when there is no token.
 */
static char *
bearer_metadata(grpc_op *op, grpc_metadata *md, const char *bearer)
{
	size_t		n;
	char	   *auth;

	if (bearer == NULL || bearer[0] == '\0')
		return NULL;
	n = strlen(bearer) + sizeof("Bearer ");
	auth = malloc(n);
	if (auth)
	{
		snprintf(auth, n, "Bearer %s", bearer);
		md[0].key = grpc_slice_from_static_string("authorization");
		md[0].value = grpc_slice_from_copied_string(auth);
		op->data.send_initial_metadata.count = 1;
		op->data.send_initial_metadata.metadata = md;
	}
	return auth;
}

RayStatus
ray_grpc_unary(RayGrpcChannel *ch, const char *method,
			   const uint8_t *request, size_t request_len,
			   const char *bearer, int timeout_ms,
			   RayInterruptFn interrupted, void *arg,
			   ProtobufCAllocator *alloc,
			   uint8_t **reply, size_t *reply_len,
			   char *err, size_t errlen)
{
	grpc_call  *call;
	grpc_op		ops[6];
	grpc_metadata md[1];
	grpc_metadata_array initial_md,
				trailing_md;
	grpc_byte_buffer *send_bb,
			   *recv_bb = NULL;
	grpc_slice	req_slice,
				method_slice,
				details;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	char	   *auth = NULL;
	int			tag;
	bool		cancelled;
	bool		ok;
	RayStatus	rs;
	SignalGuard g;

	*reply = NULL;
	*reply_len = 0;
	memset(ops, 0, sizeof(ops));
	grpc_metadata_array_init(&initial_md);
	grpc_metadata_array_init(&trailing_md);

	block_signals(&g);
	method_slice = grpc_slice_from_copied_string(method);
	call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, ch->cq,
									method_slice, NULL,
									gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
												 gpr_time_from_millis(timeout_ms, GPR_TIMESPAN)),
									NULL);
	grpc_slice_unref(method_slice);
	req_slice = grpc_slice_from_copied_buffer((const char *) request, request_len);
	send_bb = grpc_raw_byte_buffer_create(&req_slice, 1);
	grpc_slice_unref(req_slice);

	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	auth = bearer_metadata(&ops[0], md, bearer);
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
	ok = grpc_call_start_batch(call, ops, 6, &tag, NULL) == GRPC_CALL_OK;
	restore_signals(&g);

	if (!ok)
	{
		snprintf(err, errlen, "could not start a gRPC call to %s", ch->target);
		rs = RAY_ERR_RPC;
		goto cleanup;
	}

	(void) wait_for(ch, &tag, call, interrupted, arg, &cancelled);

	/*
	 * Signals stay deliverable from here on: a cancel during the copy of a
	 * 500 MB reply must set QueryCancelPending for copy_reply to see it.
	 */
	if (cancelled)
	{
		snprintf(err, errlen, "cancelled while waiting for %s", ch->target);
		rs = RAY_ERR_CANCELLED;
	}
	else if (status != GRPC_STATUS_OK)
	{
		char	   *msg = grpc_slice_to_c_string(details);

		rs = status_to_ray(status);
		snprintf(err, errlen, "%s", msg ? msg : "");
		gpr_free(msg);
	}
	else if (recv_bb == NULL)
	{
		snprintf(err, errlen, "%s sent no reply message", ch->target);
		rs = RAY_ERR_MALFORMED;
	}
	else
		rs = copy_reply(ch, recv_bb, interrupted, arg, alloc, reply, reply_len, err, errlen);
	grpc_slice_unref(details);

cleanup:
	block_signals(&g);
	if (recv_bb)
		grpc_byte_buffer_destroy(recv_bb);
	grpc_byte_buffer_destroy(send_bb);
	grpc_metadata_array_destroy(&initial_md);
	grpc_metadata_array_destroy(&trailing_md);
	if (ops[0].data.send_initial_metadata.count == 1)
		grpc_slice_unref(md[0].value);
	grpc_call_unref(call);
	restore_signals(&g);
	free(auth);
	if (rs != RAY_OK && *reply)
	{
		if (alloc)
			alloc->free(alloc->allocator_data, *reply);
		else
			free(*reply);
		*reply = NULL;
		*reply_len = 0;
	}
	return rs;
}
