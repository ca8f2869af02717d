"""Which hits of one upload the bot acts on and records."""

from __future__ import annotations

from rempart.telegram.backend import Hit, selected_hits


def hit(index: int, bank: str, match_type: str, distance: int, action: str = "remove") -> Hit:
    return Hit(index, bank, match_type, distance, action, token=f"{index}-{bank}-{distance}")


def test_one_signal_per_bank_the_strongest() -> None:
    hits = [
        hit(0, "cases", "near", 12),  # PDQ hits two victims' cases
        hit(0, "cases", "near", 20),
        hit(2, "cases", "exact", 0),  # SHA-256 hits one of them exactly
        hit(1, "partner", "near", 8),
    ]
    chosen = selected_hits(hits)
    assert [(h.bank, h.signal_index, h.distance) for h in chosen] == [
        ("cases", 2, 0),
        ("partner", 1, 8),
    ]


def test_every_case_of_the_chosen_signal_is_kept() -> None:
    chosen = selected_hits([hit(0, "cases", "near", 20), hit(0, "cases", "near", 12)])
    assert [h.distance for h in chosen] == [12, 20]


def test_allow_list_hits_are_dropped() -> None:
    assert selected_hits([hit(0, "cases", "near", 3, action="none")]) == []
