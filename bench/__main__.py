"""Run every ``bench/bench_*.py`` and write ``bench/results.json``; one printed row each."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(selected: list[str]) -> int:
    """Run all benchmarks, or the named ones (their rows replace those already in the file)."""
    path = HERE / "results.json"
    results = json.loads(path.read_text()) if selected and path.exists() else {}
    print(f"{'benchmark':<48} {'ratio':>7} {'ours':>12} {'reference':>12}  unit")
    for module_path in sorted(HERE.glob("bench_*.py")):
        if selected and module_path.stem not in selected:
            continue
        module = importlib.import_module(f"bench.{module_path.stem}")
        for result in module.run():
            results[result.name] = result.as_json()
            print(
                f"{result.name:<48} {result.ratio:>7.3f} {result.ours:>12.1f} "
                f"{result.reference:>12.1f}  {result.unit} (reference: {result.reference_is})"
                f"  {result.verdict}"
            )
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
