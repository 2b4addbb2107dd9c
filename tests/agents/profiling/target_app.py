"""A service with a known hot function and a known leaking list, for the profiling tests.

    python target_app.py SOCKET_DIR VERSION [--no-sdk] [--light]

``--light`` makes the hot function 100 times lighter: under tracemalloc every int it
makes is traced, which would leave the loop (and so the leak) crawling.
"""

from __future__ import annotations

import sys
import time

leaking_list: list[bytearray] = []


def hot_function(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def leak_a_little() -> None:
    leaking_list.append(bytearray(20_000))


def main() -> None:
    if "--no-sdk" not in sys.argv:
        from agents.profiling.sdk import enable_memory_profiling

        enable_memory_profiling(service="shop", version=sys.argv[2], socket_dir=sys.argv[1])
    work = 2_000 if "--light" in sys.argv else 200_000
    print("ready", flush=True)
    while True:
        hot_function(work)
        leak_a_little()
        time.sleep(0.002)


if __name__ == "__main__":
    main()
