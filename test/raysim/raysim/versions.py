"""Every Ray-version fact the simulator depends on, one place per fact.

A *profile* is one of the Ray versions the project tests against (the
folders of test/fixtures/ray-wire). Sources: Ray's .proto files and the
version table of test/fixtures/ray-wire/README.md.
"""

PROFILES = ["2.9", "2.35", "2.40", "2.49", "master", "2.58"]

# CheckAlive.ray_version per profile (as in the vectors' check_alive_reply.bin).
RAY_VERSION = {"2.9": "2.9.3", "2.35": "2.35.0", "2.40": "2.40.0",
               "2.49": "2.49.2", "master": "3.0.0.dev0", "2.58": "2.58.0"}

# Comparable version tuple per profile (master counts as newer than any 2.x).
VERSION_TUPLE = {"2.9": (2, 9, 3), "2.35": (2, 35, 0), "2.40": (2, 40, 0),
                 "2.49": (2, 49, 2), "master": (3, 0, 0), "2.58": (2, 58, 0)}

# TaskStatus: renumbered in 2.39 (#48242).
TASK_STATUS_OLD = {"NIL": 0, "PENDING_ARGS_AVAIL": 1, "PENDING_NODE_ASSIGNMENT": 2,
                   "PENDING_OBJ_STORE_MEM_AVAIL": 3, "PENDING_ARGS_FETCH": 4,
                   "SUBMITTED_TO_WORKER": 5, "RUNNING": 6, "RUNNING_IN_RAY_GET": 7,
                   "RUNNING_IN_RAY_WAIT": 8, "FINISHED": 9, "FAILED": 10}
TASK_STATUS_NEW = {"NIL": 0, "PENDING_ARGS_AVAIL": 1, "PENDING_NODE_ASSIGNMENT": 2,
                   "PENDING_OBJ_STORE_MEM_AVAIL": 3, "PENDING_ARGS_FETCH": 4,
                   "SUBMITTED_TO_WORKER": 5, "PENDING_ACTOR_TASK_ARGS_FETCH": 6,
                   "PENDING_ACTOR_TASK_ORDERING_OR_CONCURRENCY": 7, "RUNNING": 8,
                   "RUNNING_IN_RAY_GET": 9, "RUNNING_IN_RAY_WAIT": 10,
                   "FINISHED": 11, "FAILED": 12}
# GETTING_AND_PINNING_ARGS=13, declared after FAILED: master 2025-10-16,
# ≈2.51+ (protocol doc section 3); 2.58 has it (its vectors).
TASK_STATUS_MASTER = dict(TASK_STATUS_NEW, GETTING_AND_PINNING_ARGS=13)
TASK_STATUS_13_SINCE = (2, 51, 0)

# Up to 2.31 the state times were TaskStateUpdate fields 2..7 (ns), and only
# these six states had a field. Field number per state name.
LEGACY_TS_FIELD = {"PENDING_ARGS_AVAIL": 2, "PENDING_NODE_ASSIGNMENT": 3,
                   "SUBMITTED_TO_WORKER": 4, "RUNNING": 5, "FINISHED": 6, "FAILED": 7}
LEGACY_TS_ATTR = {"PENDING_ARGS_AVAIL": "pending_args_avail_ts",
                  "PENDING_NODE_ASSIGNMENT": "pending_node_assignment_ts",
                  "SUBMITTED_TO_WORKER": "submitted_to_worker_ts",
                  "RUNNING": "running_ts", "FINISHED": "finished_ts",
                  "FAILED": "failed_ts"}

TASK_TYPE = {"NORMAL_TASK": 0, "ACTOR_CREATION_TASK": 1, "ACTOR_TASK": 2, "DRIVER_TASK": 3}
LANGUAGE = {"PYTHON": 0, "JAVA": 1, "CPP": 2}
FILTER_PREDICATE = {"EQUAL": 0, "NOT_EQUAL": 1}

# ErrorType: name -> (number, first profile tuple that has it).
_E = ["WORKER_DIED", "ACTOR_DIED", "OBJECT_UNRECONSTRUCTABLE", "TASK_EXECUTION_EXCEPTION",
      "OBJECT_IN_PLASMA", "TASK_CANCELLED", "ACTOR_CREATION_FAILED",
      "RUNTIME_ENV_SETUP_FAILED", "OBJECT_LOST", "OWNER_DIED", "OBJECT_DELETED",
      "DEPENDENCY_RESOLUTION_FAILED", "OBJECT_UNRECONSTRUCTABLE_MAX_ATTEMPTS_EXCEEDED",
      "OBJECT_UNRECONSTRUCTABLE_LINEAGE_EVICTED", "OBJECT_FETCH_TIMED_OUT",
      "LOCAL_RAYLET_DIED", "TASK_PLACEMENT_GROUP_REMOVED", "ACTOR_PLACEMENT_GROUP_REMOVED",
      "TASK_UNSCHEDULABLE_ERROR", "ACTOR_UNSCHEDULABLE_ERROR", "OUT_OF_DISK_ERROR",
      "OBJECT_FREED", "OUT_OF_MEMORY", "NODE_DIED", "END_OF_STREAMING_GENERATOR"]
ERROR_TYPE = {n: (i, (2, 9, 0)) for i, n in enumerate(_E)}
ERROR_TYPE["ACTOR_UNAVAILABLE"] = (25, (2, 11, 0))
ERROR_TYPE["GENERATOR_TASK_FAILED_FOR_OBJECT_RECONSTRUCTION"] = (26, (2, 48, 0))
# After 2.49 OBJECT_UNRECONSTRUCTABLE (2) was split into 27..32 and 2 was
# dropped without being reserved (the 2.58 vectors: 2 shows as a number).
# The release is not pinned down (2.50..2.58); 2.50 is taken, as in C
# (src/ray/ray_enums.c ray_error_type_name_v).
ERROR_TYPE_SPLIT_SINCE = (2, 50, 0)
for _i, _n in enumerate(["PUT", "RETRIES_DISABLED", "BORROWED", "REF_NOT_FOUND",
                         "TASK_CANCELLED", "LINEAGE_DISABLED"]):
    ERROR_TYPE["OBJECT_UNRECONSTRUCTABLE_" + _n] = (27 + _i, ERROR_TYPE_SPLIT_SINCE)

# ---- other GCS resources (protocol doc sections 4 and 8) ----------------------
ACTOR_STATE = {"DEPENDENCIES_UNREADY": 0, "PENDING_CREATION": 1, "ALIVE": 2,
               "RESTARTING": 3, "DEAD": 4}
NODE_STATE = {"ALIVE": 0, "DEAD": 1}
NODE_DEATH_REASON = {"UNSPECIFIED": 0, "EXPECTED_TERMINATION": 1, "UNEXPECTED_TERMINATION": 2,
                     "AUTOSCALER_DRAIN_PREEMPTED": 3, "AUTOSCALER_DRAIN_IDLE": 4}
WORKER_TYPE = {"WORKER": 0, "DRIVER": 1, "SPILL_WORKER": 2, "RESTORE_WORKER": 3}
WORKER_EXIT_TYPE = {"SYSTEM_ERROR": 0, "INTENDED_SYSTEM_EXIT": 1, "USER_ERROR": 2,
                    "INTENDED_USER_EXIT": 3, "NODE_OUT_OF_MEMORY": 4}
PG_STRATEGY = {"PACK": 0, "SPREAD": 1, "STRICT_PACK": 2, "STRICT_SPREAD": 3}
# PlacementGroupTableData.PlacementGroupState: PREPARED inserted at 1 in 2.36.
PG_STATE_OLD = {"PENDING": 0, "CREATED": 1, "REMOVED": 2, "RESCHEDULING": 3}
PG_STATE_NEW = {"PENDING": 0, "PREPARED": 1, "CREATED": 2, "REMOVED": 3, "RESCHEDULING": 4}
# ActorDeathCause oneof alternatives (field number -> name); each has its
# message at field 1 except creation_task_failure_context (RayException,
# formatted_exception_string = 3).
ACTOR_DEATH_CAUSE = {"creation_task_failure_context": 1, "runtime_env_failed_context": 2,
                     "actor_died_error_context": 3, "actor_unschedulable_context": 4,
                     "oom_context": 5}

# First version with each fact (compared with Profile.version).
SINCE = {
    "node_death_info": (2, 10, 0),          # GcsNodeInfo.death_info = 29
    "pg_soft_target_node": (2, 10, 0),      # PG timestamps 14/15 -> 15/16
    "node_request_v236": (2, 36, 0),        # GetAllNodeInfoRequest limit=3, filters=4
    "node_reply_counts": (2, 36, 0),        # GetAllNodeInfoReply total=3, num_filtered=4
    "node_filter_ip": (2, 42, 0),           # Filters.node_ip_address = 4
    "node_request_v249": (2, 49, 0),        # limit=1, node_selectors=2, state_filter=3
    "node_selector_head": (2, 53, 0),       # NodeSelector.is_head_node = 4 (master Dec 2025: ≈2.53; 2.58 has it)
    "pg_state_prepared": (2, 36, 0),        # PlacementGroupState renumbered
    "worker_filters": (2, 36, 0),           # GetAllWorkerInfoRequest.filters = 2
    "job_request_v237": (2, 37, 0),         # job_or_submission_id=2, skip_*=3,4
    "actor_lineage_restarts": (2, 37, 0),   # ActorTableData field 33
    "actor_call_site": (2, 41, 0),          # field 34
    "actor_label_selector": (2, 48, 0),     # field 35
    "actor_preemption_restarts": (2, 49, 0),  # field 36
    # RAY_AUTH_MODE=token: from 2.52 every RPC needs `authorization: Bearer`;
    # earlier servers ignore the header (shared/ray-gcs-protocol.md §8).
    "token_auth": (2, 52, 0),
    # A present, different `ray_cluster_id`: gRPC ABORTED up to 2.51 (the
    # server call's AuthError reply), UNAUTHENTICATED from 2.52 (the auth
    # interceptor). shared/ray-gcs-protocol.md; release boundary unsure.
    "cluster_id_unauthenticated": (2, 52, 0),
}

# ID byte lengths (RAY_CHECK in FromBinary).
ID_LEN = {"task": 24, "job": 4, "actor": 16, "node": 28, "worker": 28, "pg": 18}


class Profile:
    """Everything version-dependent, looked up by profile name."""

    def __init__(self, name):
        if name not in PROFILES:
            raise ValueError("unknown profile %r (known: %s)" % (name, ", ".join(PROFILES)))
        self.name = name
        self.ray_version = RAY_VERSION[name]
        v = VERSION_TUPLE[name]
        self.version = v
        if v >= TASK_STATUS_13_SINCE:
            self.task_status = TASK_STATUS_MASTER
        elif v >= (2, 39, 0):
            self.task_status = TASK_STATUS_NEW
        else:
            self.task_status = TASK_STATUS_OLD
        self.status_name = {n: s for s, n in self.task_status.items()}
        self.legacy_ts = v < (2, 32, 0)            # fields 2..7 instead of map 14
        self.predicate_filters = v >= (2, 41, 0)   # #48983
        self.has_state_filter = v >= (2, 32, 0)    # legacy Filters.state = 6
        self.name_case_insensitive = v >= (2, 32, 0)
        self.has_call_site = v >= (2, 41, 0)
        self.has_label_selector = v >= (2, 48, 0)
        for fact, since in SINCE.items():
            setattr(self, "has_" + fact, v >= since)
        self.pg_state = PG_STATE_NEW if self.has_pg_state_prepared else PG_STATE_OLD
        self.pg_state_name = {n: s for s, n in self.pg_state.items()}
        if self.has_node_request_v249:
            self.node_request_layout = "v2.49"
        elif self.has_node_request_v236:
            self.node_request_layout = "v2.36"
        else:
            self.node_request_layout = "none"
        self.error_types = {n: num for n, (num, since) in ERROR_TYPE.items()
                            if v >= since and not (num == 2 and v >= ERROR_TYPE_SPLIT_SINCE)}
        self.error_type_name = {num: n for n, num in self.error_types.items()}

    def pg_state_number(self, name):
        """PG state number on this version (PREPARED does not exist before
        2.36; such a PG is still PENDING there)."""
        if name not in self.pg_state:
            name = "PENDING"
        return self.pg_state[name]

    def status_number(self, state_name):
        """TaskStatus number for a name; KeyError if this version lacks it."""
        if self.legacy_ts and state_name not in LEGACY_TS_FIELD:
            raise KeyError("%s has no timestamp field on Ray %s" % (state_name, self.ray_version))
        return self.task_status[state_name]

    def error_type_str(self, num):
        """Name of an ErrorType number; unknown numbers as decimal strings."""
        return self.error_type_name.get(num, str(num))


def profile_for_version(ray_version):
    """Profile whose ray_version string is given (for --replay)."""
    for p, v in RAY_VERSION.items():
        if v == ray_version:
            return p
    raise ValueError("no profile for ray_version %r" % ray_version)
