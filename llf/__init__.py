"""LLM Local Framework: metadata-driven Airflow 3 orchestration of notebooks that use a local LLM."""

__version__ = "0.1.0"
