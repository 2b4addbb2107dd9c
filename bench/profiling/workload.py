"""The profiled process of the bench: CPU-bound Python 20 frames deep, counting its work.

Prints its cumulative count of calls every 0.1 s (``count monotonic_time``).
"""

from __future__ import annotations

import sys
import threading
import time

done = [0]  # calls so far (a list: updated in place by main, read by the reporter)


def leaf(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def nested(depth: int) -> int:
    return leaf(200) if depth == 0 else nested(depth - 1)


def report() -> None:
    while True:
        print(done[0], time.monotonic(), flush=True)
        time.sleep(0.1)


def main() -> None:
    threading.Thread(target=report, daemon=True).start()
    while True:
        nested(20)
        done[0] += 1


if __name__ == "__main__":
    sys.exit(main())
