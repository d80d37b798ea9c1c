import pytest

from modeltrace._internal import errors


@pytest.fixture(autouse=True)
def raise_internal_errors(monkeypatch):
    """Internal failures surface in tests; tests of the safety net turn this off."""
    monkeypatch.setattr(errors, "raise_internal_errors", True)
    errors.reset_error_counts()
    yield
