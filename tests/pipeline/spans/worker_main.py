"""A Faust worker with only the spans and alerts stages (config from TOKA_... variables)."""

from __future__ import annotations

from pipeline.app import create_app
from pipeline.cli.worker_cmd import make_worker
from schemas.config import load_config

if __name__ == "__main__":
    app = create_app(load_config(None), stages=["pipeline.spans.stage", "pipeline.alerts.stage"])
    make_worker(app, "info").execute_from_commandline()
