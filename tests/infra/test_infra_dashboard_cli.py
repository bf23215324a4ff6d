"""`python -m infra up --dashboard ...`, `users add`, `status`, `down` through the CLI's main on
in-process moto: what is created, a second identical `up` with no mutating call, nothing of the
dashboard left by `down`, and one-line refusals (exit 2) before any AWS call."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import settings as moto_settings

from infra import cognito, dashboard_lb
from infra.cli import main
from tests._infra_helpers import Recorder, recorder_on_moto

DOMAIN = "backtest.example.com"
BASE = ["--dashboard", "--domain", DOMAIN, "--certificate-arn", "a"]
SECRET = ["--oidc-client-secret-arn", "s"]
OIDC = ["--oidc-issuer", "https://id.example.com", "--oidc-client-id", "x"]


@pytest.fixture
def rec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorder]:
    yield from recorder_on_moto(monkeypatch, tmp_path)


def _cert(rec: Recorder, monkeypatch: pytest.MonkeyPatch, issued: bool, name: str) -> str:
    # moto issues a requested certificate after ACM_VALIDATION_WAIT seconds (like DNS validation)
    monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", -1 if issued else 3600)
    arn = rec.clients.acm.request_certificate(DomainName=name, ValidationMethod="DNS")
    return str(arn["CertificateArn"])


def _up(rec: Recorder, cert: str, *extra: str) -> int:
    return rec.run(
        "up", "--dashboard", "--domain", DOMAIN, "--certificate-arn", cert, "--cognito", *extra
    )


@pytest.mark.slow
def test_up_users_status_down(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = _cert(rec, monkeypatch, True, "*.example.com")
    assert _up(rec, cert, "--allow-cidr", "203.0.113.0/24") == 0
    out = capsys.readouterr().out
    lb = dashboard_lb.find_load_balancer(rec.clients.elbv2, "backtest-dash")
    assert lb is not None
    assert f"dashboard: https://{DOMAIN}/" in out
    assert f"create this DNS record: {DOMAIN}. CNAME {lb['DNSName']}." in out
    listeners = rec.clients.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])
    https = next(item for item in listeners["Listeners"] if item["Port"] == 443)
    assert https["Certificates"][0]["CertificateArn"] == cert
    assert https["DefaultActions"][0]["Type"] == "authenticate-cognito"
    groups = rec.clients.ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["backtest-dash-lb"]}]
    )["SecurityGroups"]
    cidrs = {r["CidrIp"] for p in groups[0]["IpPermissions"] for r in p["IpRanges"]}
    assert cidrs == {"203.0.113.0/24"}
    repo = rec.clients.ecr.describe_repositories(repositoryNames=["backtest-dashboard"])
    service = rec.clients.ecs.describe_services(cluster="backtest-dash", services=["backtest-dash"])
    task = rec.clients.ecs.describe_task_definition(
        taskDefinition=service["services"][0]["taskDefinition"]
    )["taskDefinition"]
    container = task["containerDefinitions"][0]
    assert container["image"] == repo["repositories"][0]["repositoryUri"] + ":latest"
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["BACKTEST_JOB_QUEUE"] == "backtest-queue"  # the Batch stack it drives
    assert env["BACKTEST_ALB_ARN"] == lb["LoadBalancerArn"]

    assert _up(rec, cert, "--allow-cidr", "203.0.113.0/24") == 0
    assert rec.mutating() == []
    assert "dashboard: nothing to change" in capsys.readouterr().out

    assert rec.run("users", "add", "ana@example.com") == 0
    pool = cognito.find_pool(rec.clients.idp, "backtest-dash")
    assert pool is not None
    users = rec.clients.idp.list_users(UserPoolId=pool["Id"])["Users"]
    emails = [a["Value"] for u in users for a in u["Attributes"] if a["Name"] == "email"]
    assert emails == ["ana@example.com"]
    capsys.readouterr()
    assert rec.run("users", "add", "ana@example.com") == 2  # already invited: one line
    assert "already a user" in capsys.readouterr().err

    assert rec.run("status") == 0
    out = capsys.readouterr().out
    assert "ECS service" in out and "/1 tasks running" in out
    assert "load balancer" in out and "target group" in out

    assert rec.run("down") == 0
    assert dashboard_lb.find_load_balancer(rec.clients.elbv2, "backtest-dash") is None
    assert cognito.find_pool(rec.clients.idp, "backtest-dash") is not None  # users are data
    assert rec.clients.ecr.describe_repositories()["repositories"] == []
    roles = rec.clients.iam.list_roles()["Roles"]
    assert [r["RoleName"] for r in roles if not r["Path"].startswith("/aws-service-role/")] == []
    left = rec.clients.ec2.describe_security_groups()["SecurityGroups"]
    assert not [g for g in left if g["GroupName"].startswith("backtest-")]
    capsys.readouterr()
    assert rec.run("status") == 0
    assert "backtest-dash" not in capsys.readouterr().out
    assert rec.run("down", "--delete-data") == 0
    assert cognito.find_pool(rec.clients.idp, "backtest-dash") is None


def test_unissued_or_foreign_certificate_is_refused(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pending = _cert(rec, monkeypatch, False, DOMAIN)
    assert _up(rec, pending) == 2
    err = capsys.readouterr().err
    assert "PENDING_VALIDATION, not ISSUED" in err and err.count("\n") == 1
    assert rec.mutating() == []  # refused before the Batch stack or anything else is made
    assert dashboard_lb.find_load_balancer(rec.clients.elbv2, "backtest-dash") is None
    assert cognito.find_pool(rec.clients.idp, "backtest-dash") is None
    other = _cert(rec, monkeypatch, True, "other.example.org")
    assert _up(rec, other) == 2
    assert f"not {DOMAIN}" in capsys.readouterr().err
    assert rec.mutating() == []
    missing = pending.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert _up(rec, missing) == 2
    assert "no such certificate" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--dashboard", "--cognito"], "--dashboard needs --domain NAME and --certificate-arn"),
        (["--dashboard", "--domain", DOMAIN, "--cognito"], "--certificate-arn"),
        (["--domain", DOMAIN], "--domain needs --dashboard"),
        (["--cognito"], "--cognito needs --dashboard"),
        (
            [*BASE, "--cognito", "--oidc-issuer", "https://id.example.com"],
            "exclude each other",
        ),
        (BASE, "needs a login"),
        (
            [*BASE, *OIDC],
            "all of --oidc-issuer",
        ),
        (
            [*BASE, "--oidc-issuer", "http://x.example.com", "--oidc-client-id", "x", *SECRET],
            "must be https://",
        ),
        (
            ["--dashboard", "--domain", "not a domain", "--certificate-arn", "a", "--cognito"],
            "give a DNS name",
        ),
        (
            [*BASE, "--cognito", "--allow-cidr", "everyone"],
            "IPv4 CIDR",
        ),
    ],
)
def test_bad_combinations_one_line_exit_2_no_call(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # no clients at all: a refusal must come before any client is made or called
    assert main(["up", *argv]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_users_add_refuses_a_bad_address_and_a_missing_pool(
    rec: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rec.run("users", "add", "not-an-address") == 2
    assert "give an e-mail address" in capsys.readouterr().err
    assert rec.run("users", "add", "ana@example.com") == 2
    assert "up --dashboard --cognito" in capsys.readouterr().err
    assert rec.mutating() == []


def _tls_server(tmp_path: Path) -> tuple[ThreadingHTTPServer, Path]:
    """A loopback HTTPS server (a self-signed localhost certificate) serving a discovery doc."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = tmp_path / "key.pem"
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Discovery(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"https://localhost:{self.server.server_address[1]}"
            body = {
                "issuer": base,
                "authorization_endpoint": base + "/authorize",
                "token_endpoint": base + "/token",
                "userinfo_endpoint": base + "/userinfo",
            }
            data = json.dumps(body).encode() if self.path.endswith("/openid-configuration") else b""
            self.send_response(200 if data else 404)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Discovery)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem, key_pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, pem


@pytest.mark.slow
def test_up_with_oidc_reads_the_secret_and_the_discovery_document(
    rec: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, pem = _tls_server(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))  # trust the test's certificate only
    issuer = f"https://localhost:{server.server_address[1]}"
    secret = rec.clients.secretsmanager.create_secret(Name="oidc", SecretString="s3cr3t-value")
    cert = _cert(rec, monkeypatch, True, DOMAIN)
    argv = [*BASE[:-1], cert, "--oidc-issuer", issuer, "--oidc-client-id", "client-1"]
    argv += ["--oidc-client-secret-arn", secret["ARN"]]
    try:
        assert rec.run("up", *argv) == 0
        out, err = capsys.readouterr()
        assert "s3cr3t-value" not in out + err  # never printed
        lb = dashboard_lb.find_load_balancer(rec.clients.elbv2, "backtest-dash")
        assert lb is not None
        listeners = rec.clients.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])
        https = next(item for item in listeners["Listeners"] if item["Port"] == 443)
        auth = https["DefaultActions"][0]
        assert auth["Type"] == "authenticate-oidc"
        config = auth["AuthenticateOidcConfig"]
        assert config["TokenEndpoint"] == issuer + "/token"
        assert config["ClientId"] == "client-1"
        assert (
            rec.sent("CreateListener")[0]["DefaultActions"][0]["AuthenticateOidcConfig"][
                "ClientSecret"
            ]
            == "s3cr3t-value"
        )
        assert cognito.find_pool(rec.clients.idp, "backtest-dash") is None
        assert rec.run("up", *argv) == 0
        assert rec.mutating() == []
        missing = secret["ARN"][:-6] + "zzzzzz"
        assert rec.run("up", *argv[:-1], missing) == 2
        assert "cannot read the secret (ResourceNotFoundException)" in capsys.readouterr().err
    finally:
        server.shutdown()


def test_push_image_dashboard_refusals(
    rec: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert rec.run("push-image", "--dashboard") == 2
    assert "ECR repository backtest-dashboard does not exist" in capsys.readouterr().err
    assert rec.run("push-image", "--dashboard", "--remote") == 2
    assert "ECR repository backtest-dashboard does not exist" in capsys.readouterr().err
    uri = rec.clients.ecr.create_repository(repositoryName="backtest-dashboard")["repository"][
        "repositoryUri"
    ]
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker binary at all
    assert rec.run("push-image", "--dashboard") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no docker daemon answers here" in err
    assert "python -m infra push-image --dashboard --remote" in err
    assert f"-f infra/dashboard.Dockerfile -t {uri}:latest --push ." in err
    assert (Path(__file__).resolve().parents[2] / "infra" / "dashboard.Dockerfile").is_file()
    assert rec.mutating() == []
