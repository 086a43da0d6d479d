# loanhub on the official Airflow 3.3 image: Airflow, its providers and Python come from the
# image; Debian's Chromium and CJK fonts for the bots; the project and its locked dependencies.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei openssh-client curl \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# the data directory every service shares (a named volume starts as a copy of it): the
# airflow user's only (0700: the store, evidence and kept files hold personal data), so every
# service runs as that user (AIRFLOW_UID 50000, the image's); the project's files stay
# group-0 readable, as the image expects
RUN mkdir -p /opt/loanhub/var && chown -R airflow:0 /opt/loanhub && chmod -R g+rwX /opt/loanhub \
 && chmod 0700 /opt/loanhub/var
USER airflow

WORKDIR /opt/loanhub
COPY --chown=airflow:0 pyproject.toml uv.lock README.md ./
# the locked versions (uv.lock) of everything but the project itself, then the project
RUN pip install --no-cache-dir uv \
 && uv export --frozen --no-dev --no-emit-project --no-hashes -o /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt
COPY --chown=airflow:0 loanhub ./loanhub
COPY --chown=airflow:0 kernel ./kernel
COPY --chown=airflow:0 contracts ./contracts
COPY --chown=airflow:0 schemas ./schemas
COPY --chown=airflow:0 connectors ./connectors
COPY --chown=airflow:0 bots ./bots
COPY --chown=airflow:0 mappings ./mappings
COPY --chown=airflow:0 simulators ./simulators
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 loanhub_provider ./loanhub_provider
RUN pip install --no-cache-dir --no-deps .

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/loanhub/dags \
    LOANHUB_DATA_DIR=/opt/loanhub/var
# every process of the image owner-only (umask 077: the store's and Airflow's files, logs,
# what a library writes), then the official image's own entrypoint; still the non-root
# airflow user, so the bots' Chromium keeps its sandbox (bots/config.py gives it up for
# root only)
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/bin/bash", "-c", "umask 077 && exec /entrypoint \"$@\"", "--"]
CMD []
