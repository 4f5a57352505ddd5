"""One worker as the roster knows them: what the clock-in rules and the screens decide on."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Worker:
    worker_id: str
    status: str = "active"                # active | exited | suspended
    blacklisted: bool = False
    blacklist_reason: str | None = None
    contract_end: date | None = None      # None = open-ended
    trade: str | None = None              # work type (工种), national code, e.g. "020" 钢筋工
    cert_valid_to: date | None = None     # the special-operation certificate's expiry
    birth: date | None = None             # decrypted from the roster only when needed
    gender: str | None = None
    team: str | None = None               # work team (班组), for screens and the monthly sheet
    special_op: str | None = None         # special operation (特种作业), e.g. "JZ-01" 建筑电工
