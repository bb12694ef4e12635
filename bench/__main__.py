"""Run the benchmarks: ``python -m bench [NAME ...]`` (default: the library and server comparisons).

Each benchmark is its own script and prints ratios against peers measured in the same run; the
figures and the commands that made them are in docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# name -> arguments; the long load, fault and fuzz runs are started by hand (see docs/reliability.md).
DEFAULT = {
    "pdf_bench": [],
    "xml_bench": [],
    "signers_pkcs11": [],
    "server_flow": [],
    "csc_bench": [],
    "orgid_import": [],
    "token_timing": [],
    "cli_processes": [],
}


def main(names: list[str]) -> int:
    """Run the named benchmarks (all defaults when none are named); non-zero when one fails."""
    failed = []
    for name in names or list(DEFAULT):
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"no benchmark {name!r}; have: {', '.join(p.stem for p in sorted(HERE.glob('*.py')))}")
            return 2
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(script), *DEFAULT.get(name, [])]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
