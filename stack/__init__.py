"""Local stack: real OpenSearch and Kafka fetched from Maven Central and run as JVM processes on loopback.

A top-level folder of its own because it is tooling around the service (used by `make run`,
the test fixtures and the benchmarks), not part of the indexer or the API.
"""
