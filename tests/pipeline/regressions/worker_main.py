"""A Faust worker with the stages named in TOKA_TEST_STAGES (config from TOKA_... variables),
for the analytics stages' integration tests."""

from __future__ import annotations

import os

from faust.worker import Worker

from pipeline.app import create_app
from schemas.config import load_config

if __name__ == "__main__":
    stages = os.environ["TOKA_TEST_STAGES"].split(",")
    overrides = {}
    if interval := os.environ.get("TOKA_TEST_COMMIT_INTERVAL"):
        overrides["broker_commit_interval"] = float(interval)
    app = create_app(load_config(None), stages=stages, **overrides)
    Worker(app, loglevel="info", quiet=True).execute_from_commandline()
