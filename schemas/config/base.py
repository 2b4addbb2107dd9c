"""The base of every configuration block: unknown keys are errors, values are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Block"]


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
