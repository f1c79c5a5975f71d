#!/usr/bin/python3
"""training_loop.py: a training loop that streams per-node loss into raydar.

The SQL-side replacement of the original Python raydar's `new` / `update`:
create a metrics table once, then push rows in batches with raydar.update().
Any PostgreSQL driver works; this uses Debian's psycopg2 (python3-psycopg2).

    python3 training_loop.py [--dsn DSN] [--steps N] [--nodes N] [--batch N]

The connection comes from --dsn or the usual PG* environment variables.
The role needs raydar_writer (see docs/security.md). Watch it live with:

    SELECT node_id, max(step), avg(value) FILTER (WHERE metric_name = 'loss')
      FROM raydar_metrics.training_loss GROUP BY 1;
"""
import argparse
import math
import random
import time

import psycopg2
from psycopg2.extras import Json

TABLE = "training_loss"
COLUMNS = {  # the order here is the table's column order
    "node_id": "str",
    "step": "int",
    "metric_name": "str",
    "value": "float",
    "timestamp": "datetime",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", default="", help="libpq connection string (default: PG* environment)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--batch", type=int, default=50, help="steps per raydar.update() call")
    args = ap.parse_args()

    conn = psycopg2.connect(args.dsn)
    conn.autocommit = True  # each raydar.update() is its own transaction
    cur = conn.cursor()
    # Idempotent: a restarted job reuses its table (same columns, or an error).
    cur.execute("SELECT raydar.create_metrics_table(%s, %s, if_not_exists => true)",
                (TABLE, Json(COLUMNS)))

    pending = []
    sent = 0
    rng = random.Random(42)
    for step in range(1, args.steps + 1):
        for node in range(args.nodes):
            loss = 2.0 * math.exp(-step / 60.0) + rng.random() * 0.05
            pending.append({
                "node_id": "node-%d" % node,
                "step": step,
                "metric_name": "loss",
                # A diverged step reports NaN: raydar stores it as a float.
                "value": loss if step % 97 else "NaN",
                "timestamp": time.time(),  # epoch seconds, as time.time() gives
            })
        if step % args.batch == 0 or step == args.steps:
            # One statement per batch; all rows or none.
            cur.execute("SELECT raydar.update(%s, %s)", (TABLE, Json(pending)))
            sent += cur.fetchone()[0]
            pending = []
    print("sent %d rows" % sent)
    conn.close()


if __name__ == "__main__":
    main()
