"""The first half of tests/integration/test_upgrade.py, run with the PREVIOUS code's client.

    PYTHONPATH=<extracted snapshot> python tests/upgrade_previous.py '<json spec>'

Before the upgrade, everything (worker and client) is the previous release: a client of the
current code may speak to workflows the previous worker does not know. So this script,
started with the snapshot of tests/fixtures/previous on PYTHONPATH, imports only
``client``, ``pipeline`` and ``workflows`` modules of that snapshot. It is written against the
API of the pinned commit (scripts/snapshot_previous.py): when the pin moves, check it still runs.

It applies the manifests, lets the Warehouse ``src`` make its first Freight, promotes
Freight A to dev (verified there at once) and waits until staging holds A's auto-promotion
for the soak, then starts B's promotion to qa (whose verification then runs) without waiting
for it. It prints what the test needs as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from client.api import Gantry
from client.applying import plan_apply
from client.manifests import LoadedManifests
from client.settings import TemporalSettings
from pipeline.manifests import parse_documents


async def until(predicate, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.1)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    client = await TemporalSettings(address=spec["address"], namespace="default").connect_when_ready()
    gantry = Gantry(client, spec["task_queue"])
    project = spec["project"]
    plan = plan_apply(LoadedManifests(documents=parse_documents(spec["manifests"], "pipeline.yaml")))
    await gantry.apply(plan.documents)

    first = await asyncio.wait_for(gantry.refresh_warehouse(project, "src", wait=True), 20)
    assert first is not None and first.error == "" and first.last_freight, first

    def image(tag: str) -> dict[str, Any]:
        return {"origin": {"kind": "Warehouse", "name": "app"}, "images": [{"repoURL": "registry.test/app", "tag": tag}]}

    a = await gantry.create_freight(project, image(spec["tag_a"]))
    dev = await asyncio.wait_for((await gantry.promote(project, "dev", a["name"])).result(), 20)
    assert dev.phase == "Succeeded", dev
    verified_at = (await gantry.get_freight(project, a["name"]))["status"]["verifiedIn"]["dev"]["verifiedAt"]

    async def soaking() -> bool:
        view = await gantry.stage_lock(project, "staging")
        return bool(view and a["name"] in view.pending)

    await until(soaking, 10, "staging to hold A's auto-promotion until the soak ends")

    b = await gantry.create_freight(project, image(spec["tag_b"]))
    qa = await gantry.promote(project, "qa", b["name"])
    return {
        "warehouse_freight": first.last_freight,
        "a": a["name"],
        "b": b["name"],
        "a_verified_in_dev_at": verified_at,
        "qa_promotion": qa.id,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
    # the answer is out: leave without interpreter finalization, during which a thread of the
    # SDK's core runtime can still reach for the GIL and abort the process ("PyGILState_Release:
    # thread state must be current", exit -6), failing a run that did all its work
    sys.stderr.flush()
    os._exit(0)
