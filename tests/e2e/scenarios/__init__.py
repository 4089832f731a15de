"""Scenario kit for the end-to-end tests: notebooks that misbehave on purpose, SQL registration, runs."""
