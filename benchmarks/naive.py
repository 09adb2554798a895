"""The naive baseline: the same plan and apply, one request at a time, default page size
(50), removals in chunks of 50. Run as a subprocess by bench.py, with the usual
BIGCOMMERCE_* environment; prints nothing but errors."""

from __future__ import annotations

import asyncio
import sys

import reconciler.apply as apply_module
from reconciler.apply import Applier
from reconciler.client import BigCommerceClient
from reconciler.config import load_config
from reconciler.runner import make_plan
from reconciler.settings import client_settings, resolve_store_hash


async def main(config_file: str) -> int:
    desired = load_config(config_file).state
    assert desired is not None
    settings = client_settings(
        resolve_store_hash(None, desired.store_hash), max_in_flight=1, page_size=50
    )
    original = apply_module.chunk_removals
    apply_module.chunk_removals = lambda ids, **_: original(ids, max_query_bytes=2000)  # type: ignore[assignment]
    async with BigCommerceClient(settings) as client:
        plan = await make_plan(client, desired)
        result = await Applier(client, plan).run()
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
