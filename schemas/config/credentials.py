"""Credentials of an HTTP peer (Alertmanager, a scrape target), kept out of its URL.

A URL is printed in logs, errors and ``toka config show``; a credential is a ``SecretStr``
(printed as ``**********``) or a file (a mounted secret) read when the client starts.
"""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr, model_validator

from schemas.config.base import Block
from schemas.errors import ConfigError

__all__ = ["HttpCredentials", "refuse_url_credentials"]


class HttpCredentials(Block):
    """Basic auth (``username`` with ``password`` or ``password_file``) or a bearer token
    (``bearer_token`` or ``bearer_token_file``), as Prometheus's scrape configs have them."""

    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> HttpCredentials:
        if self.password and self.password_file:
            raise ValueError("set password or password_file, not both")
        if self.bearer_token and self.bearer_token_file:
            raise ValueError("set bearer_token or bearer_token_file, not both")
        basic = self.username is not None or self.password or self.password_file
        if basic and (self.bearer_token or self.bearer_token_file):
            raise ValueError("set basic auth (username, password) or a bearer token, not both")
        if (self.password or self.password_file) and self.username is None:
            raise ValueError("a password needs a username")
        return self

    def authorization(self, where: str = "credentials") -> str | None:
        """The ``Authorization`` header value, files read now; None without credentials."""
        if self.bearer_token is not None:
            return f"Bearer {self.bearer_token.get_secret_value()}"
        if self.bearer_token_file is not None:
            return f"Bearer {_read(self.bearer_token_file, f'{where}.bearer_token_file')}"
        if self.username is None:
            return None
        if self.password_file is not None:
            password = _read(self.password_file, f"{where}.password_file")
        else:
            password = self.password.get_secret_value() if self.password else ""
        pair = f"{self.username}:{password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


def _read(path: Path, key: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(key, [(key, str(exc))]) from None


def refuse_url_credentials(url: str) -> str:
    """A pydantic validator's body: credentials belong in their own settings."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "credentials in a URL are printed wherever the URL is; set username and "
            "password (or bearer_token, or their *_file) beside the URL instead"
        )
    return url
