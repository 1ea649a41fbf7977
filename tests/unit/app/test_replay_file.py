from pathlib import Path

import orjson
import pytest

from app.simulation.replay import read_recording
from schemas.errors import InputError


def _line(ts: float, **extra: object) -> bytes:
    data = {"kind": "queue", "ts": ts, "service": "s", "queue": "q", "depth": 1, **extra}
    return orjson.dumps(data)


def test_reads_and_orders_by_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"\n".join([_line(20), b"", _line(10), _line(30)]) + b"\n")
    recording = read_recording(path)
    assert [e.ts for e in recording.events] == [10, 20, 30]
    assert recording.reordered


def test_invalid_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"\n".join([_line(1), b"{oops", _line(2, depth=-1)]))
    with pytest.raises(InputError) as caught:
        read_recording(path)
    text = str(caught.value)
    assert "2 invalid line(s)" in text and "--skip-invalid" in text
    assert "line 2: not valid JSON" in text and "line 3: depth:" in text


def test_skip_invalid_keeps_the_good_lines(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"\n".join([_line(1), b"{oops", _line(2)]))
    recording = read_recording(path, skip_invalid=True)
    assert len(recording.events) == 2
    assert len(recording.skipped) == 1 and recording.skipped[0].startswith("line 2: not valid JSON")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_recording(tmp_path / "nope.jsonl")
