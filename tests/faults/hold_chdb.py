"""Hold a chDB path for a while, as another process would (the fault suite's "warehouse
unavailable" at worker start): open it, say "held", sleep, exit.

usage: python hold_chdb.py PATH SECONDS
"""

from __future__ import annotations

import sys
import time

import clickhouse_connect


def main() -> None:
    path, seconds = sys.argv[1], float(sys.argv[2])
    client = clickhouse_connect.get_client(interface="chdb", path=path)
    client.command("SELECT 1")
    print("held", flush=True)
    time.sleep(seconds)
    client.close()


if __name__ == "__main__":
    main()
