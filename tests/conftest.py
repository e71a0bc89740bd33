import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def bar_updates(monkeypatch):
    """Every piece of work is long, and the progress bar records its updates here (then
    "closed") instead of drawing."""
    from numhess import progress
    updates = []

    class Bar:
        def update(self, n):
            updates.append(n)

        def close(self):
            updates.append("closed")

    monkeypatch.setattr(progress, "MIN_WORK", 0)
    monkeypatch.setattr(progress, "bar", lambda total, what: Bar())
    return updates
