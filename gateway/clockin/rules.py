"""May this worker pass? Pure functions over roster data, a date and the site's rules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gateway.codes import SPECIAL_OPERATIONS, operation_of
from gateway.roster.worker import Worker


@dataclass(frozen=True)
class Rules:
    min_age: int = 18
    max_age_male: int = 60
    max_age_female: int = 55
    # special operations (gateway/codes.py) that need a valid certificate at this site;
    # empty: no certificate rule
    special_operations: frozenset[str] = frozenset(SPECIAL_OPERATIONS)


def rules_from(roster_cfg) -> Rules:
    """The site's rules from its ``[roster]`` settings (a RosterConfig)."""
    return Rules(min_age=roster_cfg.min_age, max_age_male=roster_cfg.max_age_male,
                 max_age_female=roster_cfg.max_age_female,
                 special_operations=frozenset(roster_cfg.special_operations))


def needs_certificate(worker: Worker, rules: Rules = Rules()) -> bool:
    """Does this worker's special operation (entered, or the one their work type is) need a
    特种作业操作证 here?  A work type alone (钢筋工, 木工) never does."""
    return operation_of(worker.trade, worker.special_op) in rules.special_operations


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def eligibility(worker: Worker | None, today: date, rules: Rules = Rules()) -> tuple[bool, str]:
    """May this worker clock in today?  (allowed, reason): the one rule for every path (lanes,
    phone page).  Reasons: ok, unknown_worker, exited, suspended, blacklisted,
    contract_expired, certificate_missing, certificate_expired, under_age, over_age; the words
    shown for each are in :mod:`gateway.clockin.reasons`."""
    if worker is None:
        return False, "unknown_worker"
    if worker.blacklisted:
        return False, "blacklisted"
    if worker.status != "active":
        return False, worker.status if worker.status in ("exited", "suspended") else "inactive"
    if worker.contract_end is not None and worker.contract_end < today:
        return False, "contract_expired"
    if needs_certificate(worker, rules):
        if worker.cert_valid_to is None:
            return False, "certificate_missing"
        if worker.cert_valid_to < today:
            return False, "certificate_expired"
    if worker.birth is not None:
        age = age_on(worker.birth, today)
        if age < rules.min_age:
            return False, "under_age"
        limit = rules.max_age_female if worker.gender == "female" else rules.max_age_male
        if age > limit:
            return False, "over_age"
    return True, "ok"


def passback(last_dir: str | None, direction: str, enabled: bool) -> tuple[bool, str]:
    """Anti-passback: with it on, a worker already in cannot come in again (and out needs in)."""
    if not enabled or last_dir is None:
        return True, "ok"
    if last_dir == direction:
        return False, "anti_passback"
    return True, "ok"


def flags(worker: Worker, today: date, rules: Rules = Rules(), soon_days: int = 30) -> list[str]:
    """What a labour manager should look at, worst first: blacklisted, contract_expired,
    certificate_missing/_expired, under_age, over_age, then contract_ending, certificate_ending,
    near_age_limit (within ``soon_days`` / one year). Pure; the roster screen shows these."""
    bad, soon = [], []
    if worker.blacklisted:
        bad.append("blacklisted")
    if worker.contract_end is not None:
        left = (worker.contract_end - today).days
        if left < 0:
            bad.append("contract_expired")
        elif left <= soon_days:
            soon.append("contract_ending")
    if needs_certificate(worker, rules):
        if worker.cert_valid_to is None:
            bad.append("certificate_missing")
        else:
            left = (worker.cert_valid_to - today).days
            if left < 0:
                bad.append("certificate_expired")
            elif left <= soon_days:
                soon.append("certificate_ending")
    if worker.birth is not None:
        age = age_on(worker.birth, today)
        limit = rules.max_age_female if worker.gender == "female" else rules.max_age_male
        if age < rules.min_age:
            bad.append("under_age")
        elif age > limit:
            bad.append("over_age")
        elif age == limit:
            soon.append("near_age_limit")
    return bad + soon
