"""Fixtures for the hardening tests: a local storage root with an input and a result bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store.objects import LocalStore

INPUT, RESULTS = "input", "results"


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    """A storage root holding empty ``input`` and ``results`` buckets."""
    root = tmp_path / "store"
    store = LocalStore(root)
    store.create_bucket(INPUT)
    store.create_bucket(RESULTS)
    return root
