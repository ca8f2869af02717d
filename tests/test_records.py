"""Hash records read back: malformed CSV and vpdq values are InvalidSignal, never a crash."""

from __future__ import annotations

import pytest

from rempart.errors import InvalidSignal
from rempart.records import parse_record, read_records

FRAME = {"value": "ab" * 32, "quality": 90, "timestamp": 0.0}


@pytest.mark.parametrize("text", ["\r0", "path\na.jpg\rb,c"], ids=["in the header", "in a row"])
def test_malformed_csv_is_an_invalid_signal(text: str) -> None:
    with pytest.raises(InvalidSignal, match="not valid CSV"):
        list(read_records(text, "body"))


@pytest.mark.parametrize(
    "value",
    [[{"value": "xyz", "quality": 90, "timestamp": 0}], "[{not json", {"frames": [FRAME]}],
    ids=["bad hex", "bad JSON text", "an object"],
)
def test_malformed_vpdq_values_are_invalid_signals(value: object) -> None:
    with pytest.raises(InvalidSignal):
        parse_record({"path": "v.mp4", "vpdq": value})


def test_vpdq_reads_from_a_list_or_its_json_text() -> None:
    text = '[{"value": "' + "ab" * 32 + '", "quality": 90, "timestamp": 0.0}]'
    from_list = parse_record({"path": "v.mp4", "vpdq": [FRAME]}).vpdq
    from_text = parse_record({"path": "v.mp4", "vpdq": text}).vpdq

    assert from_list is not None
    assert from_list == from_text
