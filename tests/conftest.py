import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def no_background_compile_for_warning_tests(request, monkeypatch):
    """A test that records warnings runs with no background compile: one finishing
    meanwhile leaves Numba's warnings.catch_warnings, process-wide state, and had dropped
    pytest.warns's recorder (a test that did warn failed "DID NOT WARN"). So it waits for
    those asked for before, and compiles its own fused loops in its own thread."""
    import inspect
    try:
        source = inspect.getsource(request.function)
    except (OSError, TypeError):
        source = ""
    if "warns(" in source or "recwarn" in source or "catch_warnings" in source:
        from numhess import fused
        fused.wait_all()
        monkeypatch.setattr(fused, "MODE", "now")


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
