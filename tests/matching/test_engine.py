"""The match engine's decision rules, without a database."""

from __future__ import annotations

import numpy as np

from rempart.matching.engine import BankInfo, MatchEngine
from rempart.signals import ExactHash, PdqHash, Signal


def _pdq(seed: int, quality: int = 90) -> PdqHash:
    return PdqHash(bytes(np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8)), quality)


def _near(value: PdqHash, bits: int) -> PdqHash:
    number = int.from_bytes(value.bits, "big") ^ ((1 << bits) - 1)
    return PdqHash(number.to_bytes(32, "big"), value.quality)


def _engine() -> MatchEngine:
    engine = MatchEngine()
    engine.set_bank(BankInfo(1, org_id=10, name="cases", shared=True))
    engine.set_bank(BankInfo(2, org_id=20, name="strict", pdq_threshold=10))
    engine.set_bank(BankInfo(3, org_id=20, name="fp", kind="allow"))
    engine.set_bank(BankInfo(4, org_id=30, name="off", enabled=False))
    engine.add(
        [
            (100, 1, 7, _pdq(1)),
            (101, 1, 7, _near(_pdq(1), 5)),  # the same case's second hash of the photo
            (102, 1, 7, ExactHash("sha256", "ab" * 32)),
            (200, 2, None, _pdq(2)),
            (300, 3, None, _pdq(3)),
            (301, 2, None, _near(_pdq(3), 4)),
            (400, 4, None, _pdq(4)),
        ]
    )
    return engine


def test_batch_answers_equal_single_answers() -> None:
    engine = _engine()
    queries: list[Signal] = [
        _near(_pdq(1), 12),
        ExactHash("sha256", "ab" * 32),
        _pdq(9),
        _near(_pdq(2), 8),
        _near(_pdq(1), 3),
        _pdq(1, quality=20),
    ]

    batch = engine.match_many(queries, org_id=20)

    assert batch == [engine.match(query, org_id=20) for query in queries]
    assert [len(found) for found in batch] == [1, 1, 0, 1, 1, 0]


def test_one_result_per_case_with_its_best_distance() -> None:
    found = _engine().match(_near(_pdq(1), 3), org_id=None)

    assert [(m.bank.name, m.case_id, m.signal_id, m.distance) for m in found] == [
        ("cases", 7, 101, 2)
    ]


def test_bank_threshold_visibility_and_enabled() -> None:
    engine = _engine()

    assert engine.match(_near(_pdq(2), 10), org_id=20)[0].distance == 10
    assert engine.match(_near(_pdq(2), 11), org_id=20) == []
    assert engine.match(_pdq(2), org_id=99) == []  # a private bank of organisation 20
    assert engine.match(_pdq(4), org_id=30) == []  # disabled


def test_allow_bank_suppresses_the_same_organisations_protect_banks() -> None:
    found = {m.bank.name: m for m in _engine().match(_pdq(3), org_id=20)}

    assert found["strict"].action == "none"
    assert "fp" in str(found["strict"].reason)
    assert found["fp"].action == "none"


def test_removed_signals_stop_matching_and_unknown_removals_are_ignored() -> None:
    engine = _engine()
    engine.remove([100, 101, 102, 99999])

    assert engine.match(_pdq(1), org_id=None) == []
    assert engine.match(ExactHash("sha256", "ab" * 32), org_id=None) == []
    assert len(engine) == 4
