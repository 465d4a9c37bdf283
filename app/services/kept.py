"""Answers a process computed, kept while the state they were computed from is unchanged.

For reads whose key names that state, read in one cheap statement on every call: a changed state makes
a new key, so a kept answer is never older than what the read would return now. Least recently used
first, at most ``size`` of them: the bound on the memory they hold.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Answer = TypeVar("Answer")


class Kept(Generic[Key, Answer]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[Key, Answer] = OrderedDict()

    def get(self, key: Key) -> Answer | None:
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
        return answer

    def keep(self, key: Key, answer: Answer) -> None:
        self._answers[key] = answer
        self._answers.move_to_end(key)
        if len(self._answers) > self.size:
            self._answers.popitem(last=False)
