/*
 * event_entities.c
 *		Jobs, actors and nodes from pushed Ray events (see event_entities.h).
 *
 * Not stored yet: the receiver counts these events (other_events in
 * raydar.event_receiver_status) and passes them here, where issue 17's
 * remaining work merges them into job_history, actor_history and
 * node_history.
 */
#include "raydar.h"

#include "event_entities.h"

void
event_entities_merge(const char *cluster, const char *incarnation,
					 const RayVersion *v, RayEventItem *const *items, int n)
{
	(void) cluster;
	(void) incarnation;
	(void) v;
	(void) items;
	(void) n;
}
