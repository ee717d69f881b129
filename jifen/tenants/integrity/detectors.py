"""The five detectors, each a set-based query over one township, and the one writer of signals.

Raw SQL, reviewed by hand: every table read is filtered by `:tenant_id` (a bound parameter; the
session guard cannot see inside text), and every signal written carries the current tenant. Each
detector returns signal rows; `write` inserts them insert-or-nothing on the unique
(tenant_id, kind, dedupe_key), so a rerun, or the next night finding the same thing, adds nothing
and never reopens a reviewed signal. A signal blocks nothing: no workflow reads this table.

The rules (the page text says the same, service.RULES):
1. Separation of duties: an approval (a verification, or a panel member's approve vote) of an
   application of the approver's own household (their villager grants, or a current member whose
   phone is the account's phone: the rule `points.applications.own_households` refuses votes by),
   or of an application the approver submitted themselves. Not a staff record's own
   verification: by design the recorder of observed conduct is its verifier (points/applications._new).
   For a proxy entry the workflow now refuses it outright (`points.applications.refuse_own_proxy`),
   so that kind is found only in approvals made before the rule; verifying one's own household's
   self-application stays a signal, not a refusal.
2. Outlying verifier, per calendar year: a verifier with at least `MIN_DECISIONS` decisions whose
   approval rate, or average approved points, is more than `Z_LIMIT` standard deviations from the
   mean of the other verifiers with at least `MIN_DECISIONS` decisions (at least `MIN_PEERS` of
   them). The peers exclude the verifier (else one outlier among few verifiers could never be two
   deviations away); their deviation is floored (`RATE_SD_FLOOR`, `POINTS_SD_FLOOR`) so that peers
   who all decide alike do not turn any difference into infinity. The per-verifier counts are one
   GROUP BY; the peer statistics over those few rows are worked out here.
3. Burst before a cut-off: a village's applications (self, proxy and single staff records; not
   batch sheets or activity attendance, which come in bulk by nature) in the `BURST_DAYS` days (72
   hours) before a cut-off — the moment a dividend run of a pool covering the village took its
   points, or a year's end (the ranking for the year-end commendation and the year's dividends) — more than
   `BURST_FACTOR` times its usual daily rate over the `USUAL_DAYS` days before, and at least
   `MIN_BURST` of them.
4. Shared photo: two applications of different households carrying the same or a near-identical
   photo: perceptual hashes (imagehash.phash) at most `MAX_DISTANCE` bits apart out of 64.
   Candidate pairs come from an equality join on the hash's four 16-bit quarters (two hashes at
   most 3 bits apart agree on at least one whole quarter), then the exact distance is checked.
5. One device, many households: self check-ins with the same device cookie for at least
   `MIN_DEVICE_HOUSEHOLDS` different households at activities held on the same day.

`since` bounds what is looked at (the job: the last `LOOKBACK_DAYS`; the demo: everything), so a
nightly run reads recent rows, not the township's whole history.
"""
from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Boolean, Date, DateTime, Integer, String, Uuid, bindparam, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from jifen.platform import clock
from jifen.platform.db import db, new_id
from jifen.platform.tenancy import current_tenant, current_tenant_id
from jifen.tenants.dividends.models import DividendRun
from jifen.tenants.integrity.models import BURST, DEVICE, OPEN, OUTLIER, PHOTO, SEPARATION, IntegritySignal

LOOKBACK_DAYS = 35
MIN_DECISIONS, MIN_PEERS, Z_LIMIT = 20, 3, 2.0
RATE_SD_FLOOR, POINTS_SD_FLOOR = 0.05, 0.5
BURST_DAYS, USUAL_DAYS, BURST_FACTOR, MIN_BURST = 3, 90, 3.0, 5
MAX_DISTANCE = 3
MIN_DEVICE_HOUSEHOLDS = 3
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_LINKED = 50  # records linked from one signal (a burst links the applications of its window)


@dataclass
class Found:
    kind: str
    dedupe_key: str
    village_id: uuid.UUID | None = None
    subject_user_id: uuid.UUID | None = None
    subject_name: str = ""
    household_id: uuid.UUID | None = None
    records: list | None = None
    numbers: dict | None = None


def _tenant():
    return bindparam("tenant_id", current_tenant_id(), type_=Uuid())


def _at(name: str, value: datetime):
    return bindparam(name, value, type_=DateTime(timezone=True))


def _rows(sql: str, *params, **columns):
    return db.session.execute(text(sql).bindparams(_tenant(), *params).columns(**columns)).all()


def _rec(kind: str, value) -> dict:
    return {"type": kind, "id": str(value)}


# --- 1. separation of duties -------------------------------------------------------------------

SEPARATION_SQL = """
WITH own AS (
    SELECT ra.user_id AS user_id, rs.scope_id AS household_id
    FROM role_assignments ra
    JOIN role_scopes rs ON rs.tenant_id = ra.tenant_id AND rs.assignment_id = ra.id
    WHERE ra.tenant_id = :tenant_id AND ra.role = 'villager' AND rs.scope_kind = 'household'
    UNION
    SELECT u.id, r.household_id
    FROM users u
    JOIN residents r ON r.tenant_id = u.tenant_id AND r.phone = u.phone AND r.left_on IS NULL
    WHERE u.tenant_id = :tenant_id AND u.phone IS NOT NULL AND u.phone <> ''
),
approvals AS (
    SELECT a.id AS application_id, a.verified_by AS user_id, a.verified_by_name AS user_name, 'verify' AS step,
           a.verified_at AS approved_at
    FROM applications a
    WHERE a.tenant_id = :tenant_id AND a.verified_by IS NOT NULL AND a.verified_at >= :since
    UNION ALL
    SELECT v.application_id, v.member_id, v.member_name, 'certify', v.created_at
    FROM certification_votes v
    WHERE v.tenant_id = :tenant_id AND v.decision = 'approve' AND v.created_at >= :since
),
judged AS (
    SELECT p.application_id, p.user_id, p.user_name, p.step, p.approved_at, a.household_id, a.village_id, a.points,
           CASE WHEN EXISTS (SELECT 1 FROM own o WHERE o.user_id = p.user_id AND o.household_id = a.household_id)
                THEN 1 ELSE 0 END AS own_household,
           CASE WHEN a.submitted_by = p.user_id
                 AND NOT (p.step = 'verify' AND a.origin IN ('staff', 'activity')) THEN 1 ELSE 0 END AS own_record
    FROM approvals p
    JOIN applications a ON a.tenant_id = :tenant_id AND a.id = p.application_id
)
SELECT * FROM judged WHERE own_household = 1 OR own_record = 1
"""


def separation_of_duties(since: datetime) -> list[Found]:
    """One signal per approval of an own household's application; approvals of one's own
    submissions (a habit more than an incident: a grid worker alone in a village entering proxies
    and verifying them) are gathered per approver, step, village and year, with their count and
    points (refreshed while the signal is open; a reviewed year stays as reviewed)."""
    rows = _rows(SEPARATION_SQL, _at("since", since), application_id=Uuid(), user_id=Uuid(), user_name=String(),
                 step=String(), approved_at=DateTime(timezone=True), household_id=Uuid(), village_id=Uuid(),
                 points=Integer(), own_household=Integer(), own_record=Integer())
    tz = clock.zone(current_tenant())
    found, habits = [], defaultdict(list)
    for r in rows:
        if r.own_household:
            found.append(Found(SEPARATION, f"{r.step}:{r.user_id}:{r.application_id}", r.village_id, r.user_id,
                               r.user_name, r.household_id,
                               [_rec("application", r.application_id), _rec("household", r.household_id)],
                               {"step": r.step, "own_household": True, "own_record": bool(r.own_record),
                                "points": r.points}))
        else:
            year = r.approved_at.astimezone(tz).year
            habits[(r.step, r.user_id, r.village_id, year)].append(r)
    for (step, user_id, village_id, year), group in sorted(habits.items(), key=lambda kv: str(kv[0])):
        found.append(Found(SEPARATION, f"own:{step}:{user_id}:{village_id}:{year}", village_id, user_id,
                           group[0].user_name, group[0].household_id if len(group) == 1 else None,
                           [_rec("application", r.application_id) for r in group[:MAX_LINKED]],
                           {"step": step, "own_household": False, "own_record": True, "year": year,
                            "applications": len(group), "points": sum(r.points for r in group)}))
    return found


# --- 2. outlying verifiers ---------------------------------------------------------------------

VERIFIER_SQL = """
SELECT s.actor_id AS user_id, a.village_id AS village_id, MAX(s.actor_name) AS user_name,
       SUM(CASE WHEN s.step = 'verify' THEN 1 ELSE 0 END) AS approved,
       SUM(CASE WHEN s.step = 'reject' THEN 1 ELSE 0 END) AS rejected,
       SUM(CASE WHEN s.step = 'verify' THEN COALESCE(s.points, a.points) ELSE 0 END) AS approved_points
FROM application_steps s
JOIN applications a ON a.tenant_id = s.tenant_id AND a.id = s.application_id
WHERE s.tenant_id = :tenant_id AND s.actor_id IS NOT NULL AND s.created_at >= :since AND s.created_at < :until
  AND (s.step = 'verify' OR (s.step = 'reject' AND s.from_state = 'submitted'))
GROUP BY s.actor_id, a.village_id
"""


@dataclass
class _Verifier:
    user_id: uuid.UUID
    name: str = ""
    approved: int = 0
    rejected: int = 0
    points: int = 0
    villages: set | None = None

    @property
    def decisions(self) -> int:
        return self.approved + self.rejected


def _peer_stats(values: list[float], floor: float) -> tuple[float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return mean, max(sd, floor)


def verifier_outliers(day: date) -> list[Found]:
    """Over the calendar year of `day`, up to the end of `day` (local)."""
    start = clock.local_moment(date(day.year, 1, 1), time(0))
    until = clock.local_moment(day + timedelta(days=1), time(0))
    rows = _rows(VERIFIER_SQL, _at("since", start), _at("until", until), user_id=Uuid(), village_id=Uuid(),
                 user_name=String(), approved=Integer(), rejected=Integer(), approved_points=Integer())
    verifiers: dict = {}
    for r in rows:
        v = verifiers.setdefault(r.user_id, _Verifier(r.user_id, villages=set()))
        v.name = v.name or r.user_name or ""
        v.approved, v.rejected, v.points = v.approved + r.approved, v.rejected + r.rejected, v.points + r.approved_points
        v.villages.add(r.village_id)
    found = []
    metrics = (("rate", lambda v: v.decisions >= MIN_DECISIONS, lambda v: v.approved / v.decisions, RATE_SD_FLOOR),
               ("points", lambda v: v.approved >= MIN_DECISIONS, lambda v: v.points / v.approved, POINTS_SD_FLOOR))
    for metric, counts, measure, floor in metrics:
        eligible = [v for v in verifiers.values() if counts(v)]
        for v in eligible:
            peers = [measure(p) for p in eligible if p.user_id != v.user_id]
            if len(peers) < MIN_PEERS:
                continue
            mean, sd = _peer_stats(peers, floor)
            value = measure(v)
            z = (value - mean) / sd
            if abs(z) <= Z_LIMIT:
                continue
            village = next(iter(v.villages)) if len(v.villages) == 1 else None
            found.append(Found(OUTLIER, f"{metric}:{v.user_id}:{day.year}", village, v.user_id, v.name, None, [],
                               {"metric": metric, "year": day.year, "value": round(value, 3),
                                "peer_mean": round(mean, 3), "peer_sd": round(sd, 3), "z": round(z, 1),
                                "decisions": v.decisions, "approved": v.approved, "peers": len(peers),
                                "min_decisions": MIN_DECISIONS, "z_limit": Z_LIMIT}))
    return found


# --- 3. bursts before a cut-off ----------------------------------------------------------------

BURST_SQL = """
SELECT a.village_id AS village_id,
       SUM(CASE WHEN a.created_at >= :burst_from THEN 1 ELSE 0 END) AS burst,
       SUM(CASE WHEN a.created_at < :burst_from THEN 1 ELSE 0 END) AS usual
FROM applications a
WHERE a.tenant_id = :tenant_id AND a.created_at >= :usual_from AND a.created_at < :until
  AND a.origin <> 'activity' AND a.batch_id IS NULL
GROUP BY a.village_id
"""

BURST_APPS_SQL = """
SELECT a.id AS id FROM applications a
WHERE a.tenant_id = :tenant_id AND a.village_id = :village_id AND a.created_at >= :burst_from AND a.created_at < :until
  AND a.origin <> 'activity' AND a.batch_id IS NULL
ORDER BY a.created_at
"""


@dataclass(frozen=True)
class Cutoff:
    moment: datetime  # points counted up to here: a run's start, or the first moment of the next year
    day: date  # the cut-off's local day (what people are told)
    what: str  # "dividend" | "year_end"
    village_id: uuid.UUID | None  # None: every village
    pool_id: uuid.UUID | None = None


def cutoffs(since: datetime, day: date) -> list[Cutoff]:
    """Dividend runs (the moment a run took the earned points) and year ends, from `since` up to the
    end of `day`; one per local day and village (the earliest)."""
    found: dict = {}
    end_of_day = clock.local_moment(day + timedelta(days=1), time(0))
    runs = db.session.execute(
        select(DividendRun.started_at, DividendRun.village_id, DividendRun.pool_id)
        .where(DividendRun.state != "failed", DividendRun.started_at >= since, DividendRun.started_at < end_of_day)
        .order_by(DividendRun.started_at)).all()
    tz = clock.zone(current_tenant())
    for started_at, village_id, pool_id in runs:
        local = started_at.astimezone(tz).date()
        found.setdefault((local, village_id), Cutoff(started_at, local, "dividend", village_id, pool_id))
    for year in range(max(since.astimezone(tz).year, 2000), day.year + 1):
        moment = clock.local_moment(date(year + 1, 1, 1), time(0))
        if since <= moment <= end_of_day:
            found.setdefault((date(year, 12, 31), None), Cutoff(moment, date(year, 12, 31), "year_end", None))
    return sorted(found.values(), key=lambda c: (c.moment, str(c.village_id)))


def bursts(since: datetime, day: date) -> list[Found]:
    """Applications in the `BURST_DAYS` days before each cut-off's moment against the `USUAL_DAYS`
    days before those (one GROUP BY per cut-off: a township has a few cut-offs a year)."""
    found = []
    for cut in cutoffs(since, day):
        burst_from, until = cut.moment - timedelta(days=BURST_DAYS), cut.moment
        usual_from = burst_from - timedelta(days=USUAL_DAYS)
        times = (_at("burst_from", burst_from), _at("until", until))
        for r in _rows(BURST_SQL, *times, _at("usual_from", usual_from), village_id=Uuid(), burst=Integer(),
                       usual=Integer()):
            if cut.village_id is not None and r.village_id != cut.village_id:
                continue
            usual_rate = r.usual / USUAL_DAYS
            if r.burst < MIN_BURST or r.burst <= BURST_FACTOR * BURST_DAYS * usual_rate:
                continue
            apps = _rows(BURST_APPS_SQL, *times, bindparam("village_id", r.village_id, type_=Uuid()), id=Uuid())
            records = [_rec("application", a.id) for a in apps[:MAX_LINKED]]
            if cut.pool_id is not None:
                records.insert(0, _rec("dividend_pool", cut.pool_id))
            ratio = r.burst / (BURST_DAYS * usual_rate) if usual_rate else None
            found.append(Found(BURST, f"{r.village_id}:{cut.day.isoformat()}", r.village_id, None, "", None, records,
                               {"cutoff": cut.day.isoformat(), "what": cut.what, "burst": r.burst,
                                "days": BURST_DAYS, "usual_per_day": round(usual_rate, 2),
                                "usual_days": USUAL_DAYS, "ratio": round(ratio, 1) if ratio else None,
                                "factor": BURST_FACTOR}))
    return found


# --- 4. shared photos ----------------------------------------------------------------------------

PHOTO_PAIRS_SQL = """
SELECT p1.phash AS hash_a, p2.phash AS hash_b, f1.file_id AS file_a, f2.file_id AS file_b,
       a1.id AS app_a, a2.id AS app_b, a1.household_id AS household_a, a2.household_id AS household_b,
       a1.village_id AS village_a, a2.village_id AS village_b, a1.created_at AS created_a, a2.created_at AS created_b
FROM integrity_photo_hashes p1
JOIN integrity_photo_hashes p2 ON p2.tenant_id = p1.tenant_id
     AND (p2.band0 = p1.band0 OR p2.band1 = p1.band1 OR p2.band2 = p1.band2 OR p2.band3 = p1.band3)
JOIN application_photos f1 ON f1.tenant_id = p1.tenant_id AND f1.file_id = p1.file_id
JOIN application_photos f2 ON f2.tenant_id = p2.tenant_id AND f2.file_id = p2.file_id
JOIN applications a1 ON a1.tenant_id = f1.tenant_id AND a1.id = f1.application_id
JOIN applications a2 ON a2.tenant_id = f2.tenant_id AND a2.id = f2.application_id
WHERE p1.tenant_id = :tenant_id AND p1.phash IS NOT NULL AND p2.phash IS NOT NULL AND p1.hashed_at >= :since
  AND a1.household_id <> a2.household_id
"""


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def shared_photos(since: datetime) -> list[Found]:
    rows = _rows(PHOTO_PAIRS_SQL, _at("since", since), hash_a=String(), hash_b=String(), file_a=Uuid(),
                 file_b=Uuid(), app_a=Uuid(), app_b=Uuid(), household_a=Uuid(), household_b=Uuid(),
                 village_a=Uuid(), village_b=Uuid(), created_a=DateTime(timezone=True),
                 created_b=DateTime(timezone=True))
    found: dict = {}
    for r in rows:
        bits = distance(r.hash_a, r.hash_b)
        if bits > MAX_DISTANCE:
            continue
        # the later application is the one that reused the photo: the signal is about it
        first, later = sorted([(r.created_a, str(r.app_a), r.app_a, r.file_a, r.household_a, r.village_a),
                               (r.created_b, str(r.app_b), r.app_b, r.file_b, r.household_b, r.village_b)])
        key = f"{first[2]}:{later[2]}"
        if key in found and found[key].numbers["distance"] <= bits:
            continue
        found[key] = Found(PHOTO, key, later[5], None, "", later[4],
                           [_rec("application", later[2]), _rec("application", first[2]),
                            _rec("file", later[3]), _rec("file", first[3])],
                           {"distance": bits, "max_distance": MAX_DISTANCE, "other_household": str(first[4])})
    return list(found.values())


# --- 5. one device, many households ------------------------------------------------------------

DEVICE_SQL = """
WITH busy AS (
    SELECT t.device_hash AS device_hash, ac.held_on AS held_on
    FROM activity_attendance t
    JOIN activities ac ON ac.tenant_id = t.tenant_id AND ac.id = t.activity_id
    WHERE t.tenant_id = :tenant_id AND t.checked_in = :yes AND t.device_hash IS NOT NULL AND t.created_at >= :since
    GROUP BY t.device_hash, ac.held_on
    HAVING COUNT(DISTINCT t.household_id) >= :least
)
SELECT t.device_hash AS device_hash, ac.held_on AS held_on, t.household_id AS household_id,
       t.activity_id AS activity_id, t.application_id AS application_id, ac.village_id AS village_id,
       t.marked_by_name AS marked_by_name
FROM activity_attendance t
JOIN activities ac ON ac.tenant_id = t.tenant_id AND ac.id = t.activity_id
JOIN busy b ON b.device_hash = t.device_hash AND b.held_on = ac.held_on
WHERE t.tenant_id = :tenant_id AND t.checked_in = :yes AND t.created_at >= :since
ORDER BY t.created_at
"""


def shared_devices(since: datetime) -> list[Found]:
    rows = db.session.execute(text(DEVICE_SQL).bindparams(
        _tenant(), _at("since", since), bindparam("yes", True, type_=Boolean()),
        bindparam("least", MIN_DEVICE_HOUSEHOLDS, type_=Integer())
    ).columns(device_hash=String(), held_on=Date(), household_id=Uuid(), activity_id=Uuid(),
              application_id=Uuid(), village_id=Uuid(), marked_by_name=String())).all()
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r.device_hash, r.held_on)].append(r)
    found = []
    for (device, held_on), group in groups.items():
        households = list(dict.fromkeys(r.household_id for r in group))
        activities = list(dict.fromkeys(r.activity_id for r in group))
        villages = {r.village_id for r in group}
        names = list(dict.fromkeys(r.marked_by_name for r in group if r.marked_by_name))
        records = ([_rec("activity", a) for a in activities] + [_rec("household", h) for h in households]
                   + [_rec("application", r.application_id) for r in group if r.application_id])
        found.append(Found(DEVICE, f"{device[:32]}:{held_on.isoformat()}",
                           next(iter(villages)) if len(villages) == 1 else None, None, "、".join(names)[:100], None,
                           records[:MAX_LINKED],
                           {"households": len(households), "checkins": len(group), "day": held_on.isoformat(),
                            "activities": len(activities), "least": MIN_DEVICE_HOUSEHOLDS}))
    return found


# --- writing ---------------------------------------------------------------------------------------

def _insert_ignore():
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(IntegritySignal)


def write(found: list[Found], day: date) -> int:
    """Insert the signals not yet known (by kind and dedupe key); a known one still open gets the
    latest records and numbers (a year's count grows), a reviewed one is left as it was reviewed.
    Returns how many are new."""
    if not found:
        return 0
    tenant_id, now = current_tenant_id(), clock.now()
    rows = {(f.kind, f.dedupe_key[:200]): {
        "tenant_id": tenant_id, "id": new_id(), "kind": f.kind, "dedupe_key": f.dedupe_key[:200],
        "village_id": f.village_id, "subject_user_id": f.subject_user_id, "subject_name": (f.subject_name or "")[:100],
        "household_id": f.household_id, "records": f.records or [], "numbers": f.numbers or {}, "detected_on": day,
        "status": OPEN, "reviewed_by_name": "", "review_reason": "", "created_at": now} for f in found}
    known = set()
    keys = list(rows)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        known |= {tuple(r) for r in db.session.execute(select(IntegritySignal.kind, IntegritySignal.dedupe_key).where(
            tuple_(IntegritySignal.kind, IntegritySignal.dedupe_key).in_(chunk)))}
    for start in range(0, len(keys), 500):
        stmt = _insert_ignore().values([rows[k] for k in keys[start:start + 500]])
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "kind", "dedupe_key"],
            set_={"records": stmt.excluded.records, "numbers": stmt.excluded.numbers},
            where=IntegritySignal.status == OPEN)
        db.session.execute(stmt)
    return len(set(keys) - known)


def run_all(day: date, since: datetime | None = None, hash_limit: int | None = None) -> dict:
    """Hash new photos, run every detector, write what is new. Flushes; the caller commits."""
    from jifen.tenants.integrity import fingerprints

    since = since or EPOCH
    hashed = fingerprints.hash_new_photos(hash_limit)
    found = (separation_of_duties(since) + verifier_outliers(day) + bursts(since, day)
             + shared_photos(since) + shared_devices(since))
    new = write(found, day)
    by_kind: dict = defaultdict(int)
    for f in found:
        by_kind[f.kind] += 1
    db.session.flush()
    return {"found": len(found), "new": new, "photos_hashed": hashed, "by_kind": dict(by_kind), "rows": new}

