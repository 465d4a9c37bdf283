"""Kept answers: found by key, least recently used dropped first, never more than their size."""

from app.services.kept import Kept


def test_the_least_recently_used_answer_goes_first() -> None:
    kept: Kept[str, list[int]] = Kept(size=2)
    kept.keep("a", [1])
    kept.keep("b", [])
    assert kept.get("a") == [1]  # now the most recently used
    kept.keep("c", [3])
    assert kept.get("b") is None
    assert (kept.get("a"), kept.get("c")) == ([1], [3])
    assert kept.get("b") is None and kept.get("missing") is None


def test_an_empty_answer_is_kept() -> None:
    kept: Kept[str, list[int]] = Kept(size=1)
    kept.keep("empty", [])
    assert kept.get("empty") == []
