# One image for both runsearch processes; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY runsearch runsearch
COPY stack stack
COPY indexer indexer
COPY api api
COPY mappings mappings
COPY demo demo
RUN pip install --no-cache-dir .
ENV RUNSEARCH_BIND_HOST=0.0.0.0
USER nobody
ENTRYPOINT ["runsearch"]
CMD ["api"]
