"""CPU of one signHash service step, in process (no HTTP): check the SAD, sign one hash, spend it.

    .venv/bin/python bench/service_steps.py [--database-url postgresql://postgres@127.0.0.1:5432/EMPTY] [--profile]

Measures what the database layer costs per step, apart from the web layer (bench/csc_bench.py
measures the whole request). ``--profile`` prints cProfile's top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from bench.csc_bench import make_sads, setup  # noqa: E402


def main() -> None:
    """Set up one P-256 credential and a SAD over 2,000 hashes; time 800 steps after 200 warm-up ones."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None, help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="esign-steps-"))
    env = {
        "ESIGN_DEV_MODE": "1",
        "ESIGN_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/steps.db",
        "ESIGN_VAR_DIR": str(tmp),
        "ESIGN_LOG_LEVEL": "WARNING",
        "ESIGN_MAX_ITEMS_PER_SESSION": "10000",
        "ESIGN_MAX_PENDING_PER_CLIENT_USER": "1000",
        "ESIGN_MAX_SESSIONS_PER_CLIENT_USER_PER_HOUR": "0",
    }
    ctx, sandbox = setup(env, ["p256"])
    [(sad, digests)] = make_sads(ctx, sandbox, "p256", 1, 2000, "steps")
    from esign_server.services import csc

    from esign.algorithms import DigestAlgorithm

    credential_id = sandbox["keys"]["p256"]["credential_id"]

    def step(digest: bytes) -> Any:
        unspent = csc.make_hash_signatures(
            ctx,
            client_id=sandbox["client_id"],
            credential_id=credential_id,
            sad=sad,
            hashes=[digest],
            hash_algorithm=DigestAlgorithm.SHA256,
            sign_algo="1.2.840.10045.4.3.2",
        )
        with ctx.db.write() as session:
            return unspent.spend(session)

    for digest in digests[:200]:
        step(digest)
    started = time.process_time()
    for digest in digests[200:1000]:
        step(digest)
    print(f"CPU per signHash step: {(time.process_time() - started) / 800 * 1000:.3f} ms")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for digest in digests[1000:1800]:
            step(digest)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
    ctx.close()


if __name__ == "__main__":
    main()
