"""`rules.flags`: what the labour manager should look at on the roster screen, worst first."""
from __future__ import annotations

from datetime import date

import pytest

from gateway.clockin.rules import Rules, flags
from gateway.roster.worker import Worker

TODAY = date(2026, 11, 21)


def born(years_ago: int, days: int = 0) -> date:
    """A birth date making the worker ``years_ago`` old today, shifted by ``days``."""
    d = TODAY.replace(year=TODAY.year - years_ago)
    return date.fromordinal(d.toordinal() + days)


@pytest.mark.parametrize("worker, expected", [
    (Worker("W1"), []),
    (Worker("W1", blacklisted=True, blacklist_reason="fraud"), ["blacklisted"]),
    (Worker("W1", contract_end=date(2026, 11, 20)), ["contract_expired"]),
    (Worker("W1", contract_end=TODAY), ["contract_ending"]),             # last day still works
    (Worker("W1", contract_end=date(2026, 12, 21)), ["contract_ending"]),  # 30 days left
    (Worker("W1", contract_end=date(2026, 12, 22)), []),                   # 31 days left
    (Worker("W1", special_op="JZ-01"), ["certificate_missing"]),
    (Worker("W1", special_op="JZ-01", cert_valid_to=date(2026, 11, 20)), ["certificate_expired"]),
    (Worker("W1", special_op="JZ-01", cert_valid_to=date(2026, 12, 1)), ["certificate_ending"]),
    (Worker("W1", special_op="JZ-01", cert_valid_to=date(2027, 11, 1)), []),
    (Worker("W1", trade="130"), ["certificate_missing"]),           # 建筑电工 is JZ-01 by itself
    (Worker("W1", cert_valid_to=date(2026, 11, 1)), []),            # no special operation: no rule
    (Worker("W1", trade="020"), []),                                # 钢筋工: ordinary work type
    (Worker("W1", trade="240", cert_valid_to=date(2026, 11, 1)), []),  # 木工, old certificate: no rule
    (Worker("W1", birth=born(18, 1), gender="male"), ["under_age"]),  # 18 tomorrow
    (Worker("W1", birth=born(18), gender="male"), []),
    (Worker("W1", birth=born(61), gender="male"), ["over_age"]),
    (Worker("W1", birth=born(60), gender="male"), ["near_age_limit"]),
    (Worker("W1", birth=born(59), gender="male"), []),
    (Worker("W1", birth=born(56), gender="female"), ["over_age"]),
    (Worker("W1", birth=born(55), gender="female"), ["near_age_limit"]),
    (Worker("W1", birth=born(56), gender=None), []),                 # no gender: the male limit
])
def test_each_flag(worker, expected):
    assert flags(worker, TODAY) == expected


def test_soon_days_and_site_rules():
    w = Worker("W1", contract_end=date(2027, 1, 10))
    assert flags(w, TODAY) == [] and flags(w, TODAY, soon_days=60) == ["contract_ending"]
    old = Worker("W1", birth=born(58), gender="male")
    assert flags(old, TODAY, Rules(max_age_male=57)) == ["over_age"]
    lax = Rules(special_operations=frozenset())
    assert flags(Worker("W1", special_op="AQ-2.1"), TODAY, lax) == []
    only_height = Rules(special_operations=frozenset({"AQ-3.2"}))
    assert flags(Worker("W1", special_op="AQ-2.1"), TODAY, only_height) == []
    assert flags(Worker("W1", special_op="AQ-3.2"), TODAY, only_height) == ["certificate_missing"]


def test_worst_first():
    w = Worker("W1", blacklisted=True, contract_end=date(2026, 12, 1), special_op="AQ-2.1",
               cert_valid_to=date(2026, 11, 1), birth=born(60), gender="male")
    assert flags(w, TODAY) == ["blacklisted", "certificate_expired", "contract_ending", "near_age_limit"]
    w = Worker("W1", contract_end=date(2026, 12, 1), special_op="AQ-2.1", cert_valid_to=date(2026, 12, 2),
               birth=born(70), gender="male")
    assert flags(w, TODAY) == ["over_age", "contract_ending", "certificate_ending"]
