"""A service with a known hot function and a known leaking list, for the profiling tests.

    python target_app.py SOCKET_DIR VERSION [--no-sdk]

The main thread spends its time in ``hot_function``; a second thread appends 20 kB to
``leaking_list`` every 20 ms (at a steady rate whatever tracemalloc costs the main thread).
"""

from __future__ import annotations

import sys
import threading
import time

leaking_list: list[bytearray] = []


def hot_function(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def leak_forever() -> None:
    while True:
        leaking_list.append(bytearray(20_000))
        time.sleep(0.02)


def main() -> None:
    if "--no-sdk" not in sys.argv:
        from agents.profiling.sdk import enable_memory_profiling

        enable_memory_profiling(service="shop", version=sys.argv[2], socket_dir=sys.argv[1])
    threading.Thread(target=leak_forever, daemon=True).start()
    print("ready", flush=True)
    while True:
        hot_function(20_000)


if __name__ == "__main__":
    main()
