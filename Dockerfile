# One image for both runsearch processes; docker-compose.yml picks the command. `make wheel` builds the same
# wheel from the same files without Docker.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY runsearch runsearch
COPY indexer indexer
COPY api api
COPY mappings mappings
COPY operations operations
COPY stack stack
COPY demo demo
COPY bench bench
RUN pip install --no-cache-dir .
ENV RUNSEARCH_BIND_HOST=0.0.0.0
USER nobody
ENTRYPOINT ["runsearch"]
CMD ["api"]
