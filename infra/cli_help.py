"""The texts of ``python -m infra --help`` and of each subcommand's ``--help``: what it does,
what it touches, and the lines a user types (argparse prints them as written)."""

from __future__ import annotations

DESCRIPTION = """\
Provision batch-backtest on your AWS account, idempotently: two S3 buckets, an ECR repository,
AWS Batch on Fargate Spot and Fargate (queue, three job definitions), least-privilege IAM roles,
CloudWatch logs; and, with --dashboard, the hosted dashboard (Application Load Balancer with a
Cognito or OIDC login in front of one ECS Fargate task). `up` writes the stack's settings to
$BACKTEST_CONFIG (default ./backtest.toml). AWS_ENDPOINT_URL points every call elsewhere (e.g. a
local moto server). Each command has its own --help."""

EPILOG = """\
typical use:
  python -m infra plan                      # what up would change (read calls only)
  python -m infra up                        # the Batch stack, then ./backtest.toml
  python -m infra push-image [--remote]     # the engine image (--remote: built in CodeBuild)
  python -m infra up --dashboard --domain backtest.example.com --certificate-arn ARN --cognito
  python -m infra users add ana@example.com
  python -m infra status | down [--delete-data] | policy"""

EXAMPLES = {
    "plan": """\
examples:
  python -m infra plan --region eu-west-1 --prefix team1
  python -m infra plan --dashboard --domain backtest.example.com --certificate-arn ARN --cognito
plan takes the flags of up (--dashboard ones included) and prints each create/update/noop it
would apply; it checks the certificate and reads the OIDC secret like up, and changes nothing.""",
    "up": """\
examples:
  python -m infra up --max-vcpus 64 --size sweep=2:4096
  python -m infra up --dashboard --domain backtest.example.com --certificate-arn ARN --cognito
  python -m infra up --dashboard --domain D --certificate-arn ARN --oidc-issuer https://ISSUER \\
      --oidc-client-id ID --oidc-client-secret-arn SECRET_ARN [--remote]
A second identical up changes nothing. Rerunning it after the OIDC client secret got a new
value in Secrets Manager pushes that value into the listener's authenticate-oidc action.""",
    "status": """\
Shows buckets, repository and image digest, roles, security group, compute environments and
queue (with Batch's reason when INVALID), job definitions, CodeBuild projects, and for the hosted
dashboard: the load balancer's state, "N/1 tasks running" and target health.""",
    "down": """\
Deletes the queue, compute environments, job definitions, security groups, roles, the jobs'
and the dashboard's log groups, CodeBuild projects and image repositories, and the hosted
dashboard (load balancer, ECS service, cluster). Buckets, and the dashboard's Cognito user pool
with its users, only with --delete-data.""",
    "policy": """\
example:
  python -m infra policy > policy.json    # attach to the dashboard's IAM user or role
The stack must exist (run up first); the hosted dashboard's task role gets exactly this policy.""",
    "push-image": """\
examples:
  python -m infra push-image                   # docker buildx, engine/Dockerfile
  python -m infra push-image --remote          # no docker here: CodeBuild <prefix>-image-build
  python -m infra push-image --dashboard --remote  # infra/dashboard.Dockerfile, <prefix>-dashboard
The engine image's digest is pinned in the job definitions at once; the dashboard's is deployed
by the next `up --dashboard ...` (or use `up --dashboard ... --remote` to build and deploy).""",
    "users": """\
example:
  python -m infra users add ana@example.com    # Cognito mails them a temporary password
Needs `up --dashboard ... --cognito` first; with an OIDC provider, add users there.""",
}
