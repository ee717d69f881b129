"""The dividend rule, written once: how a pool of fen is split among eligible households.

Exact shares
    A pool of A fen, N eligible households with weights w_i, W = sum of w_i, and the township's base
    percentage b (0-100): b % of the pool is shared equally, the rest in proportion to the weights,

        share_i = A*b / (100*N)  +  A*(100-b)*w_i / (100*W)

    A household's weight is its earned points of the period (eligibility guarantees they are >= 0).
    If no eligible household earned any points (W = 0) every weight is 1: the proportional part is
    then shared equally too, and everyone gets A/N.

Integers only
    Over the common denominator D = 100*N*W each exact share is an integer numerator
    n_i = c1 + c2*w_i with c1 = A*b*W and c2 = A*(100-b)*N, and the numerators sum to A*D exactly.
    floor_i = n_i div D and the remainder r_i = n_i mod D. The floors leave k = A - sum(floor_i)
    = sum(r_i) / D fen over, an integer with 0 <= k < N.

Largest remainder, and the tie-break
    The k households first in the order (remainder descending, earned points descending, household
    id ascending) get 1 fen more. So the payouts sum to the pool to the fen, each payout is its
    exact share rounded down or up (within 1 fen of it), and the same inputs always give the same
    amounts. Household ids are UUIDs, compared as bytes (PostgreSQL's uuid order, SQLite's order of
    the stored hex text, and Python's `uuid.UUID` order all agree).

The cut-off (how the k are found without sorting the households)
    A household's remainder depends only on its weight, so households of equal earned points form
    a group with one (remainder, earned), and the order is: the groups by (remainder desc, earned
    desc), each group's households by id. From the groups' sizes alone (`bonus_cutoff`, over a few
    hundred distinct weights) the k-th household of the order is the `rank`-th smallest id of one
    group (remainder R, earned E). A household gets the extra fen iff it is at or before that one:

        remainder > R  or  (remainder = R and (earned > E  or  (earned = E and id <= the k-th's id)))

    (`bonus_sql`; nobody when k = 0). Each household's amount is then decided by its own row and
    the cut-off, whatever chunk writes it, in any order, again after a resume.

Edge cases
    one household: it gets the whole pool; a pool smaller than the number of households: every
    floor is 0 and k = A households get 1 fen each; no eligible household: `NoEligibleHousehold`.

The same rule runs in SQL (the settlement's plan finds the cut-off, its chunks write final amounts
with `floor_and_remainder_sql` and `bonus_sql`) and in Python (`allocate`, which sorts every
household and which the tests compare the SQL and `bonus_cutoff` with). On PostgreSQL the
numerators are NUMERIC (they can pass 2**63 for big pools); SQLite has 64-bit integers only, so
`Formula.check_fits_sqlite` refuses a pool whose numerators would not fit there.
"""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

INT64_MAX = 2**63 - 1


class NoEligibleHousehold(ValueError):
    """No household meets the pool's eligibility: there is nobody to split it among."""


class TooLargeForSQLite(ValueError):
    """The exact numerators would not fit SQLite's 64-bit integers."""


@dataclass(frozen=True)
class Formula:
    amount_fen: int  # A
    base_percent: int  # b
    households: int  # N
    earned_total: int  # sum of earned points of the eligible households

    def __post_init__(self):
        if self.households <= 0:
            raise NoEligibleHousehold("no eligible household")
        if self.amount_fen < 0 or not 0 <= self.base_percent <= 100 or self.earned_total < 0:
            raise ValueError("amount, base percent and earned points must not be negative")

    @property
    def equal_weights(self) -> bool:
        """Nobody earned points: every household weighs 1."""
        return self.earned_total == 0

    @property
    def weight_total(self) -> int:  # W
        return self.households if self.equal_weights else self.earned_total

    def weight(self, earned: int) -> int:
        return 1 if self.equal_weights else earned

    @property
    def c1(self) -> int:
        return self.amount_fen * self.base_percent * self.weight_total

    @property
    def c2(self) -> int:
        return self.amount_fen * (100 - self.base_percent) * self.households

    @property
    def d(self) -> int:
        return 100 * self.households * self.weight_total

    def numerator(self, earned: int) -> int:
        return self.c1 + self.c2 * self.weight(earned)

    def split(self, earned: int) -> tuple[int, int]:
        """(floor of the exact share in fen, remainder over `d`)."""
        return divmod(self.numerator(earned), self.d)

    def exact_share(self, earned: int) -> Fraction:
        return Fraction(self.numerator(earned), self.d)

    def base_share(self) -> Fraction:
        """What every eligible household gets from the equal part, in fen."""
        return Fraction(self.amount_fen * self.base_percent, 100 * self.households)

    def check_fits_sqlite(self, max_earned: int) -> None:
        """SQLite computes with 64-bit integers: refuse numbers it cannot hold exactly."""
        if max(self.numerator(max_earned), self.d) > INT64_MAX:
            raise TooLargeForSQLite("the exact shares do not fit 64-bit integers")

    def params(self) -> dict:
        """The constants the SQL of `floor_and_remainder_sql` binds."""
        return {"c1": self.c1, "c2": self.c2, "d": self.d}


def formula_for(amount_fen: int, base_percent: int, earned: list[int]) -> Formula:
    return Formula(amount_fen, base_percent, len(earned), sum(earned))


def largest_remainder_key(household_id, earned: int, remainder: int) -> tuple:
    """The order in which households receive the leftover fen (sort ascending by this key)."""
    hid = household_id if isinstance(household_id, uuid.UUID) else uuid.UUID(str(household_id))
    return (-remainder, -earned, hid.bytes)


def allocate(amount_fen: int, base_percent: int, households: list[tuple]) -> dict:
    """Split `amount_fen` among `households` [(household id, earned points >= 0), ...] by the rule
    above; returns {household id: fen}. The pure function the SQL settlement must agree with."""
    if any(e < 0 for _h, e in households):
        raise ValueError("earned points of eligible households are never negative")
    if len({h for h, _e in households}) != len(households):
        raise ValueError("a household appears twice")
    f = formula_for(amount_fen, base_percent, [e for _h, e in households])
    rows = [(h, e, *f.split(e)) for h, e in households]
    leftover = amount_fen - sum(floor for _h, _e, floor, _r in rows)
    assert 0 <= leftover < len(rows), leftover
    ordered = sorted(rows, key=lambda r: largest_remainder_key(r[0], r[1], r[3]))
    lucky = {r[0] for r in ordered[:leftover]}
    return {h: floor + (h in lucky) for h, _e, floor, _r in rows}


@dataclass(frozen=True)
class Cutoff:
    """The last household to get a leftover fen: the `rank`-th smallest id (1-based) among the
    eligible households with `earned` points, whose remainder is `remainder`; `leftover` = k."""
    leftover: int
    remainder: int
    earned: int
    rank: int


def bonus_cutoff(f: Formula, groups: Iterable[tuple[int, int]]) -> Cutoff | None:
    """The cut-off from the eligible households' (earned points, how many) groups; None when no fen
    is left over. Walks the groups in (remainder desc, earned desc) order, whole groups while k
    allows; the group where k runs out holds the cut-off."""
    sizes = Counter()
    for earned, count in groups:
        sizes[earned] += count
    if sum(sizes.values()) != f.households:
        raise ValueError("the groups do not count the formula's households")
    splits = {e: f.split(e) for e in sizes}
    leftover = f.amount_fen - sum(n * splits[e][0] for e, n in sizes.items())
    assert 0 <= leftover < f.households, leftover
    need = leftover
    for earned in sorted(sizes, key=lambda e: (-splits[e][1], -e)):
        if need <= sizes[earned]:
            return Cutoff(leftover, splits[earned][1], earned, need) if need else None
        need -= sizes[earned]
    raise AssertionError("k is always smaller than the number of households")


def bonus_sql(remainder: str, earned: str, household_id: str) -> str:
    """SQL true iff a row (its remainder, earned points, household id) is at or before the cut-off
    (binds :bonus_remainder, :bonus_earned, :bonus_household)."""
    return (f"({remainder} > :bonus_remainder OR ({remainder} = :bonus_remainder AND ({earned} > :bonus_earned "
            f"OR ({earned} = :bonus_earned AND {household_id} <= :bonus_household))))")


def floor_and_remainder_sql(dialect: str, weight_sql: str) -> tuple[str, str]:
    """SQL for a household's floor share (fen) and remainder, given the SQL of its weight; binds
    :c1, :c2 and :d (`Formula.params`). PostgreSQL computes in NUMERIC (exact at any size);
    SQLite in 64-bit integers, checked beforehand by `Formula.check_fits_sqlite`."""
    if dialect == "postgresql":
        numerator = f"(CAST(:c1 AS NUMERIC) + CAST(:c2 AS NUMERIC) * ({weight_sql}))"
        return (f"CAST(div({numerator}, CAST(:d AS NUMERIC)) AS BIGINT)",
                f"mod({numerator}, CAST(:d AS NUMERIC))")
    numerator = f"(:c1 + :c2 * ({weight_sql}))"
    return f"({numerator} / :d)", f"({numerator} % :d)"
