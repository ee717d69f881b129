"""The dividend rule (jifen/tenants/dividends/allocation.py) as a pure function, with Hypothesis:
payouts sum to the pool to the fen, each is within 1 fen of its exact share, ties go by the
documented order, and the same input gives the same amounts."""
from __future__ import annotations

import uuid
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jifen.tenants.dividends.allocation import (
    INT64_MAX,
    Formula,
    NoEligibleHousehold,
    TooLargeForSQLite,
    allocate,
    bonus_cutoff,
    formula_for,
    largest_remainder_key,
)

ids = st.builds(uuid.uuid4)
households = st.lists(st.tuples(ids, st.integers(0, 5000)), min_size=1, max_size=60,
                      unique_by=lambda t: t[0])
amounts = st.integers(1, 10_000_000_000)
percents = st.integers(0, 100)


def exact(amount, base, rows):
    f = formula_for(amount, base, [e for _h, e in rows])
    return {h: f.exact_share(e) for h, e in rows}


@settings(max_examples=150, deadline=None)
@given(amounts, percents, households)
def test_payouts_sum_to_the_pool_and_stay_within_one_fen_of_the_exact_share(amount, base, rows):
    paid = allocate(amount, base, rows)
    assert sum(paid.values()) == amount
    assert set(paid) == {h for h, _e in rows}
    shares = exact(amount, base, rows)
    assert sum(shares.values()) == amount  # the exact shares themselves add up
    for h, fen in paid.items():
        assert isinstance(fen, int) and fen >= 0
        assert abs(fen - shares[h]) < 1
        assert fen in (shares[h].numerator // shares[h].denominator, -(-shares[h].numerator // shares[h].denominator))


@settings(max_examples=100, deadline=None)
@given(amounts, percents, households, st.randoms(use_true_random=False))
def test_the_same_input_in_any_order_gives_the_same_amounts(amount, base, rows, rnd):
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert allocate(amount, base, rows) == allocate(amount, base, shuffled)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200), percents, households)
def test_a_pool_smaller_than_the_number_of_households(amount, base, rows):
    paid = allocate(amount, base, rows)
    assert sum(paid.values()) == amount
    assert sum(1 for v in paid.values() if v > 0) <= amount  # not everyone can get a fen
    shares = exact(amount, 0 if base is None else base, rows)
    assert all(abs(paid[h] - shares[h]) < 1 for h in paid)


@settings(max_examples=100, deadline=None)
@given(amounts, percents, st.lists(ids, min_size=1, max_size=40, unique=True))
def test_when_nobody_earned_points_everyone_shares_equally(amount, base, hids):
    paid = allocate(amount, base, [(h, 0) for h in hids])
    low = amount // len(hids)
    assert sum(paid.values()) == amount
    assert sorted(paid.values()) == [low] * (len(hids) - amount % len(hids)) + [low + 1] * (amount % len(hids))
    # equal remainders: the extra fen go to the lowest household ids
    lucky = sorted(hids, key=lambda h: h.bytes)[:amount % len(hids)]
    assert all(paid[h] == low + 1 for h in lucky)


@settings(max_examples=100, deadline=None)
@given(amounts, percents, ids, st.integers(0, 10_000))
def test_one_household_gets_the_whole_pool(amount, base, hid, earned):
    assert allocate(amount, base, [(hid, earned)]) == {hid: amount}


@settings(max_examples=100, deadline=None)
@given(amounts, households)
def test_all_base_is_an_equal_split_whatever_the_points(amount, rows):
    paid = allocate(amount, 100, rows)
    assert max(paid.values()) - min(paid.values()) <= 1


@settings(max_examples=100, deadline=None)
@given(amounts, households)
def test_more_points_never_means_less_money(amount, rows):
    for base in (0, 30, 100):
        paid = allocate(amount, base, rows)
        for h1, e1 in rows:
            for h2, e2 in rows:
                if e1 > e2:
                    assert paid[h1] >= paid[h2]


def test_ties_larger_remainder_then_more_points_then_lower_id():
    a, b, c = (uuid.UUID(int=n) for n in (3, 1, 2))
    # 10 fen, all proportional, equal points: 3.33 each, one fen left: the lowest id (b) gets it
    assert allocate(10, 0, [(a, 5), (b, 5), (c, 5)]) == {a: 3, b: 4, c: 3}
    # 1 fen, 50 % base: a has more points and the larger remainder
    paid = allocate(1, 50, [(a, 2), (b, 1), (c, 1)])
    assert paid == {a: 1, b: 0, c: 0}
    # equal remainders but different points: 2 fen, all base, over 4 households -> remainders equal
    d = uuid.UUID(int=0)
    paid = allocate(2, 100, [(a, 9), (b, 1), (c, 5), (d, 1)])
    assert paid == {a: 1, b: 0, c: 1, d: 0}


def test_worked_example_base_30_percent():
    """¥20,000.00, 30 % equally among 4 households, 70 % by points 10/20/30/40."""
    h = [uuid.UUID(int=n) for n in range(1, 5)]
    paid = allocate(2_000_000, 30, list(zip(h, [10, 20, 30, 40], strict=True)))
    # 150,000 fen base each + 1,400,000 * p/100
    assert paid == {h[0]: 290_000, h[1]: 430_000, h[2]: 570_000, h[3]: 710_000}


def test_no_household_and_bad_input_are_refused():
    with pytest.raises(NoEligibleHousehold):
        allocate(100, 30, [])
    with pytest.raises(ValueError):
        allocate(100, 30, [(uuid.uuid4(), -1)])
    hid = uuid.uuid4()
    with pytest.raises(ValueError):
        allocate(100, 30, [(hid, 1), (hid, 2)])


def test_big_numbers_are_exact_and_sqlite_refuses_what_it_cannot_hold():
    f = Formula(10_000_000_000, 30, 1_000_000, 1_000_000 * 5000)
    assert f.c1 + f.c2 * 5000 > INT64_MAX  # PostgreSQL computes this in NUMERIC
    with pytest.raises(TooLargeForSQLite):
        f.check_fits_sqlite(5000)
    assert f.exact_share(5000) * 1_000_000 == 10_000_000_000  # a million equal households share it exactly
    Formula(2_000_000, 30, 300, 30_000).check_fits_sqlite(500)  # a village pool fits easily
    assert Formula(100, 30, 4, 0).base_share() == Fraction(30, 4)


# --- the cut-off: the settlement's plan finds the k-th household from the weight groups alone ---------

def by_cutoff(amount, base, rows):
    """The settlement's way, in Python: the groups' sizes give the cut-off's group and rank, the
    rank-th smallest id of that group its household, and each household is paid by comparing its
    own (remainder, earned, id) with the cut-off: no sort of the households."""
    f = formula_for(amount, base, [e for _h, e in rows])
    cut = bonus_cutoff(f, list(Counter(e for _h, e in rows).items()))
    if cut is None:
        return {h: f.split(e)[0] for h, e in rows}, None
    paid = {}
    last = sorted((h for h, e in rows if e == cut.earned), key=lambda h: h.bytes)[cut.rank - 1]
    edge = largest_remainder_key(last, cut.earned, cut.remainder)
    for h, e in rows:
        floor, remainder = f.split(e)
        paid[h] = floor + int(largest_remainder_key(h, e, remainder) <= edge)
    return paid, cut


@settings(max_examples=300, deadline=None)
@given(amounts, percents, households)
def test_the_cutoff_gives_the_same_amounts_as_sorting_every_household(amount, base, rows):
    paid, cut = by_cutoff(amount, base, rows)
    assert paid == allocate(amount, base, rows)
    leftover = sum(paid.values()) - sum(formula_for(amount, base, [e for _h, e in rows]).split(e)[0] for _h, e in rows)
    assert (cut.leftover if cut else 0) == leftover


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), percents, st.lists(st.tuples(ids, st.integers(0, 4)), min_size=1, max_size=60,
                                               unique_by=lambda t: t[0]))
def test_the_cutoff_with_many_ties_and_pools_smaller_than_the_households(amount, base, rows):
    """Few distinct weights (big groups, the boundary inside one) and tiny pools (k up to N - 1)."""
    assert by_cutoff(amount, base, rows)[0] == allocate(amount, base, rows)


@settings(max_examples=100, deadline=None)
@given(amounts, percents, st.lists(ids, min_size=1, max_size=40, unique=True), st.integers(0, 50))
def test_the_cutoff_when_all_are_in_one_group_or_nobody_earned(amount, base, hids, earned):
    rows = [(h, earned) for h in hids]  # earned 0: W = 0, every weight 1
    paid, cut = by_cutoff(amount, base, rows)
    assert paid == allocate(amount, base, rows)
    k = amount % len(hids)
    assert (cut is None) == (k == 0)
    if cut:
        assert (cut.leftover, cut.earned, cut.rank) == (k, earned, k)


def test_the_cutoff_edge_cases():
    a, b, c = (uuid.UUID(int=n) for n in (3, 1, 2))
    f = formula_for(10, 0, [5, 5, 5])
    cut = bonus_cutoff(f, [(5, 3)])  # 3.33 each: one fen left, the first of the one group
    assert (cut.leftover, cut.earned, cut.rank) == (1, 5, 1)
    assert bonus_cutoff(formula_for(30, 0, [5, 5, 5]), [(5, 3)]) is None  # k = 0: nobody
    assert bonus_cutoff(formula_for(7, 30, [4]), [(4, 1)]) is None  # one household: the whole pool
    # 2 fen by weights 2, 1, 1, 2: remainders 2/3 (earned 2) before 1/3 (earned 1); k = 2 ends with
    # the second household of earned 2; 3 fen: floors 1, 0, 0, 1, k = 1 goes to the earned-1 group
    cut = bonus_cutoff(formula_for(2, 0, [2, 1, 1, 2]), [(1, 2), (2, 2)])
    assert (cut.leftover, cut.remainder, cut.earned, cut.rank) == (2, 1600, 2, 2)  # over D = 100 * 4 * 6
    cut = bonus_cutoff(formula_for(3, 0, [2, 1, 1, 2]), [(1, 2), (2, 2)])
    assert (cut.leftover, cut.remainder, cut.earned, cut.rank) == (1, 1200, 1, 1)
    assert by_cutoff(2, 0, [(a, 2), (b, 1), (c, 1), (uuid.UUID(int=9), 2)])[0] == allocate(
        2, 0, [(a, 2), (b, 1), (c, 1), (uuid.UUID(int=9), 2)])
    with pytest.raises(ValueError):
        bonus_cutoff(formula_for(10, 0, [5, 5]), [(5, 3)])  # groups must count the formula's households
