"""The hosted dashboard's image built in AWS CodeBuild: `push-image --dashboard --remote` and
`up --dashboard --remote`, by the engine image's code path (infra/remote_build.py) with the
dashboard's Dockerfile, build context and repository. moto's CodeBuild runs nothing: the
realaws layers answer as a real build does (log, exported digest, the image its push leaves)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from moto import settings as moto_settings

from infra import remote_build
from infra.actions import apply
from infra.build_context import ImageBuild
from infra.config import StackConfig
from tests._infra_helpers import ACCOUNT, REGION, Recorder, frozen_checkout, recorder_on_moto
from tests.realaws import CodeBuildAsAws, CodeBuildProjectsAsAws

REPO = Path(__file__).resolve().parents[2]
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
URI = f"{REGISTRY}/backtest-dashboard"
RESULTS = f"backtest-results-{ACCOUNT}-{REGION}"
DOMAIN = "backtest.example.com"
LOG = ["[Container] Entering phase BUILD", "#12 exporting to image", "pushed the dashboard"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    yield from recorder_on_moto(monkeypatch, tmp_path)


def _builds(aws: Recorder) -> CodeBuildAsAws:
    """CodeBuild as AWS runs it; its pushes and log writes use clients the recorder does not see."""
    CodeBuildProjectsAsAws(aws.clients.codebuild)
    return CodeBuildAsAws(
        aws.clients.codebuild,
        boto3.client("logs", region_name=REGION),
        digest="",
        lines=LOG,
        ecr=boto3.client("ecr", region_name=REGION),
    )


def _stack_and_repository(aws: Recorder) -> None:
    assert aws.run("up") == 0  # the result bucket the source goes to
    aws.clients.ecr.create_repository(repositoryName="backtest-dashboard")  # as up --dashboard


def _latest(aws: Recorder) -> str:
    found = aws.clients.ecr.describe_images(
        repositoryName="backtest-dashboard", imageIds=[{"imageTag": "latest"}]
    )
    return str(found["imageDetails"][0]["imageDigest"])


@pytest.mark.slow
def test_push_image_dashboard_remote_builds_the_dashboard_context(
    aws: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    _stack_and_repository(aws)
    layer = _builds(aws)
    capsys.readouterr()
    assert aws.run("push-image", "--dashboard", "--remote") == 0
    out = capsys.readouterr().out

    (put,) = aws.sent("PutObject")
    assert put["Bucket"] == RESULTS and put["Key"].startswith("builds/dashboard-")
    names = zipfile.ZipFile(io.BytesIO(put["Body"])).namelist()
    for wanted in (
        "infra/dashboard.Dockerfile",
        "requirements.txt",
        "streamlit_app.py",
        ".streamlit/config.toml",
        "app/auth.py",
        "views/_pages.py",
        "jobs/batch.py",
        "engine/backtest.py",
        "infra/dashboard_serve.py",
    ):
        assert wanted in names, wanted
    # what infra/dashboard.Dockerfile.dockerignore excludes stays out
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {
        "infra", "requirements.txt", "streamlit_app.py", ".streamlit", "app", "views", "jobs",
        "engine",
    }  # fmt: skip
    assert [n for n in names if n.startswith(".streamlit/")] == [".streamlit/config.toml"]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "tests/conftest.py" not in names and "README.md" not in names

    (project,) = aws.sent("CreateProject")
    assert project["name"] == "backtest-dashboard-build"
    assert project["serviceRole"].endswith(":role/backtest-dashboard-build")
    assert project["environment"]["privilegedMode"] is True
    spec = yaml.safe_load(project["source"]["buildspec"])  # what CodeBuild parses
    build = spec["phases"]["build"]["commands"]
    assert build[0].startswith("docker build --platform linux/amd64 -f infra/dashboard.Dockerfile")
    assert spec["env"]["exported-variables"] == ["IMAGE_DIGEST"]
    (start,) = aws.sent("StartBuild")
    assert start["projectName"] == "backtest-dashboard-build"
    assert start["sourceLocationOverride"] == f"{RESULTS}/{put['Key']}"
    env = {v["name"]: v["value"] for v in start["environmentVariablesOverride"]}
    sha = hashlib.sha256(put["Body"]).hexdigest()[:16]
    assert env == {
        "REGISTRY": REGISTRY,
        "IMAGE_URI": URI,
        "IMAGE_TAG": "latest",
        "SOURCE_TAG": f"src-{sha}",
    }
    assert put["Key"] == f"builds/dashboard-{sha}.zip"
    assert layer.pushed == [("backtest-dashboard", ["latest", f"src-{sha}"])]

    positions = [out.index(line) for line in LOG]
    assert positions == sorted(positions)  # the build's log on the terminal, in order
    assert f"pushed {URI}@{_latest(aws)}" in out
    assert "RegisterJobDefinition" not in aws.calls  # the engine's definitions are not touched
    assert (
        aws.clients.codebuild.batch_get_projects(names=["backtest-image-build"])["projects"] == []
    )

    iam = aws.clients.iam
    doc = iam.get_role_policy(
        RoleName="backtest-dashboard-build", PolicyName="backtest-dashboard-build"
    )["PolicyDocument"]
    grants: dict[str, object] = {}
    for st in doc["Statement"]:
        for action in [st["Action"]] if isinstance(st["Action"], str) else st["Action"]:
            grants[action] = st["Resource"]
    assert grants["ecr:PutImage"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/backtest-dashboard"
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/backtest-dashboard-build"
    assert grants["logs:PutLogEvents"] == [group, f"{group}:*"]
    assert grants["s3:GetObject"] == f"arn:aws:s3:::{RESULTS}/builds/*"


@pytest.mark.slow
def test_a_second_dashboard_build_reuses_project_and_role_and_down_removes_both(
    aws: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    _stack_and_repository(aws)
    _builds(aws)
    assert aws.run("push-image", "--dashboard", "--remote") == 0
    assert aws.run("push-image", "--dashboard", "--remote") == 0
    assert aws.sent("CreateProject") == [] and aws.sent("UpdateProject") == []
    assert aws.sent("CreateRole") == [] and aws.sent("PutRolePolicy") == []
    assert len(aws.sent("StartBuild")) == 1  # an explicit push-image always builds
    capsys.readouterr()
    assert aws.run("status") == 0
    assert "codebuild project  backtest-dashboard-build  exists" in capsys.readouterr().out
    assert aws.run("down") == 0
    assert aws.sent("DeleteProject") == [{"name": "backtest-dashboard-build"}]
    roles = {r["RoleName"] for r in aws.clients.iam.list_roles()["Roles"]}
    assert "backtest-dashboard-build" not in roles
    groups = aws.clients.logs.describe_log_groups(logGroupNamePrefix="/aws/codebuild/")
    assert groups["logGroups"] == []  # the build's log group (CodeBuild made it) goes too


@pytest.mark.slow
def test_a_build_happens_only_for_a_source_ecr_has_no_image_of(
    aws: Recorder, tmp_path: Path
) -> None:
    _stack_and_repository(aws)
    _builds(aws)
    root = tmp_path / "checkout"
    (root / "infra").mkdir(parents=True)
    shutil.copy2(REPO / "infra" / "dashboard.Dockerfile", root / "infra")
    shutil.copy2(REPO / "infra" / "dashboard.Dockerfile.dockerignore", root / "infra")
    (root / "requirements.txt").write_text("streamlit==1.0 --hash=sha256:00\n")
    (root / "streamlit_app.py").write_text("print('v1')\n")
    (root / "notes.txt").write_text("not in the context\n")
    cfg = StackConfig(account=ACCOUNT)
    build = dataclasses.replace(ImageBuild.of(cfg, "dashboard"), root=root)

    aws.calls.clear()

    def verbs() -> list[tuple[str, str]]:
        return [
            (a.verb, a.kind) for a in remote_build.image_actions(aws.clients, cfg, build, print)
        ]

    assert verbs() == [
        ("create", "build source"),
        ("create", "iam role"),
        ("create", "codebuild project"),
        ("create", "image"),
    ]
    assert aws.mutating() == []  # planning only
    assert apply(remote_build.image_actions(aws.clients, cfg, build, print), print) == 4
    assert verbs() == [("noop", "image")]  # built: this source has its image
    (root / "notes.txt").write_text("changed, but ignored\n")
    assert verbs() == [("noop", "image")]
    (root / "streamlit_app.py").write_text("print('v2')\n")
    assert verbs() == [
        ("create", "build source"),
        ("noop", "iam role"),
        ("noop", "codebuild project"),
        ("create", "image"),
    ]


def _cert(aws: Recorder, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", -1)  # issued at once
    arn = aws.clients.acm.request_certificate(DomainName=DOMAIN, ValidationMethod="DNS")
    return str(arn["CertificateArn"])


@pytest.mark.slow
def test_up_dashboard_remote_builds_then_deploys_by_digest_and_reruns_as_a_no_op(
    aws: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    frozen_checkout(monkeypatch, tmp_path)  # the source cannot change between the two ups
    layer = _builds(aws)
    argv = ["up", "--dashboard", "--domain", DOMAIN, "--certificate-arn", _cert(aws, monkeypatch)]
    argv += ["--cognito", "--remote"]
    assert aws.run(*argv) == 0
    assert len(aws.sent("StartBuild")) == 1 and len(layer.pushed) == 1
    service = aws.clients.ecs.describe_services(cluster="backtest-dash", services=["backtest-dash"])
    task = aws.clients.ecs.describe_task_definition(
        taskDefinition=service["services"][0]["taskDefinition"]
    )["taskDefinition"]
    assert task["containerDefinitions"][0]["image"] == f"{URI}@{_latest(aws)}"
    capsys.readouterr()
    assert aws.run(*argv) == 0
    assert aws.mutating() == []  # the source is built: no upload, no build, nothing else
    assert "dashboard: nothing to change" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["up", "--remote"], "--remote needs --dashboard"),
        (
            ["up", "--dashboard", "--domain", DOMAIN, "--certificate-arn", "a", "--cognito",
             "--remote", "--dashboard-image", "x"],
            "--dashboard-image names another",
        ),
    ],
)  # fmt: skip
def test_remote_flag_refusals_are_one_line_before_any_call(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1
