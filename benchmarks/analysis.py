"""How long the static analysis takes: each bundled agreement, and generated agreements of
100 and 1,000 rules (aims: under 2 s per bundled agreement, under 60 s for 1,000 rules).

Run from the project root: ``.venv/bin/python benchmarks/analysis.py [--rules N ...]``.
Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import creditrules

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ["cardiozen.yaml", "cloudbridge.yaml", "cloudbridge-amendment-1.yaml"]
_REGIONS = 50


def generated(n: int, *, defects: bool = False) -> str:
    """An agreement of ``n`` rules: per region, size bands of 10 units, each its own split,
    with a default for every other deal. With ``defects``: no default, each band starting
    just above its boundary (a gap at each), and every tenth rule covering its whole region
    (overlapping its bands, with nothing to decide)."""
    lines = [
        "ruleset: generated",
        'version: "1"',
        "effective: {from: 2026-01-01, to: 2026-12-31}",
        "currency: USD",
        "partners:",
        "  acme: {name: Acme}",
        "  beta: {name: Beta}",
        "attributes:",
        "  region: text",
        "  size: number",
        "credit_types:",
        "  revenue: {total: 100%}",
        "credit:",
    ]
    if not defects:
        lines += [
            "  - id: standard",
            '    clause: "1"',
            "    default: true",
            "    split: {acme: 50%, beta: 50%}",
        ]
    for i in range(n - 1):
        region, band = i % _REGIONS, i // _REGIONS
        share = 10 + (i * 7) % 81
        lines += [
            f"  - id: r{i}",
            f'    clause: "2.{i}"',
            f'    when: attributes.region == "r{region}"'
            + (
                ""
                if defects and i % 10 == 9
                else f" and attributes.size {'>' if defects else '>='} {band * 10}"
                f" and attributes.size < {band * 10 + 10}"
            ),
            f"    split: {{acme: {share}%, beta: {100 - share}%}}",
        ]
    return "\n".join(lines) + "\n"


def timed(label: str, ruleset: creditrules.Ruleset) -> float:
    start = time.perf_counter()
    analysis = creditrules.analyse(ruleset)
    seconds = time.perf_counter() - start
    print(f"{label:<40} {len(ruleset.rules):>5} rules  {seconds:7.2f} s  {analysis.summary()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rules",
        type=int,
        nargs="*",
        default=[100, 1000],
        help="sizes of the generated agreements (default: 100 1000)",
    )
    args = parser.parse_args()
    for name in BUNDLED:
        timed(name, creditrules.load(ROOT / "rulesets" / name))
    for n in args.rules:
        for defects in (False, True):
            label = f"generated, {n} rules" + (", with defects" if defects else "")
            text = generated(n, defects=defects)
            timed(label, creditrules.loads(text, source=f"generated-{n}.yaml"))


if __name__ == "__main__":
    main()
