"""CPU per organization-seal batch in the service layer, in process (no HTTP): authorize + sign + spend.

Runs the same service calls as ``credentials/authorize`` and ``signatures/signHash`` of a seal, without
FastAPI, uvicorn or the thread pool, so the database and Python work of a batch can be measured (and
profiled) apart from the HTTP side. ``TREE`` picks the source tree (e.g. a ``git worktree`` of an older
commit, for before/after runs interleaved under the same load)::

    .venv/bin/python bench/seal_service_cpu.py p256 [--batch 100] [--batches 300] [--profile tottime]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("TREE", Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "server"))

from esign_server.services import csc  # noqa: E402

from bench import csc_bench  # noqa: E402
from esign.algorithms import DigestAlgorithm  # noqa: E402


def main() -> None:
    """Set up a seal, warm up, then time (or profile) ``--batches`` batches."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(csc_bench.SEAL_TAX_CODES))
    parser.add_argument("--batch", type=int, default=100, help="hashes per batch")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--profile", help="cProfile sort key (tottime, cumulative); prints the top 45")
    parser.add_argument("--database-url", help="PostgreSQL server URL: a fresh database is made and dropped")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="esign-seal-cpu-")
    env = {
        "ESIGN_DEV_MODE": "1",
        "ESIGN_VAR_DIR": tmp,
        "ESIGN_PUBLIC_URL": "http://127.0.0.1:1",
        "ESIGN_LOG_LEVEL": "WARNING",
        "ESIGN_MAX_ITEMS_PER_SESSION": "10000",
        "ESIGN_DATABASE_URL": f"sqlite:///{tmp}/esign.db",
    }
    drop = None
    if args.database_url:
        env["ESIGN_DATABASE_URL"], drop = csc_bench.fresh_postgres(args.database_url)
    try:
        ctx, sandbox = csc_bench.seal_setup(env, [args.kind])
        credential_id = sandbox["keys"][args.kind]["credential_id"]
        client_id = sandbox["client_id"]

        def batch(n: int) -> None:
            hashes = [hashlib.sha256(f"{n}-{j}".encode()).digest() for j in range(args.batch)]
            sha256 = DigestAlgorithm.SHA256
            authorized = csc.authorize(
                ctx, client_id=client_id, credential_id=credential_id, hashes=hashes, hash_algorithm=sha256
            )
            assert authorized.sad is not None
            unspent = csc.make_hash_signatures(
                ctx,
                client_id=client_id,
                credential_id=credential_id,
                sad=authorized.sad,
                hashes=hashes,
                hash_algorithm=sha256,
                sign_algo=csc_bench.ALGOS[args.kind],
            )
            with ctx.db.write() as session:
                unspent.spend(session)

        for n in range(20):
            batch(n)
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(args.batches):
            batch(1000 + n)
        cpu, wall = (time.process_time() - cpu) / args.batches, (time.perf_counter() - wall) / args.batches
        print(f"{args.kind}, {args.batch} hashes: {cpu * 1000:.2f} ms CPU per batch (wall {wall * 1000:.2f} ms)")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for n in range(args.batches):
                batch(100_000 + n)
            profile.disable()
            pstats.Stats(profile).sort_stats(args.profile).print_stats(45)
        ctx.close()
    finally:
        if drop is not None:
            drop()


if __name__ == "__main__":
    main()
