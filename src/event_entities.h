/*
 * event_entities.h
 *		Jobs, actors and nodes from pushed Ray events (Event Export): the
 *		seam between the push receiver, which reads, deduplicates and
 *		orders a body's events, and the code that keeps the latest row per
 *		job, actor and node in raydar.<job|actor|node>_history, the same
 *		rows the collector's poll writes (collector_entities.c).
 */
#ifndef RAYDAR_EVENT_ENTITIES_H
#define RAYDAR_EVENT_ENTITIES_H

#include "ray_event_entity.h"
#include "ray_event_json.h"
#include "ray_version.h"

/*
 * Merge the events items[0, n) of one (cluster, incarnation) into the
 * entity history tables, and workers' deaths into
 * raydar.event_worker_deaths. The items are the fresh (first delivery) events
 * of a body or group of bodies that are neither task events nor rejected,
 * in arrival order. Called inside the receiver's transaction with SPI
 * connected; errors are ERRORs (the receiver retries the body alone).
 * Returns how many events it skipped because their entity is tombstoned
 * (counted with the duplicates).
 */
extern int	event_entities_merge(const char *cluster, const char *incarnation,
								 const RayVersion *v, RayEventItem *const *items, int n);

/*
 * Tombstone the pushed entities whose history row is final and that had no
 * event for older_than_s: their events deleted from raydar.event_entities,
 * their later events skipped by event_entities_merge. Drops tombstones
 * older than 30 days. SPI connected; returns the entities tombstoned.
 */
extern uint64 event_entities_expire(double older_than_s);

#endif							/* RAYDAR_EVENT_ENTITIES_H */
