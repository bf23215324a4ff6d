"""`python -m infra up --dashboard ...`, `users add`, and the dashboard's rows in status / down.

Everything the command line checks before the dashboard is created lives here: the flag
combinations (one line, exit 2), the ACM certificate (ISSUED and covering ``--domain``), the OIDC
client secret (read from Secrets Manager by ARN, never printed), the provider's endpoints (its
discovery document). Then :func:`infra.dashboard.up` applies the stages.
"""

from __future__ import annotations

import argparse
import json
import re
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from engine.errors import InfraError, UserError
from infra import cognito, dashboard, dashboard_ecs, dashboard_lb, remote_build, stack
from infra.actions import Action, apply, noop
from infra.clients import Clients
from infra.config import StackConfig
from infra.network import discover
from jobs.settings import env_var

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
CIDR_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")
OIDC_FLAGS = ("oidc_issuer", "oidc_client_id", "oidc_client_secret_arn")


def add_up_flags(p: argparse.ArgumentParser) -> None:
    """The `up` flags of the hosted dashboard."""
    g = p.add_argument_group(
        "hosted dashboard (ALB + ECS Fargate + login)",
        "--dashboard needs --domain, --certificate-arn and one login:\n"
        "--cognito, or all three --oidc-* flags",
    )
    g.add_argument("--dashboard", action="store_true", help="also the hosted dashboard")
    g.add_argument(
        "--domain", metavar="NAME", help="the dashboard's DNS name, e.g. backtest.example.com"
    )
    g.add_argument(
        "--certificate-arn",
        metavar="ARN",
        help="an ISSUED ACM certificate (same region) covering --domain",
    )
    g.add_argument(
        "--cognito",
        action="store_true",
        help="login with a Cognito user pool <prefix>-dash (invite: users add EMAIL)",
    )
    g.add_argument(
        "--oidc-issuer", metavar="URL", help="login with this OIDC provider (https issuer URL)"
    )
    g.add_argument("--oidc-client-id", metavar="ID", help="the OIDC client id")
    g.add_argument(
        "--oidc-client-secret-arn",
        metavar="ARN",
        help="Secrets Manager secret holding the OIDC client secret (rotated value: run up again)",
    )
    g.add_argument(
        "--allow-cidr",
        default="0.0.0.0/0",
        metavar="CIDR",
        help="who may reach the load balancer on 443/80 (default 0.0.0.0/0)",
    )
    g.add_argument(
        "--dashboard-image",
        metavar="URI",
        help="run this image (default: <prefix>-dashboard:latest, by digest once pushed)",
    )
    g.add_argument(
        "--remote",
        action="store_true",
        help="build infra/dashboard.Dockerfile in AWS CodeBuild first (only when ECR has no "
        "image of this exact source) and deploy it",
    )


def check_flags(args: argparse.Namespace) -> None:
    """One line (exit 2) for a combination that cannot work; nothing is called before this."""
    oidc = [f for f in OIDC_FLAGS if getattr(args, f, None)]
    flags = ("domain", "certificate_arn", "cognito", "dashboard_image", "remote")
    dash_only = oidc + [f for f in flags if getattr(args, f, None)]
    if not args.dashboard:
        if dash_only:
            flag = "--" + dash_only[0].replace("_", "-")
            raise UserError(f"{flag} needs --dashboard")
        return
    if not args.domain or not args.certificate_arn:
        raise UserError("--dashboard needs --domain NAME and --certificate-arn ARN")
    if not DOMAIN_RE.match(args.domain):
        raise UserError(f"--domain {args.domain!r}: give a DNS name such as backtest.example.com")
    if args.cognito and oidc:
        raise UserError("--cognito and --oidc-* exclude each other: choose one login")
    if not args.cognito and len(oidc) != len(OIDC_FLAGS):
        raise UserError(
            "--dashboard needs a login: --cognito, or all of --oidc-issuer, --oidc-client-id, "
            "--oidc-client-secret-arn"
        )
    if oidc and not args.oidc_issuer.startswith("https://"):
        raise UserError(f"--oidc-issuer {args.oidc_issuer!r}: the issuer URL must be https://")
    if getattr(args, "remote", False) and args.dashboard_image:
        raise UserError("--remote builds the dashboard image; --dashboard-image names another")
    if not CIDR_RE.match(args.allow_cidr):
        raise UserError(f"--allow-cidr {args.allow_cidr!r}: give an IPv4 CIDR such as 0.0.0.0/0")


def clients_of(c: Clients) -> dashboard.Clients:
    return dashboard.Clients(iam=c.iam, ec2=c.ec2, idp=c.idp, elbv2=c.elbv2, ecs=c.ecs, logs=c.logs)


def covers(name: str, domain: str) -> bool:
    """True if certificate name ``name`` (maybe ``*.zone``) covers ``domain``."""
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    if name.startswith("*."):
        head, _, rest = domain.partition(".")
        return bool(head) and rest == name[2:]
    return name == domain


def check_certificate(acm: Any, arn: str, domain: str) -> None:
    """Refuse a certificate that is missing, not ISSUED, or does not cover ``domain``."""
    try:
        cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("ResourceNotFoundException", "InvalidArnException", "ValidationException"):
            raise UserError(f"--certificate-arn {arn}: no such certificate ({code})") from None
        raise
    status = cert.get("Status")
    if status != "ISSUED":
        raise UserError(
            f"--certificate-arn: the certificate is {status}, not ISSUED; finish its DNS "
            "validation in ACM first"
        )
    names = {cert.get("DomainName", ""), *cert.get("SubjectAlternativeNames", [])}
    if not any(covers(n, domain) for n in names):
        raise UserError(
            f"--certificate-arn: the certificate covers {', '.join(sorted(names))}, not {domain}"
        )


def _discovery(issuer: str) -> dict[str, Any]:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            doc = json.loads(answer.read())
    except (OSError, ValueError) as exc:
        raise UserError(f"--oidc-issuer: cannot read {url}: {exc}") from None
    missing = [k for k in ("authorization_endpoint", "token_endpoint") if k not in doc]
    if missing:
        raise UserError(f"--oidc-issuer: {url} has no {', '.join(missing)}")
    return dict(doc)


@dataclass(frozen=True)
class OidcLogin:
    """The listener's AuthenticateOidcConfig (empty for Cognito) and the Secrets Manager version
    of its client secret (the listener is tagged with it, so a rotation is seen)."""

    config: Mapping[str, Any] = field(default_factory=dict)
    secret_version: str = ""


def oidc_config(c: Clients, args: argparse.Namespace) -> OidcLogin:
    """The listener's AuthenticateOidcConfig; the secret read by ARN, never printed."""
    try:
        secret = c.secretsmanager.get_secret_value(SecretId=args.oidc_client_secret_arn)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise UserError(f"--oidc-client-secret-arn: cannot read the secret ({code})") from None
    value = secret.get("SecretString")
    if not value:
        raise UserError("--oidc-client-secret-arn: the secret has no SecretString")
    doc = _discovery(args.oidc_issuer)
    config = {
        "Issuer": str(doc.get("issuer", args.oidc_issuer)),
        "AuthorizationEndpoint": str(doc["authorization_endpoint"]),
        "TokenEndpoint": str(doc["token_endpoint"]),
        "UserInfoEndpoint": str(doc.get("userinfo_endpoint", doc["token_endpoint"])),
        "ClientId": args.oidc_client_id,
        "ClientSecret": value,
        "OnUnauthenticatedRequest": "authenticate",
        "Scope": "openid email",
    }
    return OidcLogin(config, str(secret.get("VersionId", "")))


def repository(cfg: StackConfig) -> str:
    return f"{cfg.prefix}-dashboard"


def repository_actions(ecr: Any, cfg: StackConfig) -> list[Action]:
    """The dashboard image's ECR repository (scan on push), created when absent."""
    from infra.ecr import describe

    name = repository(cfg)
    if describe(ecr, name) is not None:
        return [noop("ECR repository", name)]

    def make() -> None:
        ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": True})

    return [Action("create", "ECR repository", name, "the dashboard image", make)]


def image_reference(ecr: Any, cfg: StackConfig) -> str:
    """``URI@digest`` of the pushed ``latest`` image, else ``URI:latest``."""
    uri = f"{cfg.registry}/{repository(cfg)}"
    try:
        found = ecr.describe_images(
            repositoryName=repository(cfg), imageIds=[{"imageTag": cfg.image_tag}]
        )["imageDetails"]
    except ClientError:
        found = []
    return f"{uri}@{found[0]['imageDigest']}" if found else f"{uri}:{cfg.image_tag}"


def app_env(cfg: StackConfig) -> dict[str, str]:
    """The app's BACKTEST_* settings: the stack's outputs, as environment variables."""
    return {env_var(k): v for k, v in stack.outputs(cfg).items()}


def prepare(c: Clients, args: argparse.Namespace) -> OidcLogin:
    """Check the certificate and the login (read-only, before anything is created).

    Returns the OIDC login (empty for Cognito) for :func:`up`."""
    check_certificate(c.acm, args.certificate_arn, args.domain)
    return OidcLogin() if args.cognito else oidc_config(c, args)


def _image_actions(c: Clients, cfg: StackConfig, args: argparse.Namespace) -> list[Action]:
    """The repository, then (``--remote``) the CodeBuild build of this source if it is new."""
    actions = repository_actions(c.ecr, cfg)
    if getattr(args, "remote", False):
        build = remote_build.ImageBuild.of(cfg, "dashboard")
        actions += remote_build.image_actions(c, cfg, build, print)
    return actions


def _options(
    c: Clients, cfg: StackConfig, args: argparse.Namespace, oidc: OidcLogin, image: str
) -> dashboard.DashboardOptions:
    net = discover(c.ec2, cfg)
    return dashboard.DashboardOptions(
        domain=args.domain,
        certificate_arn=args.certificate_arn,
        image=args.dashboard_image or image or image_reference(c.ecr, cfg),
        repository_arn=cfg.arn("ecr", f"repository/{repository(cfg)}"),
        vpc=net.vpc,
        subnets=net.subnets,
        allow_cidr=args.allow_cidr,
        cognito=bool(args.cognito),
        oidc=oidc.config,
        secret_version=oidc.secret_version,
        env=app_env(cfg),
    )


def plan(c: Clients, cfg: StackConfig, args: argparse.Namespace, oidc: OidcLogin) -> list[Action]:
    """What :func:`up` would create or change (read-only; after :func:`prepare`)."""
    actions = _image_actions(c, cfg, args)
    built = [a.name for a in actions if a.kind == "image" and a.changes]
    image = f"{cfg.registry}/{built[0]}" if built else ""  # the tag the build would push
    return actions + dashboard.plan(clients_of(c), cfg, _options(c, cfg, args, oidc, image))


def up(
    c: Clients,
    cfg: StackConfig,
    args: argparse.Namespace,
    oidc: OidcLogin,
    echo: Callable[[str], None],
) -> int:
    """Apply (after :func:`prepare`); print the URL and the CNAME to create."""
    ran = apply(_image_actions(c, cfg, args), echo)
    opts = _options(c, cfg, args, oidc, "")
    count, url, cname = dashboard.up(clients_of(c), cfg, opts, echo)
    echo(f"dashboard: {url}")
    echo(f"create this DNS record: {cname}")
    return ran + count


def add_user(c: Clients, cfg: StackConfig, email: str) -> str:
    if not EMAIL_RE.match(email):
        raise UserError(f"users add {email!r}: give an e-mail address such as ana@example.com")
    try:
        cognito.add_user(c.idp, dashboard.name_of(cfg), email)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "UsernameExistsException":
            raise UserError(f"{email} is already a user of the dashboard") from None
        raise
    return f"invited {email}: Cognito mails them a temporary password"


def _target_health(elbv2: Any, name: str) -> list[tuple[str, str, str]]:
    tg = dashboard_lb.find_target_group(elbv2, name)
    if tg is None:
        return []
    found = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
    states = [d["TargetHealth"]["State"] for d in found["TargetHealthDescriptions"]]
    text = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))) or "no targets"
    return [("target group", name, text)]


def status(c: Clients, cfg: StackConfig) -> list[tuple[str, str, str]]:
    """The dashboard's rows (nothing when it was never created)."""
    name = dashboard.name_of(cfg)
    lb = dashboard_lb.find_load_balancer(c.elbv2, name)
    rows = dashboard_ecs.status(c.ecs, name)
    if lb is None and rows[0][2] == "absent":
        return []
    state = str(lb.get("State", {}).get("Code", "?")) if lb else "absent"
    return [("load balancer", name, state), *rows, *_target_health(c.elbv2, name)]


def _dashboard_vpc(c: Clients, cfg: StackConfig) -> str:
    """The VPC the dashboard's security groups are in ("" when none exist): down needs no
    --subnets and works in a region without a default VPC."""
    name = dashboard.name_of(cfg)
    flt = [{"Name": "group-name", "Values": [f"{name}-lb", f"{name}-tasks"]}]
    found = c.ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
    return str(found[0]["VpcId"]) if found else ""


def down(c: Clients, cfg: StackConfig, delete_data: bool, echo: Callable[[str], None]) -> int:
    """Remove the dashboard (the Cognito pool only with ``delete_data``) and its repository."""
    from infra.ecr import describe

    vpc = _dashboard_vpc(c, cfg)
    count = dashboard.down(clients_of(c), cfg, vpc, delete_data, echo)
    name = repository(cfg)
    if describe(c.ecr, name) is None:
        return count

    def drop() -> None:
        c.ecr.delete_repository(repositoryName=name, force=True)

    why = "its images too; push-image --dashboard rebuilds"
    return count + apply([Action("delete", "ECR repository", name, why, drop)], echo)


DOCKERFILE = "infra/dashboard.Dockerfile"


def push_image(
    c: Clients, cfg: StackConfig, echo: Callable[[str], None], *, remote: bool = False
) -> str:
    """Build infra/dashboard.Dockerfile for linux/amd64 and push it to <prefix>-dashboard,
    with the local docker daemon or (``remote``) in AWS CodeBuild."""
    from infra import ecr, image

    name = repository(cfg)
    if ecr.describe(c.ecr, name) is None:
        raise UserError(
            f"ECR repository {name} does not exist in {cfg.region}; run python -m infra up "
            "--dashboard ... first"
        )
    uri = f"{cfg.registry}/{name}:{cfg.image_tag}"
    if remote:
        remote_build.build_and_push(c, cfg, remote_build.ImageBuild.of(cfg, "dashboard"), echo)
    elif not image.docker_answers():
        raise InfraError(
            "no docker daemon answers here; build in AWS CodeBuild with python -m infra "
            f"push-image --dashboard --remote --region {cfg.region} --prefix {cfg.prefix}, or "
            f"where docker runs: aws ecr get-login-password --region {cfg.region} | docker login "
            f"--username AWS --password-stdin {cfg.registry} && docker buildx build --platform "
            f"{image.PLATFORM} --provenance=false -f {DOCKERFILE} -t {uri} --push ."
        )
    else:
        image.docker_push(c, uri, DOCKERFILE, echo)
    pushed = image_reference(c.ecr, cfg)
    if "@" not in pushed:
        raise UserError(f"pushed {uri} but ECR lists no image tagged {cfg.image_tag}; retry")
    echo(f"pushed {pushed}")
    echo("deploy it: run the same python -m infra up --dashboard ... again (pins this digest)")
    return pushed
