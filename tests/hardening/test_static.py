"""Static guarantees checked on the source: no secrets in the repository, no user text rendered
as HTML, nothing that evaluates or unpickles input, no shell commands."""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AWS_KEY_ID = re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
AWS_SECRET = re.compile(
    rb"(?i)aws_secret_access_key\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
)
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----")
SECRET_FILES = re.compile(r"(^|/)(secrets\.toml|\.env|credentials|id_rsa)$")
CODE_DIRS = ("engine", "jobs", "app", "views", "infra")
UI_DIRS = ("app", "views")


def repo_files() -> list[str]:
    """Tracked files plus new ones not ignored (what a commit could contain)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return [p for p in out.decode().split("\0") if p and (REPO / p).is_file()]


def secret_findings(name: str, data: bytes) -> list[str]:
    """What looks like a credential in one file's bytes."""
    found = []
    for label, pattern in (
        ("AWS access key id", AWS_KEY_ID),
        ("AWS secret access key", AWS_SECRET),
        ("private key", PRIVATE_KEY),
    ):
        if pattern.search(data):
            found.append(f"{name}: {label}")
    return found


def test_the_scanner_finds_planted_credentials() -> None:
    key_id = b"AKIA" + b"Q7XZ" * 4
    secret = b"aws_secret_access_key = " + b"wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12"[:40]
    assert secret_findings("a", b"x = '" + key_id + b"'") == ["a: AWS access key id"]
    assert secret_findings("b", secret) == ["b: AWS secret access key"]
    pem = b"-----BEGIN RSA " + b"PRIVATE KEY-----"  # split: this file must not match itself
    assert secret_findings("c", pem) == ["c: private key"]
    assert secret_findings("d", b"AWS_SECRET_ACCESS_KEY=testing AKIA_NOT_A_KEY") == []


def test_no_credentials_in_the_repository() -> None:
    files = repo_files()
    assert "streamlit_app.py" in files and len(files) > 50
    assert not [f for f in files if SECRET_FILES.search(f)]
    findings = [hit for f in files for hit in secret_findings(f, (REPO / f).read_bytes())]
    assert findings == []


# -- AST scans -------------------------------------------------------------------------------


def python_files(dirs: tuple[str, ...], extra: tuple[str, ...] = ()) -> Iterator[Path]:
    """Every .py file under ``dirs`` (plus ``extra`` files) of the repository."""
    for d in dirs:
        yield from sorted((REPO / d).rglob("*.py"))
    for name in extra:
        yield REPO / name


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain ('' for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, None)


UNSAFE_CALLS = {
    "eval", "exec", "compile", "__import__", "pickle.loads", "pickle.load", "marshal.loads",
    "marshal.load", "shelve.open", "dill.loads", "cloudpickle.loads", "pd.read_pickle",
    "pandas.read_pickle", "os.system", "os.popen", "pd.eval", "yaml.unsafe_load",
    "yaml.full_load", "jsonpickle.decode", "torch.load",
}  # fmt: skip
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "yaml.SafeLoader", "yaml.CSafeLoader"}


def unsafe_evaluation(tree: ast.AST) -> list[tuple[int, str]]:
    """Calls that evaluate, unpickle or shell out, as (line, description)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        short = name.rsplit(".", 1)[-1]
        if name in UNSAFE_CALLS or (
            short in ("eval", "query")
            and "." in name
            and not name.endswith(("table.query", "self.query"))
        ):
            found.append((node.lineno, name))
        if name == "yaml.load" and dotted(_kw(node, "Loader") or ast.Name("")) not in (
            SAFE_YAML_LOADERS
        ):
            found.append((node.lineno, "yaml.load without a safe Loader"))
        if name.endswith("np.load") or name == "numpy.load":
            if not _is_false(_kw(node, "allow_pickle")) and _kw(node, "allow_pickle"):
                found.append((node.lineno, "np.load(allow_pickle=...)"))
        if name.startswith(("subprocess.", "asyncio.create_subprocess_shell")):
            shell = _kw(node, "shell")
            if shell is not None and not _is_false(shell):
                found.append((node.lineno, f"{name}(shell=...)"))
            if name.endswith("_shell"):
                found.append((node.lineno, name))
    return sorted(found)  # fmt: skip


def test_the_evaluation_scanner_finds_each_pattern() -> None:
    source = (
        "eval(x)\nexec(y)\nimport pickle\npickle.loads(b)\nyaml.load(s)\n"
        "yaml.load(s, Loader=yaml.SafeLoader)\nsubprocess.run(c, shell=True)\n"
        "subprocess.run(['ls'])\ndf.query(text)\nself.table.query(sql, params)\n"
        "np.load(f, allow_pickle=True)\nnp.load(f)\nos.system(c)\n"
    )
    lines = [line for line, _ in unsafe_evaluation(ast.parse(source))]
    assert lines == [1, 2, 4, 5, 7, 9, 11, 13]


@pytest.mark.parametrize(
    "path", list(python_files(CODE_DIRS, ("streamlit_app.py",))), ids=lambda p: p.name
)
def test_no_module_evaluates_input(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    assert unsafe_evaluation(tree) == [], path.relative_to(REPO)


def unsafe_html(tree: ast.AST) -> list[tuple[int, str]]:
    """Streamlit calls that would render HTML: unsafe_allow_html, st.html, components.html."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name.endswith((".html", ".iframe")) and name.split(".")[0] in (
                "st",
                "streamlit",
                "components",
                "stc",
                "sidebar",
            ):
                found.append((node.lineno, name))
            flag = _kw(node, "unsafe_allow_html")
            if flag is not None and not _is_false(flag):
                found.append((node.lineno, f"{name}(unsafe_allow_html=...)"))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "streamlit.components"
        ):
            found.append((node.lineno, f"import {node.module}"))
        if isinstance(node, ast.Import) and any(
            a.name.startswith("streamlit.components") for a in node.names
        ):
            found.append((node.lineno, "import streamlit.components"))
    return sorted(found)  # fmt: skip


def test_the_html_scanner_finds_each_pattern() -> None:
    source = (
        "st.markdown(t, unsafe_allow_html=True)\nst.html(t)\n"
        "import streamlit.components.v1 as components\ncomponents.html(t)\n"
        "st.markdown(t)\nst.write(t, unsafe_allow_html=False)\nreport.html(t)\n"
    )
    assert [line for line, _ in unsafe_html(ast.parse(source))] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "path", list(python_files(UI_DIRS, ("streamlit_app.py",))), ids=lambda p: p.name
)
def test_no_page_or_service_renders_html(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    assert unsafe_html(tree) == [], path.relative_to(REPO)
