# The checkups image: one image for every process (`db upgrade`, `worker`, `scheduler`, and later `web`);
# docker-compose.yml picks the command. Settings come from the environment at run time, never from here:
# no key, password or token is baked into the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed numeric id, so orchestrators that insist on a non-root user (runAsNonRoot) can check it.
RUN groupadd --system --gid 10001 checkups \
    && useradd --system --uid 10001 --gid checkups --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin checkups

WORKDIR /app

# Install the package alone (no dev extras) from a copy of the source that is removed afterwards, so the
# only `checkups` on the path is the installed one (celery -A puts the working directory on sys.path).
COPY pyproject.toml README.md /tmp/src/
COPY checkups /tmp/src/checkups
RUN pip install /tmp/src && rm -rf /tmp/src

# The shipped protocols (CHECKUPS_PROTOCOLS_DIR=/app/config/protocols). Owned by root: read-only to the app.
COPY config /app/config

# ./var holds the SQLite file of the embedded default (`checkups run`); the only place the app may write.
RUN mkdir -p /app/var && chown checkups:checkups /app/var

USER 10001:10001

ENV CHECKUPS_PROTOCOLS_DIR=/app/config/protocols

ENTRYPOINT ["checkups"]
CMD ["--help"]
