# The hosted dashboard image (Streamlit behind the Application Load Balancer). Build from the
# repository root, for linux/amd64 (Fargate):
#   docker buildx build --platform linux/amd64 -f infra/dashboard.Dockerfile -t backtest-dashboard .
# It serves on port 8501 in hosted mode (infra/dashboard_serve.py): headless, no usage
# statistics, toolbar in viewer mode, Streamlit's upload limit = BACKTEST_UPLOAD_MAX_MB, and
# login required: BACKTEST_AUTH=alb trusts only tokens signed by the load balancer named in
# BACKTEST_ALB_ARN (set by the ECS task definition); without it every page is "Access refused".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    BACKTEST_AUTH=alb \
    BACKTEST_BACKEND=aws \
    BACKTEST_SERVE_PORT=8501

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin backtest
WORKDIR /app

# Dependencies first (the whole lock, exported with hashes by `make lock`: the dashboard, jobs
# and infra extras), so code changes do not reinstall them.
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r /app/requirements.txt

COPY engine/ /app/engine/
COPY jobs/ /app/jobs/
COPY app/ /app/app/
COPY views/ /app/views/
COPY infra/ /app/infra/
COPY .streamlit/config.toml /app/.streamlit/config.toml
COPY streamlit_app.py /app/streamlit_app.py

USER backtest
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
CMD ["python", "-m", "infra.dashboard_serve"]
