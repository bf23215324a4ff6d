"""Import a strategy file and make it a registry :class:`Strategy` (engine processes only).

The one loader for every strategy file: the built-ins of ``engine/sim/builtin/`` and a team's
``strategies/<NAME>.py``. User code runs here, so only the engine (a run, a sweep child, a
collect, the validation probe's subprocess) calls it; the dashboard reads the sidecars.

The file is written once to ``<cache root>/<sha256>/strategy.py`` (a path keyed by its bytes,
with a fixed mtime) and imported from there as module ``backtest_strategy_<sha256[:16]>``:
loading the same bytes again in a process reuses the module, and numba's on-disk cache of the
file's ``@njit(cache=True)`` functions (kept in that folder's ``__pycache__``) is found by the
next process, so a child does not compile the same file twice. The cache root is
``$BACKTEST_STRATEGY_CACHE``, else ``$NUMBA_CACHE_DIR/strategies``, else
``<tmp>/backtest-strategies-<uid>``; the first writable one is used.

Errors in user code become one :class:`StrategyError` line: ``<file> line N: <Type>: <message>``
(the line of the user's file, never the engine's traceback).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from engine.errors import StrategyError
from engine.sim import contract as ct
from engine.sim.strategies import Bars, Cache, Constraint, Strategy

FIXED_MTIME = 1_000_000_000  # numba's cache index is keyed on (mtime, size) of the file
MODULE_PREFIX = "backtest_strategy_"


def sha256_hex(source: str | bytes) -> str:
    """The sha256 of a file's bytes (text is UTF-8 encoded)."""
    return hashlib.sha256(as_bytes(source)).hexdigest()


def as_bytes(source: str | bytes) -> bytes:
    return source.encode("utf-8") if isinstance(source, str) else bytes(source)


def as_text(source: str | bytes, filename: str) -> str:
    if isinstance(source, str):
        return source
    try:
        return bytes(source).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ct.fail(
            filename, f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8"
        ) from None


def cache_roots(env: Mapping[str, str] | None = None) -> list[Path]:
    """Candidate folders for the materialised files, first writable wins."""
    env = os.environ if env is None else env
    roots = []
    if env.get("BACKTEST_STRATEGY_CACHE"):
        roots.append(Path(env["BACKTEST_STRATEGY_CACHE"]))
    if env.get("NUMBA_CACHE_DIR"):
        roots.append(Path(env["NUMBA_CACHE_DIR"]) / "strategies")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    roots.append(Path(tempfile.gettempdir()) / f"backtest-strategies-{uid}")
    return roots


def materialise(data: bytes, sha: str, env: Mapping[str, str] | None = None) -> Path:
    """``<root>/<sha>/strategy.py`` holding ``data`` (written once, atomically)."""
    last: OSError | None = None
    for root in cache_roots(env):
        folder = root / sha
        path = folder / "strategy.py"
        try:
            if path.is_file() and path.read_bytes() == data:
                return path
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".py")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.utime(tmp, (FIXED_MTIME, FIXED_MTIME))
            os.replace(tmp, path)
            return path
        except OSError as exc:
            last = exc
    raise StrategyError(
        f"no writable folder for strategy files ({last}); set BACKTEST_STRATEGY_CACHE to one"
    )


def user_error(exc: BaseException, path: Path, filename: str, during: str) -> StrategyError:
    """``<file> line N: <Type>: <message> (in <during>)`` for an exception in user code."""
    if isinstance(exc, StrategyError):
        return exc
    if isinstance(exc, SyntaxError) and exc.filename == str(path):
        detail = exc.msg or "invalid syntax"
        return StrategyError(
            f"{filename} line {exc.lineno}: syntax error: {detail}; fix the code and try again"
        )
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(path):
            line = frame.lineno
    where = f" line {line}" if line is not None else ""
    message = " ".join(str(exc).split())[:300]
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return StrategyError(f"{filename}{where}: {text} (in {during}); fix the code and try again")


def import_module(data: bytes, filename: str, env: Mapping[str, str] | None = None) -> ModuleType:
    """Import the file's bytes (cached per sha256 in this process); errors as one line."""
    sha = sha256_hex(data)
    name = MODULE_PREFIX + sha[:16]
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__backtest_sha256__", None) == sha:
        return module
    as_text(data, filename)
    path = materialise(data, sha, env)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has one
        raise StrategyError(f"{filename}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__backtest_sha256__"] = sha
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise ct.fail(filename, "exits at import", "do not call exit() in a strategy") from None
        raise user_error(exc, path, filename, "import") from None
    return module


def check_target(out: Any, n: int, filename: str) -> np.ndarray:
    """The signal's output as float64 of length ``n``, finite; StrategyError otherwise."""
    to_numpy = getattr(out, "to_numpy", None)
    arr = to_numpy() if callable(to_numpy) else out
    if not isinstance(arr, np.ndarray):
        raise ct.fail(
            filename,
            f"signal returned a {type(out).__name__}, not an array",
            "return a numpy float64 array, e.g. np.where(cond, 1.0, 0.0)",
        )
    if arr.dtype != np.float64:
        raise ct.fail(
            filename,
            f"signal returned dtype {arr.dtype}, not float64",
            "return np.asarray(x, dtype=np.float64)",
        )
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ct.fail(
            filename,
            f"signal returned shape {arr.shape} for {n} bars",
            "return one target per bar",
        )
    if not np.isfinite(arr).all():
        bad = int(np.argmin(np.isfinite(arr)))
        raise ct.fail(
            filename,
            f"signal returned a non-finite target ({arr[bad]}) at bar {bad}",
            "return 0.0 (flat) where an indicator is undefined, e.g. np.nan_to_num(x)",
        )
    return arr


def _signal_fn(fn: Callable[..., Any], path: Path, filename: str) -> Any:
    def signal_fn(bars: Bars, p: Mapping[str, Any], cache: Cache | None) -> np.ndarray:
        try:
            out = fn(bars, dict(p))
        except Exception as exc:
            raise user_error(exc, path, filename, "signal") from None
        # the sign is the target; a fresh array, so Strategy.signal may edit it
        return np.sign(check_target(out, bars.close.shape[0], filename))

    return signal_fn


def _constraint(c: Constraint, path: Path, filename: str) -> Constraint:
    def check(p: Mapping[str, Any]) -> bool:
        try:
            return bool(c.check(dict(p)))
        except Exception as exc:
            raise user_error(exc, path, filename, f"constraint {c.message!r}") from None

    return Constraint(c.names, check, c.message)


def _no_warmup(p: Mapping[str, Any]) -> int:
    return 0  # a file's signal says flat itself where its indicators are undefined


def strategy_from_module(module: ModuleType, filename: str, data: bytes) -> Strategy:
    """The :class:`Strategy` of an imported strategy file: the contract reader (the one the
    built-ins go through), its rules and signal wrapped so user errors are one line."""
    from engine.sim.strategies import STRATEGIES

    path = Path(str(getattr(module, "__file__", filename)))
    name, description, params, raw, fn = ct.read_module(module, filename, frozenset(STRATEGIES))
    constraints = tuple(_constraint(c, path, filename) for c in raw)
    return Strategy(
        name,
        description,
        params,
        constraints,
        _signal_fn(fn, path, filename),
        _no_warmup,
        source=as_text(data, filename),
        sha256=sha256_hex(data),
    )


def load_source(
    source: str | bytes, filename: str, env: Mapping[str, str] | None = None
) -> Strategy:
    """Import a strategy file's source and return its Strategy (not registered)."""
    data = as_bytes(source)
    module = import_module(data, filename, env)
    try:
        return strategy_from_module(module, filename, data)
    except StrategyError:
        raise
    except Exception as exc:  # reading an attribute ran user code (a property, __getattr__)
        raise user_error(exc, Path(str(module.__file__)), filename, "the schema") from None
