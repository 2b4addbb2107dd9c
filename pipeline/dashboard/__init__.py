"""``toka dashboard``: the output topics in a DuckDB history, a JSON API and a web UI."""

__all__: list[str] = []
