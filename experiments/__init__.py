"""Reproducible experiments, one command each, logged to MLflow (see README.md)."""
