"""app.strategy_service and app.constraint_probe without Streamlit: stored strategies beside the
built-ins, who may change them, nothing silently replaced, and schema + rule checks that never
import the file into this process."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import strategy_service as svc
from app import submit_service
from app.auth import AuthConfig
from app.constraint_probe import evaluate
from app.context import AppContext
from app.forms import prefill_from_query
from engine.errors import ParamError, StrategyError
from engine.spec import SimOptions
from engine.store.objects import LocalStore
from jobs.local import LocalExecutor
from jobs.settings import load_settings
from tests._app_helpers import INPUT, RESULTS, csv_bytes
from tests._strategy_files import close_above_sma, raising_rule, short_output

NAME = "svc_close_above_sma"
GOOD = close_above_sma(NAME)
HOSTED = AuthConfig("oidc", "test")


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    root = tmp_path / "store"
    settings = load_settings(
        {
            "BACKTEST_STORAGE_ROOT": str(root),
            "BACKTEST_CONFIG": str(tmp_path / "x.toml"),
            "BACKTEST_USER": "alice",
        }
    )
    store = LocalStore(root)
    store.create_bucket(INPUT)
    store.create_bucket(RESULTS)
    store.put_bytes(INPUT, "a.csv", csv_bytes(200))
    executor = LocalExecutor(settings, worker="none")  # records only: nothing runs
    yield AppContext(settings, store, executor)
    executor.close()


def _stored_file(ctx: AppContext, name: str = NAME) -> Path:
    return Path(ctx.settings.storage_root) / INPUT / "strategies" / f"{name}.py"


def test_saved_strategy_is_listed_after_the_builtins_with_who_and_sha(ctx: AppContext) -> None:
    before = [r.name for r in svc.catalogue(ctx)]
    assert "sma_cross" in before and NAME not in before
    saved = svc.save(ctx, GOOD, user="dana@example.com")
    rows = svc.catalogue(ctx)
    assert [r.name for r in rows] == [*before, NAME]
    row = rows[-1]
    assert row.stored and row.sha256 == hashlib.sha256(GOOD.encode()).hexdigest() == saved.sha256
    assert row.added_by == "dana@example.com" and row.added_at
    assert row.source == GOOD and row.constraints == ("window above 3",)
    assert row.params_text() == "window=15 (int 2..500)"
    assert _stored_file(ctx).read_bytes() == GOOD.encode()
    assert NAME not in sys.modules and not any(NAME in m for m in sys.modules)  # never imported


def test_a_refused_file_is_not_stored(ctx: AppContext) -> None:
    with pytest.raises(StrategyError) as info:
        svc.save(ctx, short_output(NAME), user="alice")
    assert "\n" not in str(info.value)
    assert not _stored_file(ctx).exists()
    with pytest.raises(ParamError, match="empty"):
        svc.validate("  \n", "blank.py")


def test_replacing_needs_overwrite_and_the_sha_the_user_saw(ctx: AppContext) -> None:
    first = svc.save(ctx, GOOD, user="alice")
    changed = GOOD.replace("Long while", "Long only while")
    with pytest.raises(StrategyError):
        svc.save(ctx, changed, user="bob")
    assert _stored_file(ctx).read_text() == GOOD
    with pytest.raises(ParamError, match="changed since you were asked"):
        svc.save(ctx, changed, user="bob", replace_sha256="0" * 64)
    assert _stored_file(ctx).read_text() == GOOD
    again = svc.save(ctx, changed, user="bob", replace_sha256=first.sha256)
    assert again.added_by == "bob" and _stored_file(ctx).read_text() == changed


def test_hosted_mode_records_the_signed_in_user_and_refuses_anonymous() -> None:
    with pytest.raises(ParamError, match="sign in"):
        svc.change_user(HOSTED, None, "alice")
    assert svc.may_change(HOSTED, None) == svc.SIGN_IN_FIRST
    assert svc.change_user(HOSTED, "eve@example.com", "alice") == "eve@example.com"
    assert svc.may_change(HOSTED, "eve@example.com") is None
    assert svc.change_user(AuthConfig(), None, "alice") == "alice"  # local mode: the setting


def test_delete_removes_a_stored_strategy_but_never_a_builtin(ctx: AppContext) -> None:
    svc.save(ctx, GOOD, user="alice")
    with pytest.raises(ParamError, match="built-in"):
        svc.delete(ctx, "sma_cross", user="alice")
    svc.delete(ctx, NAME, user="alice")
    assert not _stored_file(ctx).exists()
    assert NAME not in [r.name for r in svc.catalogue(ctx)]


def test_run_params_are_checked_against_the_stored_schema_and_rules(ctx: AppContext) -> None:
    svc.save(ctx, GOOD, user="alice")
    assert svc.validate_params(ctx, NAME, {}) == {"window": 15}
    assert svc.validate_params(ctx, NAME, {"window": "20"}) == {"window": 20}
    with pytest.raises(ParamError, match=r"int 2\.\.500"):
        svc.validate_params(ctx, NAME, {"window": 1})
    with pytest.raises(ParamError, match="rule 'window above 3' does not hold"):
        svc.validate_params(ctx, NAME, {"window": 3})
    records = submit_service.submit_runs(
        ctx, ["a.csv"], submit_service.RunChoice(NAME, {"window": 30}, SimOptions())
    )
    recorded = ctx.executor.get(records[0].id).spec
    assert recorded["strategy"] == NAME and recorded["params"] == {"window": 30}
    # pinned to the bytes checked: the engine refuses the file if it is replaced meanwhile
    assert recorded["strategy_source"] == f"s3://{INPUT}/strategies/{NAME}.py"
    assert recorded["strategy_sha256"] == hashlib.sha256(GOOD.encode()).hexdigest()
    (builtin,) = submit_service.submit_runs(
        ctx, ["a.csv"], submit_service.RunChoice("sma_cross", {}, SimOptions())
    )
    assert ctx.executor.get(builtin.id).spec.get("strategy_source") is None  # nothing to pin
    with pytest.raises(ParamError, match="rule 'window above 3'"):
        submit_service.submit_runs(
            ctx, ["a.csv"], submit_service.RunChoice(NAME, {"window": 2}, SimOptions())
        )
    assert len(ctx.executor.list()) == 2  # the refused one submitted nothing


def test_the_probe_reports_each_broken_rule_and_user_errors_in_one_line() -> None:
    assert evaluate(GOOD, NAME, [{"window": 3}, {"window": 4}]) == [["window above 3"], []]
    with pytest.raises(StrategyError) as info:
        evaluate(raising_rule(NAME), NAME, [{"window": 5}])
    text = str(info.value)
    assert "KeyError" in text and "'nope'" in text and "line 8" in text and "\n" not in text
    with pytest.raises(StrategyError, match=r"broken.py line 1: ZeroDivisionError"):
        evaluate("x = 1 / 0\n", "broken", [{}])


def test_prefill_accepts_a_stored_strategy_and_its_params(ctx: AppContext) -> None:
    svc.save(ctx, GOOD, user="alice")
    stored = svc.stored_schemas(svc.catalogue(ctx))
    pre = prefill_from_query({"strategy": NAME, "p_window": "25", "p_fast": "3"}, stored)
    assert pre.strategy == NAME and pre.params == {"window": 25}
    assert pre.problems == [f"{NAME} has no parameter 'fast'; ignored"]
    assert prefill_from_query({"strategy": NAME}).strategy is None  # unknown without the schema
