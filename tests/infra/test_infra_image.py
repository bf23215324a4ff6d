"""push-image: linux/amd64 builds, locally (docker buildx) or in AWS CodeBuild (--remote)."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from infra.build_context import ImageBuild
from infra.build_run import Polling
from infra.config import StackConfig
from infra.image import push_remote
from infra.remote_build import project_name, source_archive
from tests._infra_helpers import ACCOUNT, REGION, Recorder, recorder_on_moto
from tests.realaws import CodeBuildAsAws, CodeBuildProjectsAsAws, codebuild_updates_projects

URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/backtest-engine"
RESULTS = f"backtest-results-{ACCOUNT}-{REGION}"
BUILD_LOG = [
    "[Container] Entering phase PRE_BUILD",
    "Login Succeeded",
    "[Container] Entering phase BUILD",
    "#8 exporting to image",
    "pushed the image",
]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    yield from recorder_on_moto(monkeypatch, tmp_path)


def _pushed_digest(aws: Recorder, tag: str = "latest") -> str:
    """What the build's `docker push` leaves in ECR (moto's CodeBuild runs nothing)."""
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": "sha256:" + "2" * 64},
        }
    )
    ecr = aws.clients.ecr
    ecr.put_image(repositoryName="backtest-engine", imageManifest=manifest, imageTag=tag)
    return str(
        ecr.describe_images(repositoryName="backtest-engine")["imageDetails"][0]["imageDigest"]
    )


def _layer(aws: Recorder, digest: str, **kw) -> CodeBuildAsAws:
    logs = boto3.client("logs", region_name=REGION)  # CodeBuild's own writes: not recorded
    CodeBuildProjectsAsAws(aws.clients.codebuild)
    return CodeBuildAsAws(aws.clients.codebuild, logs, digest=digest, lines=BUILD_LOG, **kw)


def test_remote_build_uploads_builds_streams_and_pins_the_digest(aws, capsys):
    assert aws.run("up") == 0
    digest = _pushed_digest(aws)
    _layer(aws, digest)
    capsys.readouterr()
    assert aws.run("push-image", "--remote") == 0
    out = capsys.readouterr().out

    (put,) = aws.sent("PutObject")
    assert put["Bucket"] == RESULTS and put["Key"].startswith("builds/engine-")
    names = zipfile.ZipFile(io.BytesIO(put["Body"])).namelist()
    assert "engine/Dockerfile" in names and "engine/backtest.py" in names
    # what the root .dockerignore admits (engine/, jobs/, the project's metadata), nothing else
    tops = {n.split("/", 1)[0] for n in names}
    assert "jobs/search_jobs.py" in names  # a TPE search's step job runs in this image
    assert tops <= {"engine", "jobs", "pyproject.toml"}
    assert not [n for n in names if "__pycache__" in n]

    (project,) = aws.sent("CreateProject")
    assert project["environment"]["privilegedMode"] is True
    assert "x86_64" in project["environment"]["image"]
    assert "--platform linux/amd64" in project["source"]["buildspec"]
    assert project["serviceRole"].endswith(":role/backtest-image-build")
    (start,) = aws.sent("StartBuild")
    assert start["sourceLocationOverride"] == f"{RESULTS}/{put['Key']}"
    env = {v["name"]: v["value"] for v in start["environmentVariablesOverride"]}
    assert env["IMAGE_URI"] == URI and env["REGISTRY"] == URI.split("/", maxsplit=1)[0]

    positions = [out.index(line) for line in BUILD_LOG]
    assert positions == sorted(positions)  # the build log, in order, on the terminal
    for kind in ("run", "sweep", "collect"):
        jd = aws.clients.batch.describe_job_definitions(
            jobDefinitionName=f"backtest-{kind}", status="ACTIVE"
        )
        latest = max(jd["jobDefinitions"], key=lambda d: d["revision"])
        assert latest["containerProperties"]["image"] == f"{URI}@{digest}"
    assert aws.run("up") == 0
    assert aws.mutating() == []


def test_build_role_is_least_privilege(aws):
    assert aws.run("up") == 0
    _layer(aws, _pushed_digest(aws))
    assert aws.run("push-image", "--remote") == 0
    iam = aws.clients.iam
    role = iam.get_role(RoleName="backtest-image-build")["Role"]
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "codebuild.amazonaws.com"}
    doc = iam.get_role_policy(RoleName="backtest-image-build", PolicyName="backtest-image-build")
    grants = {}
    for st in doc["PolicyDocument"]["Statement"]:
        for action in [st["Action"]] if isinstance(st["Action"], str) else st["Action"]:
            grants[action] = st["Resource"]
    repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/backtest-engine"
    assert grants["ecr:PutImage"] == repo and grants["ecr:GetAuthorizationToken"] == "*"
    assert grants["s3:GetObject"] == f"arn:aws:s3:::{RESULTS}/builds/*"
    assert not any(a.startswith(("s3:Put", "s3:Delete", "iam:", "batch:")) for a in grants)
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/backtest-image-build"
    assert grants["logs:PutLogEvents"] == [group, f"{group}:*"]


def test_log_streams_while_the_build_runs(aws):
    assert aws.run("up") == 0
    digest = _pushed_digest(aws)
    layer = _layer(aws, digest, polls=3)
    cfg = StackConfig(account=ACCOUNT)
    seen: list[str] = []
    naps: list[float] = []
    polling = Polling(0.5, naps.append)
    assert push_remote(aws.clients, cfg, seen.append, polling=polling) == digest
    (build_id,) = layer.looks
    assert layer.looks[build_id] == 4 and naps == [0.5, 0.5, 0.5]
    logged = [line for line in seen if line in BUILD_LOG]
    assert logged == BUILD_LOG  # every line once, in order, across the polls


def test_a_failed_build_is_one_line_with_its_reason_and_pins_nothing(aws, capsys):
    assert aws.run("up") == 0
    why = "Error while executing command: docker build. Reason: exit status 1"
    _layer(aws, "sha256:" + "0" * 64, status="FAILED", failure=why)
    capsys.readouterr()
    assert aws.run("push-image", "--remote") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "FAILED" in err and "phase BUILD" in err and why in err
    assert "RegisterJobDefinition" not in aws.calls


def test_down_removes_the_build_project_and_role(aws, capsys):
    assert aws.run("up") == 0
    _layer(aws, _pushed_digest(aws))
    assert aws.run("push-image", "--remote") == 0
    capsys.readouterr()
    assert aws.run("status") == 0
    assert "codebuild project  backtest-image-build  exists" in capsys.readouterr().out
    assert aws.run("down") == 0
    assert (
        aws.clients.codebuild.batch_get_projects(names=[project_name(StackConfig())])["projects"]
        == []
    )
    roles = {r["RoleName"] for r in aws.clients.iam.list_roles()["Roles"]}
    assert "backtest-image-build" not in roles


def test_source_archive_follows_dockerignore_and_is_stable(tmp_path):
    (tmp_path / ".dockerignore").write_text("*\n!engine/\nengine/secret.txt\n")
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "engine" / "secret.txt").write_text("no")
    (tmp_path / "engine" / "__pycache__").mkdir()
    (tmp_path / "engine" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (tmp_path / "README.md").write_text("no")
    data = source_archive(tmp_path)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["engine/Dockerfile"]
    assert source_archive(tmp_path) == data
    spec = yaml.safe_load(ImageBuild.of(StackConfig()).buildspec)  # what CodeBuild parses
    assert spec["env"]["exported-variables"] == ["IMAGE_DIGEST"]
    build = spec["phases"]["build"]["commands"]
    assert build[0].startswith("docker build --platform linux/amd64 -f engine/Dockerfile")
    assert any(c.startswith("IMAGE_DIGEST=$(") for c in build)


def test_a_second_remote_build_reuses_the_project(aws):
    assert aws.run("up") == 0
    _layer(aws, _pushed_digest(aws))
    assert aws.run("push-image", "--remote") == 0
    assert aws.run("push-image", "--remote") == 0
    assert aws.sent("CreateProject") == [] and aws.sent("UpdateProject") == []
    assert aws.sent("CreateRole") == [] and aws.sent("PutRolePolicy") == []
    assert len(aws.sent("StartBuild")) == 1


def _fake_docker(tmp_path: Path, answers: bool) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    log = tmp_path / "docker.log"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit {0 if answers else 1}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_local_push_builds_for_linux_amd64_with_buildx(aws, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(_fake_docker(tmp_path, answers=True)))
    assert aws.run("up") == 0
    digest = _pushed_digest(aws)  # what the (fake) buildx --push would have left in ECR
    assert aws.run("push-image") == 0
    log = (tmp_path / "docker.log").read_text().splitlines()
    assert [line.split()[0] for line in log] == ["info", "login", "buildx"]
    build = log[2].split()
    assert build[:4] == ["buildx", "build", "--platform", "linux/amd64"]
    assert "--push" in build and build[build.index("-t") + 1] == f"{URI}:latest"
    jd = aws.clients.batch.describe_job_definitions(
        jobDefinitionName="backtest-run", status="ACTIVE"
    )
    latest = max(jd["jobDefinitions"], key=lambda d: d["revision"])
    assert latest["containerProperties"]["image"] == f"{URI}@{digest}"


def test_without_a_daemon_it_names_remote_and_the_buildx_line(aws, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(_fake_docker(tmp_path, answers=False)))
    assert aws.run("up") == 0
    capsys.readouterr()
    assert aws.run("push-image") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "python -m infra push-image --remote" in err
    build = "docker buildx build --platform linux/amd64 --provenance=false -f engine/Dockerfile"
    assert f"{build} -t {URI}:latest --push ." in err
    assert aws.mutating() == []


def test_a_project_made_before_the_source_tag_gets_the_new_buildspec_once(aws, monkeypatch):
    codebuild_updates_projects(monkeypatch)
    assert aws.run("up") == 0
    _layer(aws, _pushed_digest(aws))
    assert aws.run("push-image", "--remote") == 0
    old = ImageBuild.of(StackConfig()).buildspec.replace(' -t "$IMAGE_URI:$SOURCE_TAG"', "")
    old = old.replace('      - docker push "$IMAGE_URI:$SOURCE_TAG"\n', "")
    project = aws.clients.codebuild.batch_get_projects(names=["backtest-image-build"])
    location = project["projects"][0]["source"]["location"]
    aws.clients.codebuild.update_project(
        name="backtest-image-build", source={"type": "S3", "location": location, "buildspec": old}
    )  # the project as an earlier version of push-image --remote left it
    assert aws.run("push-image", "--remote") == 0
    (update,) = aws.sent("UpdateProject")
    assert update["source"]["buildspec"] == ImageBuild.of(StackConfig(account=ACCOUNT)).buildspec
    assert "SOURCE_TAG" in update["source"]["buildspec"] and "tags" not in update
    assert aws.run("push-image", "--remote") == 0
    assert aws.sent("UpdateProject") == []
