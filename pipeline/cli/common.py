"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse

from schemas.config import TokaConfig, load_config

__all__ = ["config_from_args"]


def config_from_args(args: argparse.Namespace) -> TokaConfig:
    return load_config(args.config)
