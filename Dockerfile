# alertpipe's runtime image: one image, every role (`alertpipe run --role <role>`).
# Used by docker-compose.yml; the pins in constraints.txt make the install reproducible.
# The base is an exact release tag (Python 3.11.16 on Debian bookworm). A tag can still be
# re-pushed; pin its digest too (`FROM python:3.11.16-slim-bookworm@sha256:…`) once it has
# been resolved on a machine that can reach the registry.
FROM python:3.11.16-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
COPY schemas ./schemas
COPY streams ./streams
COPY handlers ./handlers
RUN pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 alertpipe

USER alertpipe
WORKDIR /home/alertpipe
ENTRYPOINT ["alertpipe"]
CMD ["--help"]
