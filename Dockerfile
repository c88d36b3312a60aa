# The image of either service, from the repository root (for libs/; the root .dockerignore keeps
# the context small):  docker build --build-arg SERVICE=user-service -t user-service .
#   target runtime (default, last stage): the production image, `app serve`
#   target dev: editable installs + `app serve --reload`, for skaffold's file sync into /app/src
#               and /app/libs/service-kit/src
# `app` is the service's console script (user-service, order-service) under one name, so no
# command here spells a service; the charts call it by its own name. Migrations ship inside the
# package: `app migrate` from the same image.

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# The folder of the service to build: user-service or order-service.
ARG SERVICE
RUN test -n "$SERVICE" \
    || { echo "set the build argument SERVICE (user-service or order-service)" >&2; exit 1; }
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# The pinned lock first, so source edits do not invalidate the dependency layer.
COPY ${SERVICE}/requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
# The service kit (libs/service-kit): the plumbing, installed like any dependency. --no-deps:
# requirements.txt pinned every dependency of both; pip check fails the build if one is missing.
COPY libs/service-kit/pyproject.toml ./libs/service-kit/
COPY libs/service-kit/src ./libs/service-kit/src
COPY ${SERVICE}/pyproject.toml ./
COPY ${SERVICE}/src ./src
RUN pip install --no-cache-dir --no-deps ./libs/service-kit . \
    && pip check \
    && ln -s "$SERVICE" /opt/venv/bin/app \
    && app --help > /dev/null \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM build AS dev
RUN pip install --no-cache-dir --no-deps -e ./libs/service-kit -e . \
    && chown -R 10001:10001 /app/src /app/libs/service-kit/src
# The same non-root user as the runtime image; it owns both src/ so skaffold can sync into them.
USER 10001:10001
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
# --reload watches the working directory (/app): both synced src/ folders.
CMD ["app", "serve", "--reload", "--host", "0.0.0.0", "--port", "8000"]

FROM ${BASE_IMAGE} AS runtime
ARG SERVICE
# The description is the package's (pyproject.toml; `pip show` in the image).
LABEL org.opencontainers.image.title="${SERVICE}"
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
# Numeric, so Kubernetes' runAsNonRoot can verify it. A deployment sets <PREFIX>DATABASE_URL.
USER 10001:10001
EXPOSE 8000
# Where a standalone container listens; a deployment's <PREFIX>HOST/PORT (the charts') win.
CMD ["app", "serve", "--host", "0.0.0.0", "--port", "8000"]
