"""Fake applicants: invented names and computed, valid citizen ID numbers."""

from __future__ import annotations

import random
from datetime import date, timedelta

from adapters.demo.bodies import _APPLICANT_DIVISIONS
from ledger.citizen_id import make_citizen_id
from ledger.personal import PersonalData

# -- fake applicants -------------------------------------------------------------------------


def _fake_applicant(rng: random.Random, number: int) -> PersonalData:
    division = rng.choice(_APPLICANT_DIVISIONS)
    birth = date(1950, 1, 1) + timedelta(days=rng.randrange(20_000))
    return PersonalData(
        name=f"测试人员{number:04d}",
        id_number=make_citizen_id(division, birth, rng.randrange(1000)),
        address=f"测试地址{number:04d}号",
    )
