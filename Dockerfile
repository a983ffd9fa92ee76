# syntax=docker/dockerfile:1
# The poolbuy API.
#   docker build -t poolbuy .
#   docker run -p 8000:8000 -e POOLBUY_SECRET_KEY=... poolbuy
# The image runs in production mode, which refuses the default secret key.

FROM python:3.12-slim AS build

# uv from PyPI, pinned, so the image installs exactly what uv.lock says.
RUN pip install --no-cache-dir uv==0.13.9

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# The project itself; .dockerignore keeps tests, caches and local files out.
COPY . ./
RUN uv sync --frozen --no-dev


FROM python:3.12-slim

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    POOLBUY_ENVIRONMENT=production

# A fixed, unprivileged user that owns nothing but var/, where the SQLite default lives.
RUN groupadd --system --gid 10001 poolbuy \
    && useradd --system --uid 10001 --gid poolbuy --no-log-init --no-create-home poolbuy

WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /app/var && chown poolbuy:poolbuy /app/var

USER 10001:10001
EXPOSE 8000

# slim has no curl: ask /healthz with the Python that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

CMD ["poolbuy", "serve", "--host", "0.0.0.0", "--port", "8000"]
