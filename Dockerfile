# alertpipe's runtime image: one image, every role (`alertpipe run --role <role>`).
# Used by docker-compose.yml; the pins in constraints.txt make the install reproducible.
FROM python:3.11-slim

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
