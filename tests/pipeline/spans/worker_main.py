"""A Faust worker with only the spans stage (config from TOKA_... variables), for tests."""

from __future__ import annotations

from faust.worker import Worker

from pipeline.app import create_app
from schemas.config import load_config

if __name__ == "__main__":
    app = create_app(load_config(None), stages=["pipeline.spans.stage"])
    Worker(app, loglevel="info", quiet=True).execute_from_commandline()
