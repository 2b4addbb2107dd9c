"""ProfileReport records with a known hot function, as the agent sends them."""

from __future__ import annotations

from schemas import new_id
from schemas.profiles import FunctionTime, ProfileReport


def function(name: str, share: float, samples: int = 1000) -> FunctionTime:
    n = round(share * samples)
    return FunctionTime(function=name, file="target_app.py", line=10, self_samples=n,
                        total_samples=n, self_share=share, total_share=share)  # fmt: skip


def cpu_report(host: str, version: str = "1.0", hot: float = 0.7) -> ProfileReport:
    """A CPU session of service ``shop`` where ``hot_function`` holds ``hot`` of the samples."""
    return ProfileReport(
        id=new_id(), ts=100.0, host=host, session=new_id(), pid=4242, kind="cpu",
        started=40.0, ended=100.0, process="python3", service="shop", version=version,
        rate_hz=100, samples=1000,
        functions=[function("hot_function", hot), function("idle_loop", 0.05)],
    )  # fmt: skip
