"""What a request's registry look-ups cost, in this checkout and (optionally) another one.

    python bench/registry_lookups.py [--baseline-tree DIR] [--rounds 2]

A fresh data dir (``eseal init``, the example license registered), then, in a process of each
checkout's own, its ``SealService`` as the server builds it: the median CPU time of
``signer_for`` (a sealing request's license and seal check, once per seal), of the verifier's
look-ups for a 2-seal document (the enterprise and two seals by certificate serial) and of the
registry's revision (read before every cached answer, and twice per OCSP answer by the
server's revocation cache).  With ``--baseline-tree`` the two checkouts take turns, ``--rounds``
times each.  Prints a markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: run inside each checkout (its own code on ``sys.path``): prints one JSON line
PROBE = """
import json, statistics, sys, time
from api.container import build
from api.settings import Settings
from seals.kinds import SealKind
uscc = sys.argv[1]
c = build(Settings())
s = c.seals
serials = [s.seal(uscc, k).serial for k in (SealKind.CONTRACT, SealKind.LEGAL_REP)]
def verifier_lookups():
    s.find_enterprise(uscc)
    for n in serials:
        s.seal_by_serial(n)
def cpu_ms(fn, n=400):
    fn()
    times = []
    for _ in range(n):
        t = time.process_time(); fn(); times.append(time.process_time() - t)
    return statistics.median(times) * 1000
print(json.dumps({
    "signer_for": cpu_ms(lambda: s.signer_for(uscc, SealKind.CONTRACT)),
    "verifier": cpu_ms(verifier_lookups),
    "revision": cpu_ms(s.revision),
}))
"""

ROWS = {
    "signer_for": "a sealing request's license and seal check (`signer_for`, per seal)",
    "verifier": "a 2-seal verification's look-ups (enterprise, 2 seals by serial)",
    "revision": "the registry's revision (one read)",
}


def _probe(tree: Path, data: Path, uscc: str) -> dict[str, float]:
    env = {**os.environ, "ESEAL_DATA_DIR": str(data), "ESEAL_LOG_LEVEL": "WARNING"}
    env["PYTHONPATH"] = str(tree)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, uscc],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    out: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-tree", metavar="DIR", help="another eseal checkout")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    license_path = ROOT / "examples" / "license.json"
    uscc = json.loads(license_path.read_text(encoding="utf-8"))["uscc"]
    trees = [("this checkout", ROOT)]
    if args.baseline_tree:
        trees.append(("baseline", Path(args.baseline_tree).resolve()))
    with tempfile.TemporaryDirectory(prefix="eseal-lookups-") as tmp:
        data = Path(tmp) / "data"
        env = {**os.environ, "ESEAL_DATA_DIR": str(data), "ESEAL_LOG_LEVEL": "WARNING"}
        for command in (["init"], ["enterprise", "register", str(license_path)]):
            subprocess.run(
                [sys.executable, "-m", "api.cli", *command],
                cwd=ROOT,
                env={**env, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                check=True,
            )
        results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
        for _ in range(args.rounds):
            for name, tree in trees:
                results[name].append(_probe(tree, data, uscc))
    header = "| look-up (median CPU ms) | " + " | ".join(name for name, _ in trees) + " |"
    lines = [header, "|---|" + "---:|" * len(trees)]
    for key, label in ROWS.items():
        cells = [" / ".join(f"{r[key]:.3f}" for r in results[name]) for name, _ in trees]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    print(f"\n(one figure per round; load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
