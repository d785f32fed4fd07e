"""Push a tiny image to the quickstart's registry, as a CI pipeline would after a build.

    push_image.py HOST:PORT REPOSITORY TAG

It speaks the OCI Distribution API directly (no docker needed): one layer blob, an empty
config, and the manifest under the tag. Each tag gets its own layer, so its own digest.
"""

from __future__ import annotations

import hashlib
import json
import sys

import httpx

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def upload(client: httpx.Client, repository: str, data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = client.post(f"/v2/{repository}/blobs/uploads/")
    started.raise_for_status()
    location = started.headers["Location"]  # keeps the upload's state in its query: append to it
    location += ("&" if "?" in location else "?") + "digest=" + digest
    client.put(location, content=data).raise_for_status()
    return {"digest": digest, "size": len(data)}


def main(host: str, repository: str, tag: str) -> None:
    with httpx.Client(base_url=f"http://{host}", timeout=30) as client:
        layer = upload(client, repository, f"guestbook {tag}\n".encode())
        config = upload(client, repository, b"{}")
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", **config},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}],
        }
        pushed = client.put(
            f"/v2/{repository}/manifests/{tag}", content=json.dumps(manifest).encode(), headers={"Content-Type": MANIFEST}
        )
        pushed.raise_for_status()
        print(f"pushed {host}/{repository}:{tag} ({pushed.headers.get('Docker-Content-Digest')})")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
