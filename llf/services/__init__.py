"""The services a notebook reaches: the LLM, the vector store and the data lake, each behind one interface.

Every service is configured by environment variables (or Airflow connections), never by the control tables.
"""
