"""Local mode: the whole product on embedded parts, no Docker (`make demo`, `make stop`).

An embedded PostgreSQL (control and Airflow databases, pgvector), Airflow's four components on localhost,
a folder lake, and Ollama when it answers, else llama.cpp in process. The test session starts the same
parts through the same classes, so what `make test` proves is what `make demo` runs.
"""
