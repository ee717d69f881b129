"""Where a township's rows live on a Citus cluster: a new one on the least-loaded worker, and moving
one (a big township to a worker of its own).

Citus puts a row in the shard whose hash range holds hash(tenant_id); all of a township's tables
are colocated, so its tenant id alone decides its worker. Jifen chooses tenant ids, so a new township
is placed by choosing its id: the worker with the fewest bytes of Jifen's shards, on it the shard
group holding the fewest townships, then time-ordered ids drawn until one hashes into that group
(1 in 32 with the default 32 shards: a few hundred candidates are checked in one statement). No
shard is split and no row copied to place a township.

Moving one township: `isolate_tenant_to_new_shard` gives its id a shard group of its own (the other
townships of its old group stay where they were), then `citus_move_shard_placement` moves that group
(every colocated table: one township's rows) to the target worker. `block_writes` holds writes to
the groups being copied until they are in place; `auto` copies by logical replication, the writes
going on meanwhile (it needs `wal_level = logical`). deploy/README.md, "Moving a township".
"""
from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import text

from jifen.platform.citus import ANCHOR, CitusError
from jifen.platform.citus.fan_out import fan_out
from jifen.platform.db import db, new_id

CANDIDATES = 512  # ids checked per statement; P(no hit in 512 | 32 groups) < 1e-7
TRANSFER_MODES = ("block_writes", "auto", "force_logical")
# the anchor's shard of each township (its shard group), and how many townships each holds
TOWNSHIPS_PER_GROUP = ("SELECT get_shard_id_for_distribution_column(:anchor, id) AS shardid, count(*) AS n "
                       "FROM tenants GROUP BY 1")


def workers(conn) -> list[dict]:
    """Every active worker with the bytes of Jifen's shards on it and its townships, least loaded first."""
    rows = conn.execute(text("""
        WITH groups AS (
          SELECT s.shardid, p.nodename, p.nodeport
          FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid)
          JOIN pg_dist_node p ON p.groupid = pl.groupid
          WHERE s.logicalrelid = to_regclass(CAST(:anchor AS text))),
        townships AS (""" + TOWNSHIPS_PER_GROUP + """),
        bytes AS (
          SELECT nodename, nodeport, sum(shard_size) AS b FROM citus_shards
          WHERE colocation_id = (SELECT colocation_id FROM citus_tables WHERE table_name = to_regclass(CAST(:anchor AS text)))
          GROUP BY 1, 2)
        SELECT n.nodename, n.nodeport, coalesce(b.b, 0) AS bytes, coalesce(sum(t.n), 0) AS townships
        FROM pg_dist_node n
        LEFT JOIN bytes b ON (b.nodename, b.nodeport) = (n.nodename, n.nodeport)
        LEFT JOIN groups g ON (g.nodename, g.nodeport) = (n.nodename, n.nodeport)
        LEFT JOIN townships t ON t.shardid = g.shardid
        WHERE n.noderole = 'primary' AND n.isactive AND n.groupid <> 0 AND n.shouldhaveshards
        GROUP BY n.nodename, n.nodeport, b.b
        ORDER BY bytes, townships, n.nodename, n.nodeport"""), {"anchor": ANCHOR},
        execution_options=fan_out("county.placement")).mappings().all()
    return [dict(r) for r in rows]


def _shard_group_on(conn, host: str, port: int) -> int | None:
    """The anchor's shard on that worker holding the fewest townships; shards isolated to one
    township (a range of one hash value) are never given another."""
    return conn.execute(text("""
        SELECT s.shardid FROM pg_dist_shard s
        JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
        LEFT JOIN (""" + TOWNSHIPS_PER_GROUP + """) t USING (shardid)
        WHERE s.logicalrelid = to_regclass(CAST(:anchor AS text)) AND n.nodename = :host AND n.nodeport = :port
          AND s.shardmaxvalue::bigint > s.shardminvalue::bigint
        ORDER BY coalesce(t.n, 0), s.shardid LIMIT 1"""), {"anchor": ANCHOR, "host": host, "port": port}).scalar()


def new_township_id() -> uuid.UUID:
    """The id of a township being onboarded: on a Citus deployment one placing it on the
    least-loaded worker, else just a new id."""
    if not current_app.config["CITUS"]:
        return new_id()
    return new_tenant_id(db.session.connection())


def new_tenant_id(conn) -> uuid.UUID:
    """An id for a new township whose rows will live on the least-loaded worker."""
    for worker in workers(conn):
        shard = _shard_group_on(conn, worker["nodename"], worker["nodeport"])
        if shard is None:  # only isolated groups there: the next worker
            continue
        return id_in_group(conn, shard)
    raise CitusError("no worker can take a new township (no active worker with a shared shard group)")


def id_in_group(conn, shard: int) -> uuid.UUID:
    """A new time-ordered id that hashes into the anchor's shard `shard` (its shard group)."""
    for _ in range(64):
        hit = conn.execute(text(
            "SELECT c FROM unnest(CAST(:ids AS uuid[])) c "
            "WHERE get_shard_id_for_distribution_column(:anchor, c) = :shard LIMIT 1"),
            {"ids": [new_id() for _ in range(CANDIDATES)], "anchor": ANCHOR, "shard": shard}).scalar()
        if hit is not None:
            return hit
    raise CitusError(f"no id hashes into shard group {shard} (a group isolated to one township?)")


def where(conn, tenant_id) -> dict:
    """The shard group and worker of one township, and whether the group is its alone."""
    row = conn.execute(text("""
        SELECT s.shardid, n.nodename, n.nodeport, s.shardminvalue::bigint = s.shardmaxvalue::bigint AS alone
        FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node n ON n.groupid = pl.groupid
        WHERE s.shardid = get_shard_id_for_distribution_column(:anchor, CAST(:id AS uuid))"""),
        {"anchor": ANCHOR, "id": str(tenant_id)}).mappings().one()
    return dict(row)


def move(conn, tenant_id, host: str, port: int, mode: str = "block_writes") -> dict:
    """Give a township a shard group of its own if it shares one, and move the group to host:port.
    `conn` must be in autocommit: Citus runs each step as its own transactions."""
    if mode not in TRANSFER_MODES:
        raise CitusError(f"mode must be one of {', '.join(TRANSFER_MODES)}")
    if not conn.execute(text("SELECT 1 FROM pg_dist_node WHERE nodename = :h AND nodeport = :p AND groupid <> 0 "
                             "AND noderole = 'primary' AND isactive"), {"h": host, "p": port}).scalar():
        raise CitusError(f"{host}:{port} is not an active worker of this cluster (citus_add_node first)")
    # a worker added since the reference tables were made has none of them yet: a shard moved there
    # keeps foreign keys to them (citus_rebalance_start would copy them itself; a move does not)
    conn.execute(text("SELECT replicate_reference_tables(shard_transfer_mode => CAST(:mode AS citus.shard_transfer_mode))"),
                 {"mode": mode})
    before = where(conn, tenant_id)
    isolated = False
    if not before["alone"]:
        conn.execute(text("SELECT isolate_tenant_to_new_shard(:anchor, CAST(:id AS uuid), 'CASCADE', "
                          "shard_transfer_mode => CAST(:mode AS citus.shard_transfer_mode))"),
                     {"anchor": ANCHOR, "id": str(tenant_id), "mode": mode})
        isolated = True
    now = where(conn, tenant_id)
    if (now["nodename"], now["nodeport"]) != (host, port):
        conn.execute(text("SELECT citus_move_shard_placement(:shard, :fh, :fp, :th, :tp, "
                          "shard_transfer_mode => CAST(:mode AS citus.shard_transfer_mode))"),
                     {"shard": now["shardid"], "fh": now["nodename"], "fp": now["nodeport"], "th": host, "tp": port,
                      "mode": mode})
    # the old copies are dropped by Citus's maintenance later; until then they hold keys to the
    # reference tables (deleting the township's `tenants` row would fail): drop them now
    conn.execute(text("CALL citus_cleanup_orphaned_resources()"))
    after = where(conn, tenant_id)
    return {"from": f"{before['nodename']}:{before['nodeport']}", "to": f"{after['nodename']}:{after['nodeport']}",
            "isolated": isolated, "shard": after["shardid"]}
