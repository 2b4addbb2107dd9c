"""Sinks: where alerts leave the pipeline (Alertmanager)."""
