"""Settlement runs: simulate → approve → public notice → paid; computed by workers in chunks
tracked in the database.

The state machine (every transition here, each under the run's row lock):

    computing --(last chunk + the check)--> simulated --approve--> approved --publish--> published --pay--> paid
    computing --(points changed mid-run)--> failed
    computing / simulated / failed --(a new simulation of the pool)--> superseded (payouts deleted)

Approved, published and paid runs are "settled": at most one per pool (a partial unique index), the
pool can no longer change and nothing re-simulates it; paying twice is a 409.

How a simulation is computed
1. `simulate` (in the request's transaction, like every service) locks the pool, supersedes its earlier unsettled run, and plans the new
   run in one aggregate query over the eligible households: how many there are (N), their earned
   points (W), and the chunks: ranges of household ids of `DIVIDEND_CHUNK_SIZE` eligible households
   each, with the count and earned points the plan saw in each. The chunks are rows
   (`dividend_chunks`, pending); then it enqueues the task `jifen.dividend_settle` in the same
   transaction (the job outbox sends it after the commit: inline in the embedded default, to the
   workers otherwise). A task that fails for good marks the run failed.
2. A worker (`work`) claims a pending chunk (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers share
   a run without waiting for each other; the claim time and attempt are committed first, so a chunk
   whose worker died is visible), then in one transaction writes the payouts of its range with one
   `INSERT … SELECT`: final amounts, the floor of the exact share plus 1 fen for a household at or
   before the run's largest-remainder cut-off (`allocation.bonus_sql`); checks it found
   exactly the households and points the plan counted (else points changed mid-run: the run fails
   and must be simulated again), and marks the chunk done. A worker killed mid-chunk loses only
   that chunk's uncommitted transaction.
3. When no chunk is pending, the worker that sees it first (under the run's row lock) checks the
   payouts: one per eligible household, summing to the pool, k of them with the extra fen; and marks
   the run simulated. Nothing is updated: the plan found the cut-off (`_cutoff`), so no step sorts
   all the households.
A run left half-done (a killed worker) is finished by `work` run again: the "resume" button, the
API, or the daily sweeper job `jifen.dividend_resume`; done chunks stay done and the result is the
same to the fen, because every chunk's payouts depend only on the plan and its own households.

Raw SQL here binds the tenant explicitly (reviewed): `_eligible_sql` and the three statements using it.
"""
from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Uuid, bindparam, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from jifen.platform import clock, unit_of_work
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict, InputConflict, NotFound
from jifen.platform.input import Text, value
from jifen.platform.paging import Page
from jifen.platform.roles.authz import Actor, action, authorize
from jifen.platform.tenancy import current_tenant_id, tenant_get, tenant_get_or_404
from jifen.tenants.dividends import allocation
from jifen.tenants.dividends.models import (
    APPROVED,
    COMPUTING,
    DONE,
    FAILED,
    PAID,
    PENDING,
    PUBLISHED,
    SETTLED,
    SIMULATED,
    SUPERSEDED,
    DividendChunk,
    DividendPayout,
    DividendPool,
    DividendRun,
)
from jifen.tenants.dividends.pools import pool_in_scope, snapshot
from jifen.tenants.households.models import Household
from jifen.tenants.points.applications import settings as points_settings
from jifen.tenants.villages.models import Village

SETTLE_TASK = "jifen.dividend_settle"
# households per chunk: each chunk pays a fixed cost (claim, commit, its check, its statement's
# plan) of ~0.1-0.4 s, so small chunks made the chunks grow faster than the data (5,000: 1.17 x
# the bare statement at 100,000 households, 1.50 x at 1,000,000 under load); 25,000 is ~1 s of
# work per transaction at 1,000,000 (bench/README.md, dividend settlement)
DEFAULT_CHUNK_SIZE = 25_000
CHUNK_LEASE = timedelta(minutes=10)  # a claimed chunk is its worker's for this long (see `_claim`)
STALL_SECONDS = 60  # a computing run with no progress for this long offers "resume"
MAX_REFERENCE = 100
STATE_LABELS = {COMPUTING: _l("Computing"), SIMULATED: _l("Simulated"), FAILED: _l("Failed"),
                SUPERSEDED: _l("Replaced"), APPROVED: _l("Approved"), PUBLISHED: _l("On public notice"),
                PAID: _l("Paid")}


def _conflict_state(run: DividendRun, message: str) -> Conflict:
    return Conflict(message, {"state": [message]})


def _dialect() -> str:
    return db.session.get_bind().dialect.name


# --- the eligible households, in SQL ------------------------------------------------------------

def _eligible_sql(run: DividendRun, ranged: bool = False) -> tuple[str, dict, list]:
    """FROM … WHERE of a run's eligible households (alias h, balance b), its parameters, and the
    typed bind parameters. The tenant is bound here (raw SQL: reviewed)."""
    # ranged: the balances' join carries the range too, so a chunk reads its own range of their
    # index instead of hashing every balance of the township (0.85 -> 0.5 s a chunk at 1M, issue 15)
    sql = ["FROM households h LEFT JOIN household_balances b ON b.tenant_id = h.tenant_id "
           "AND b.household_id = h.id AND b.period = :period"
           + (" AND b.household_id BETWEEN :lo AND :hi" if ranged else ""),
           "WHERE h.tenant_id = :tenant AND h.status = 'active' AND COALESCE(b.earned, 0) >= :min_points"]
    params = {"tenant": current_tenant_id(), "period": run.period, "min_points": run.min_points}
    binds = [bindparam("tenant", type_=Uuid())]
    if run.village_id is not None:
        sql.append("AND h.village_id = :village")
        params["village"] = run.village_id
        binds.append(bindparam("village", type_=Uuid()))
    if ranged:
        sql.append("AND h.id BETWEEN :lo AND :hi")
        binds += [bindparam("lo", type_=Uuid()), bindparam("hi", type_=Uuid())]
    if run.veto_codes:
        # 一票否决: a deduction of a veto item still standing in the period (corrections carry the
        # item code of the entry they correct, so a fully reversed deduction sums to zero)
        sql.append("AND NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.tenant_id = :tenant "
                   "AND t.household_id = h.id AND t.period = :period AND t.item_code IN :codes "
                   "GROUP BY t.item_code HAVING SUM(t.points) < 0)")
        params["codes"] = list(run.veto_codes)
        binds.append(bindparam("codes", expanding=True))
    return " ".join(sql), params, binds


def _no_jit() -> None:
    """PostgreSQL's JIT compiles a statement whose estimated cost is high, which these are (a
    subplan per household): ~0.5 s of compiling for a chunk that runs in a fraction of that. Off
    for the settlement's own transaction only."""
    if _dialect() == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))


def _weight_sql(run: DividendRun) -> str:
    return "1" if run.equal_weights else "COALESCE(b.earned, 0)"


@dataclass(frozen=True)
class PlannedChunk:
    seq: int
    first: uuid.UUID
    last: uuid.UUID
    households: int
    earned: int
    max_earned: int


def _plan(run: DividendRun, chunk_size: int) -> tuple[list[PlannedChunk], list[tuple[int, int]]]:
    """One pass over the eligible households: the chunks (ranges of `chunk_size` households in id
    order) with their counts and earned points, and the (earned points, households) groups the
    largest-remainder cut-off is found from (seq -1)."""
    where, params, binds = _eligible_sql(run)
    sql = text(f"""WITH eligible AS (SELECT CAST(h.id AS TEXT) AS hid, COALESCE(b.earned, 0) AS earned,
                                            (ROW_NUMBER() OVER (ORDER BY h.id) - 1) / :size AS seq
                                     {where})
                   SELECT seq, MIN(hid) AS first_id, MAX(hid) AS last_id, COUNT(*) AS n, SUM(earned) AS earned,
                          MAX(earned) AS max_earned
                   FROM eligible GROUP BY seq
                   UNION ALL
                   SELECT -1, NULL, NULL, COUNT(*), earned, NULL FROM eligible GROUP BY earned""").bindparams(*binds)
    _no_jit()
    rows = db.session.execute(sql, params | {"size": chunk_size}).all()
    chunks = sorted((PlannedChunk(int(r.seq), uuid.UUID(str(r.first_id)), uuid.UUID(str(r.last_id)), int(r.n),
                                  int(r.earned), int(r.max_earned)) for r in rows if r.seq >= 0), key=lambda c: c.seq)
    return chunks, [(int(r.earned), int(r.n)) for r in rows if r.seq < 0]


def _cutoff(run: DividendRun, groups: list[tuple[int, int]]) -> None:
    """Store the largest-remainder cut-off on the run: its group from the plan's counts, its
    household by one query (the rank-th smallest id among the eligible with that many points)."""
    cut = allocation.bonus_cutoff(formula(run), groups)
    if cut is None:
        run.bonus_remainder = run.bonus_earned = run.bonus_household_id = None
        return
    where, params, binds = _eligible_sql(run)
    # earned > 0 needs a balance row: `b.earned =` lets PostgreSQL start from the group's balances
    # (0.3 s at 1M) instead of probing the veto for every household (9 s)
    group = "b.earned = :earned" if cut.earned else "COALESCE(b.earned, 0) = :earned"
    sql = text(f"SELECT h.id {where} AND {group} ORDER BY h.id LIMIT 1 OFFSET :skip"
               ).bindparams(*binds).columns(id=Uuid())
    _no_jit()
    household = db.session.execute(sql, params | {"earned": cut.earned, "skip": cut.rank - 1}).scalar_one()
    run.bonus_remainder, run.bonus_earned, run.bonus_household_id = cut.remainder, cut.earned, household


def formula(run: DividendRun) -> allocation.Formula:
    return allocation.Formula(run.amount_fen, run.base_percent, run.households, run.earned_total)


# --- simulate ------------------------------------------------------------------------------------

def runs_of(pool_id) -> list[DividendRun]:
    return list(db.session.execute(select(DividendRun).where(DividendRun.pool_id == pool_id)
                                   .order_by(DividendRun.number.desc())).scalars())


def current_run(pool_id) -> DividendRun | None:
    """The run that counts for a pool: the settled one, else the newest not replaced."""
    runs = [r for r in runs_of(pool_id) if r.state != SUPERSEDED]
    return next((r for r in runs if r.state in SETTLED), runs[0] if runs else None)


def _chunk_size() -> int:
    return max(1, int(current_app.config.get("DIVIDEND_CHUNK_SIZE") or DEFAULT_CHUNK_SIZE))


def _lock_runs(pool_id) -> list[DividendRun]:
    return list(db.session.execute(select(DividendRun).where(DividendRun.pool_id == pool_id)
                                   .order_by(DividendRun.number).with_for_update()
                                   .execution_options(populate_existing=True)).scalars())


def _discard(runs: list[DividendRun]) -> None:
    """Earlier unsettled runs of the pool are replaced: their previews go."""
    old = [r for r in runs if r.state in (COMPUTING, SIMULATED, FAILED)]
    if not old:
        return
    ids = [r.id for r in old]
    db.session.execute(delete(DividendPayout).where(DividendPayout.run_id.in_(ids)))
    db.session.execute(delete(DividendChunk).where(DividendChunk.run_id.in_(ids)))
    for r in old:
        r.state = SUPERSEDED


@action("dividend.simulate")
def simulate(actor: Actor, pool_id) -> DividendRun:
    """Start a simulation of the pool: every eligible household's amount, computed by the workers.
    Replaces an earlier simulation not yet approved; refused (409) once a run is approved."""
    pool = pool_in_scope(actor, "dividend.simulate", pool_id, lock=True)
    runs = _lock_runs(pool.id)
    if any(r.state in SETTLED for r in runs):
        raise Conflict(_("A settlement of this pool is already approved: its amounts are frozen."),
                       {"state": [_("approved")]})
    run = DividendRun(pool_id=pool.id, number=max((r.number for r in runs), default=0) + 1, state=COMPUTING,
                      village_id=pool.village_id, period=pool.period, amount_fen=pool.amount_fen,
                      base_percent=pool.base_percent, min_points=pool.min_points,
                      veto_codes=list(pool.veto_codes or []), started_by=actor.id, started_by_name=actor.name,
                      started_at=clock.now(), chunk_size=_chunk_size())
    chunks, groups = _plan(run, run.chunk_size)
    if not chunks:
        raise InputConflict.field("min_points", _(
            "No household is eligible: none of the pool's active households has %(n)d or more earned points in "
            "%(year)d without a veto.", n=pool.min_points, year=pool.period))
    run.households = sum(c.households for c in chunks)
    run.earned_total = sum(c.earned for c in chunks)
    run.equal_weights = run.earned_total == 0
    run.chunks_total = len(chunks)
    if _dialect() != "postgresql":
        try:
            formula(run).check_fits_sqlite(max(c.max_earned for c in chunks))
        except allocation.TooLargeForSQLite:
            raise InputConflict.field("amount", _("This pool is too large to split exactly on the embedded database; "
                                                  "run Jifen on PostgreSQL for it.")) from None
    _cutoff(run, groups)
    _discard(runs)
    db.session.add(run)
    db.session.flush()
    db.session.add_all([DividendChunk(run_id=run.id, seq=c.seq, first_household_id=c.first, last_household_id=c.last,
                                      households=c.households, earned=c.earned, state=PENDING) for c in chunks])
    record(actor, "dividend_run.simulate", run, after=snapshot(pool) | {
        "number": run.number, "households": run.households, "earned_total": run.earned_total,
        "chunks": run.chunks_total})
    enqueue_work(run)
    return run


def enqueue_work(run: DividendRun) -> None:
    """Hand the run to the workers, in the transaction that made its chunks (the job outbox sends
    it after the commit). Inline in the embedded default; else `DIVIDEND_WORKERS` tasks (default 2)
    share the chunks."""
    from jifen.platform.jobs.queue import eager, enqueue

    copies = 1 if eager() else max(1, min(int(current_app.config.get("DIVIDEND_WORKERS") or 2), run.chunks_total))
    for _n in range(copies):
        enqueue(SETTLE_TASK, tenant_id=str(current_tenant_id()), run_id=str(run.id))


@action("dividend.simulate")
def resume(actor: Actor, run_id) -> DividendRun:
    """Put a computing run back to the workers (after a worker died); done chunks stay done."""
    run = tenant_get_or_404(DividendRun, run_id)
    authorize(actor, "dividend.simulate", run)
    if run.state != COMPUTING:
        raise _conflict_state(run, _("This run is not computing."))
    release_claims(run.id)
    enqueue_work(run)
    return run


def release_claims(run_id) -> None:
    """Free the run's pending chunks for the next worker now (resume: their workers are taken to be
    dead). A worker still alive on one of them is harmless: writing a chunk takes its row lock and
    checks it is still pending, so a chunk is written once."""
    db.session.execute(update(DividendChunk).where(DividendChunk.run_id == run_id, DividendChunk.state == PENDING)
                       .values(claimed_at=None))


# --- the workers' side ----------------------------------------------------------------------------

def _claim(run_id) -> uuid.UUID | None:
    """Take the next pending chunk no other worker holds; its claim time and attempt are committed
    before the work, so a chunk whose worker died shows as claimed and still pending.

    The row lock (SKIP LOCKED) only covers the claim's own short transaction, so the claim time is
    the ownership: a chunk claimed less than `CHUNK_LEASE` ago belongs to its worker and is skipped
    (before, every worker sharing a run took the same first chunk, up to 5 times). A chunk whose
    worker died is free again once its lease has passed, or at once when the run is resumed."""
    state = db.session.execute(select(DividendRun.state).where(DividendRun.id == run_id)).scalar_one_or_none()
    if state != COMPUTING:
        db.session.rollback()
        return None
    free = or_(DividendChunk.claimed_at.is_(None), DividendChunk.claimed_at < clock.now() - CHUNK_LEASE)
    chunk = db.session.execute(select(DividendChunk).where(DividendChunk.run_id == run_id,
                                                           DividendChunk.state == PENDING, free)
                               .order_by(DividendChunk.seq).limit(1).with_for_update(skip_locked=True)
                               .execution_options(populate_existing=True)).scalar_one_or_none()
    if chunk is None:
        db.session.rollback()
        return None
    chunk.claimed_at, chunk.attempts = clock.now(), chunk.attempts + 1
    db.session.commit()
    return chunk.id


def _run_for_share(run_id) -> DividendRun | None:
    """The run row held FOR SHARE while a chunk is written: a new simulation (FOR UPDATE) waits for
    chunks in flight, and they see it superseded after."""
    return db.session.execute(select(DividendRun).where(DividendRun.id == run_id).with_for_update(read=True)
                              .execution_options(populate_existing=True)).scalar_one_or_none()


def _compute(run_id, chunk_id) -> bool:
    """Write one chunk's payouts in one transaction. False if there was nothing to do.

    The chunk's row lock is waited for, not skipped: another worker's claim scan can hold it for a
    moment (PostgreSQL keeps the lock of a row whose re-check then filtered it out), and skipping
    left the chunk pending until its lease ended (seen under load: 7 of 8 chunks written). A second
    owner (a lease that ran out) waits, then finds the chunk done."""
    run = _run_for_share(run_id)
    if run is None or run.state != COMPUTING:
        db.session.rollback()
        return False
    chunk = db.session.execute(select(DividendChunk).where(DividendChunk.id == chunk_id,
                                                           DividendChunk.state == PENDING)
                               .with_for_update().execution_options(populate_existing=True)
                               ).scalar_one_or_none()
    if chunk is None:
        db.session.rollback()
        return False
    dialect = _dialect()
    where, params, binds = _eligible_sql(run, ranged=True)
    floor_sql, rem_sql = allocation.floor_and_remainder_sql(dialect, _weight_sql(run))
    new_id = "gen_random_uuid()" if dialect == "postgresql" else "lower(hex(randomblob(16)))"
    bonus, cutoff = "FALSE", {}
    keep = "OFFSET 0" if dialect == "postgresql" else ""  # PostgreSQL: compute each remainder once, not per use
    if run.bonus_household_id is not None:
        bonus = allocation.bonus_sql("x.remainder", "x.earned", "x.household_id")
        cutoff = {"bonus_remainder": int(run.bonus_remainder), "bonus_earned": run.bonus_earned,
                  "bonus_household": run.bonus_household_id}
        binds = [*binds, bindparam("bonus_household", type_=Uuid())]
    sql = text(f"""INSERT INTO dividend_payouts (tenant_id, id, run_id, household_id, village_id, chunk_seq, earned,
                                                 amount_fen, remainder, bonus)
                   SELECT x.tenant_id, {new_id}, :run, x.household_id, x.village_id, :seq, x.earned,
                          x.floor_fen + CASE WHEN {bonus} THEN 1 ELSE 0 END, x.remainder, {bonus}
                   FROM (SELECT h.tenant_id, h.id AS household_id, h.village_id, COALESCE(b.earned, 0) AS earned,
                                {floor_sql} AS floor_fen, {rem_sql} AS remainder
                         {where} {keep}) x""").bindparams(*binds, bindparam("run", type_=Uuid()))
    _no_jit()
    db.session.execute(sql, params | formula(run).params() | cutoff | {"run": run.id, "seq": chunk.seq,
                                                                       "lo": chunk.first_household_id,
                                                                       "hi": chunk.last_household_id})
    found, earned, floor = db.session.execute(
        select(func.count(), func.coalesce(func.sum(DividendPayout.earned), 0),
               func.coalesce(func.sum(DividendPayout.amount_fen), 0) - func.count().filter(DividendPayout.bonus))
        .where(DividendPayout.run_id == run.id,  # the chunk's range: an index range of (run, household)
               DividendPayout.household_id.between(chunk.first_household_id, chunk.last_household_id))).one()
    if (found, int(earned)) != (chunk.households, chunk.earned):
        db.session.rollback()
        _fail(run_id, _("Points or households changed while the run was computed (chunk %(seq)d: %(found)d "
                        "households with %(earned)d points, the plan counted %(n)d with %(e)d). Simulate again.",
                        seq=chunk.seq, found=found, earned=int(earned), n=chunk.households, e=chunk.earned))
        return False
    pause = float(current_app.config.get("DIVIDEND_CHUNK_SLEEP") or 0)  # tests: a slow worker to kill
    if pause:
        time.sleep(pause)
    chunk.state, chunk.done_at, chunk.floor_fen = DONE, clock.now(), int(floor)
    db.session.commit()
    return True


def _fail(run_id, message: str) -> None:
    run = _lock_run(run_id)
    if run.state == COMPUTING:
        run.state, run.error = FAILED, str(message)[:2000]
    db.session.commit()


def stopped(run_id, error: Exception) -> None:
    """A worker's task died of an error it will not retry: the run is failed with the error, never
    left computing for good; "simulate again" starts over."""
    unit_of_work.abandon()
    _fail(uuid.UUID(str(run_id)), _("The computation stopped with an error (%(error)s). Simulate again.",
                                    error=repr(error)[:500]))


def _lock_run(run_id) -> DividendRun:
    run = db.session.execute(select(DividendRun).where(DividendRun.id == run_id).with_for_update()
                             .execution_options(populate_existing=True)).scalar_one_or_none()
    if run is None:
        raise NotFound(_("Not found."))
    return run


def _finish(run_id) -> bool:
    """When every chunk is done: check the payouts (one per household, summing to the pool, the
    leftover fen given out once each), mark the run simulated. Under the run's row lock, so it
    happens once. The chunks already wrote final amounts (the plan's cut-off): nothing is updated."""
    run = _lock_run(run_id)
    if run.state != COMPUTING:
        db.session.rollback()
        return False
    pending, floor_total = db.session.execute(
        select(func.count().filter(DividendChunk.state == PENDING), func.coalesce(func.sum(DividendChunk.floor_fen), 0))
        .where(DividendChunk.run_id == run.id)).one()
    if pending:
        db.session.rollback()
        return False
    leftover = run.amount_fen - int(floor_total)
    if not 0 <= leftover < run.households:
        run.state, run.error = FAILED, _("The parts do not add up (%(n)d fen left over); simulate again.", n=leftover)
        db.session.commit()
        return False
    _no_jit()
    count, total, low, high, bonuses = db.session.execute(
        select(func.count(), func.coalesce(func.sum(DividendPayout.amount_fen), 0), func.min(DividendPayout.amount_fen),
               func.max(DividendPayout.amount_fen), func.count().filter(DividendPayout.bonus))
        .where(DividendPayout.run_id == run.id)).one()
    if count != run.households or int(total) != run.amount_fen or bonuses != leftover:
        db.session.rollback()
        _fail(run_id, _("The payouts (%(n)d households, %(fen)d fen) do not match the plan (%(m)d households, "
                        "%(amount)d fen); simulate again.", n=count, fen=int(total), m=run.households,
                        amount=run.amount_fen))
        return False
    run.state, run.computed_at = SIMULATED, clock.now()
    run.total_fen, run.min_fen, run.max_fen, run.leftover_fen = int(total), int(low), int(high), leftover
    db.session.commit()
    return True


def work(run_id, max_chunks: int | None = None) -> dict:
    """A worker's share of a run: chunks until none is pending (or `max_chunks`), then the last
    step if everything is done. Safe to run any number of times, in any number of processes."""
    run_id = run_id if isinstance(run_id, uuid.UUID) else uuid.UUID(str(run_id))
    done = 0
    while max_chunks is None or done < max_chunks:
        chunk_id = _claim(run_id)
        if chunk_id is None:
            break
        done += _compute(run_id, chunk_id)
    finished = _finish(run_id)
    state = db.session.execute(select(DividendRun.state).where(DividendRun.id == run_id)).scalar_one_or_none()
    db.session.rollback()
    return {"run": str(run_id), "chunks": done, "finished": finished, "state": state}


def resume_all() -> dict:
    """The daily sweeper: finish every run left computing (a worker died and nobody resumed it)."""
    runs = list(db.session.execute(select(DividendRun.id).where(DividendRun.state == COMPUTING)
                                   .order_by(DividendRun.started_at)).scalars())
    for run_id in runs:  # left computing: their workers are taken to be dead, as on "resume"
        release_claims(run_id)
    db.session.commit()
    results = [work(r) for r in runs]
    return {"computing": len(runs), "finished": sum(r["finished"] for r in results)}


# --- progress and preview -------------------------------------------------------------------------

@dataclass
class Progress:
    done: int
    total: int
    claimed_not_done: int  # chunks claimed whose work has not landed (in flight, or their worker died)
    last_activity: object
    stalled: bool

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 100


def progress(run: DividendRun) -> Progress:
    done, claimed, last_claim, last_done = db.session.execute(
        select(func.count().filter(DividendChunk.state == DONE),
               func.count().filter(DividendChunk.state == PENDING, DividendChunk.claimed_at.is_not(None)),
               func.max(DividendChunk.claimed_at), func.max(DividendChunk.done_at))
        .where(DividendChunk.run_id == run.id)).one()
    if run.state != COMPUTING:
        return Progress(run.chunks_total, run.chunks_total, 0, run.computed_at, False)
    last = max([t for t in (run.started_at, last_claim, last_done) if t is not None])
    return Progress(int(done), run.chunks_total, int(claimed), last,
                    clock.now() - last > timedelta(seconds=STALL_SECONDS))


@action("dividend.view")
def get_run(actor: Actor, run_id) -> DividendRun:
    run = tenant_get_or_404(DividendRun, run_id)
    authorize(actor, "dividend.view", run)
    return run


def distribution(run: DividendRun, buckets: int = 10) -> list[tuple[int, int, int]]:
    """How many households get how much: (from fen, to fen inclusive, households) in `buckets`
    equal bands between the smallest and largest amount."""
    if run.min_fen is None or run.max_fen is None:
        return []
    low, span = run.min_fen, run.max_fen - run.min_fen + 1
    buckets = min(buckets, span)
    band = (DividendPayout.amount_fen - low) * buckets // span
    counts = dict(db.session.execute(select(band, func.count()).where(DividendPayout.run_id == run.id)
                                     .group_by(band)).all())
    edges = [low + span * i // buckets for i in range(buckets + 1)]
    return [(edges[i], edges[i + 1] - 1, int(counts.get(i, 0))) for i in range(buckets)]


@dataclass
class PayoutRow:
    payout: DividendPayout
    household: Household


def door_plate_order() -> tuple:
    """Door plates in a natural order: "2号" before "10号" (shorter first, then as text)."""
    return func.length(Household.door_plate), Household.door_plate


def _payout_query(run: DividendRun, village_id=None):
    conditions = [DividendPayout.run_id == run.id]
    if village_id:
        conditions.append(DividendPayout.village_id == village_id)
    return conditions, (select(DividendPayout, Household).join(Household, Household.id == DividendPayout.household_id)
                        .join(Village, Village.id == DividendPayout.village_id).where(*conditions)
                        .order_by(Village.sort_order, Village.name, *door_plate_order(), Household.id))


def payouts(run: DividendRun, page: int = 1, per_page: int = 50, village_id=None) -> Page:
    """One page of the run's payouts, by village (the township's order) and door plate."""
    page, per_page = max(1, int(page or 1)), max(1, min(int(per_page or 50), 500))
    conditions, query = _payout_query(run, village_id)
    total = db.session.execute(select(func.count()).select_from(DividendPayout).where(*conditions)).scalar_one()
    rows = db.session.execute(query.offset((page - 1) * per_page).limit(per_page)).all()
    return Page([PayoutRow(p, h) for p, h in rows], total, page, per_page)


def all_payouts(run: DividendRun, village_id=None) -> list[PayoutRow]:
    """Every payout of the run (or of one village of it), for the printed notice."""
    _conditions, query = _payout_query(run, village_id)
    return [PayoutRow(p, h) for p, h in db.session.execute(query)]


def payout_villages(run: DividendRun) -> dict:
    """village id -> (households, fen) of the run's payouts."""
    return {v: (int(n), int(s)) for v, n, s in db.session.execute(
        select(DividendPayout.village_id, func.count(), func.sum(DividendPayout.amount_fen))
        .where(DividendPayout.run_id == run.id).group_by(DividendPayout.village_id))}


def pool_changed(pool: DividendPool, run: DividendRun) -> bool:
    """Has the pool been edited since this run was simulated?"""
    return (pool.village_id, pool.period, pool.amount_fen, pool.base_percent, pool.min_points,
            sorted(pool.veto_codes or [])) != (run.village_id, run.period, run.amount_fen, run.base_percent,
                                               run.min_points, sorted(run.veto_codes or []))


# --- approve, publish, pay ---------------------------------------------------------------------------

def _settle_step(actor: Actor, action_name: str, run_id) -> tuple[DividendRun, DividendPool]:
    run = tenant_get_or_404(DividendRun, run_id)
    pool = tenant_get_or_404(DividendPool, run.pool_id)
    authorize(actor, action_name, run)
    pool = db.session.execute(select(DividendPool).where(DividendPool.id == pool.id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()
    return _lock_run(run.id), pool


def _run_facts(run: DividendRun) -> dict:
    return {"state": run.state, "households": run.households, "total_fen": run.total_fen}


@action("dividend.approve")
def approve(actor: Actor, run_id) -> DividendRun:
    """The township admin approves a simulated run: its amounts are frozen."""
    run, pool = _settle_step(actor, "dividend.approve", run_id)
    if run.state != SIMULATED:
        raise _conflict_state(run, _("Only a finished simulation can be approved (this run is %(state)s).",
                                     state=STATE_LABELS[run.state]))
    if pool_changed(pool, run):
        raise _conflict_state(run, _("The pool was changed after this simulation: simulate again, then approve."))
    before = _run_facts(run)
    run.state, run.approved_by, run.approved_by_name, run.approved_at = APPROVED, actor.id, actor.name, clock.now()
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("Another run of this pool is already approved."), {"state": [_("approved")]}) from None
    record(actor, "dividend_run.approve", run, before=before, after=_run_facts(run))
    db.session.flush()
    return run


@action("dividend.approve")
def publish(actor: Actor, run_id) -> DividendRun:
    """Put the approved dividend list on public notice (公示) for the township's notice period, from
    today, at an unguessable public link."""
    run, _pool = _settle_step(actor, "dividend.approve", run_id)
    if run.state != APPROVED:
        raise _conflict_state(run, _("Only an approved run goes on public notice (this run is %(state)s).",
                                     state=STATE_LABELS[run.state]))
    today = clock.today()
    run.state, run.notice_token = PUBLISHED, secrets.token_urlsafe(16)
    run.notice_opens_on, run.notice_closes_on = today, today + timedelta(days=points_settings().notice_days - 1)
    run.published_by_name, run.published_at = actor.name, clock.now()
    record(actor, "dividend_run.publish", run, before={"state": APPROVED},
           after={"state": PUBLISHED, "opens_on": run.notice_opens_on.isoformat(),
                  "closes_on": run.notice_closes_on.isoformat()})
    db.session.flush()
    return run


@action("dividend.pay")
def mark_paid(actor: Actor, run_id, data: dict) -> DividendRun:
    """Record that the bank paid the run (after its public notice), with the payment's reference.
    A run is paid once: again is 409."""
    run, _pool = _settle_step(actor, "dividend.pay", run_id)
    reference = value(Text(MAX_REFERENCE, required=True, required_message=_(
        "Enter the bank's reference of the payment (e.g. the batch number on the transfer receipt).")),
        (data or {}).get("payment_reference"), "payment_reference")
    if run.state == PAID:
        raise _conflict_state(run, _("This dividend was already paid (%(ref)s).", ref=run.payment_reference))
    if run.state != PUBLISHED:
        raise _conflict_state(run, _("Pay after the dividend list has been on public notice (this run is "
                                     "%(state)s).", state=STATE_LABELS[run.state]))
    run.state, run.paid_by, run.paid_by_name, run.paid_at = PAID, actor.id, actor.name, clock.now()
    run.payment_reference = reference
    record(actor, "dividend_run.pay", run, before={"state": PUBLISHED},
           after={"state": PAID, "payment_reference": reference, "total_fen": run.total_fen})
    db.session.flush()
    return run


# --- the public notice ---------------------------------------------------------------------------------

def run_by_token(token: str) -> DividendRun:
    """The public notice page: anyone with the link (the tenant comes from the URL)."""
    token = str(token or "")[:32]
    run = db.session.execute(select(DividendRun).where(DividendRun.notice_token == token,
                                                       DividendRun.state.in_((PUBLISHED, PAID)))
                             ).scalar_one_or_none() if token else None
    if run is None:
        raise NotFound(_("Not found."))
    return run


def notice_open(run: DividendRun) -> bool:
    return (run.notice_opens_on is not None and run.notice_opens_on <= clock.today() <= run.notice_closes_on)


def pool_of(run: DividendRun) -> DividendPool:
    return tenant_get(DividendPool, run.pool_id)
