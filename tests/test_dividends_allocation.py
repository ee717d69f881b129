"""The dividend rule (jifen/tenants/dividends/allocation.py) as a pure function, with Hypothesis:
payouts sum to the pool to the fen, each is within 1 fen of its exact share, ties go by the
documented order, and the same input gives the same amounts."""
from __future__ import annotations

import uuid
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
    formula_for,
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
