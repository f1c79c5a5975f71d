/*
 * ray_interrupt.c
 *		The process's interrupt check for the core's long loops.
 *
 * One check per process, set once by the host (the extension sets one that
 * reads QueryCancelPending and ProcDiePending). A global rather than a
 * parameter of every decoder: the check belongs to the process, not to a
 * call, and PostgreSQL backends are single-threaded. gRPC's own threads
 * never decode, so never call it.
 */
#include "ray_status.h"

#include <stddef.h>

static RayInterruptFn interrupt_fn = NULL;
static void *interrupt_arg = NULL;

void
ray_set_interrupt_check(RayInterruptFn fn, void *arg)
{
	interrupt_fn = fn;
	interrupt_arg = arg;
}

bool
ray_interrupted(void)
{
	return interrupt_fn != NULL && interrupt_fn(interrupt_arg);
}
