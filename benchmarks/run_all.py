"""`make bench`: run every benchmark script with moderate sizes and write benchmarks/RESULTS.md.

Each `benchmarks/*.py` present (except this file and `common.py`) runs as its own process with the
arguments below (scripts not listed run with their defaults), under a time limit. Their printed
figures are captured verbatim into RESULTS.md together with the machine (CPU model and count,
memory, load average, Python, commit) and the date, so figures are never read without their
context. A script that fails or times out is reported as such; the others still run.

    .venv/bin/python benchmarks/run_all.py [--only startup,memory] [--timeout 1800] [--sizes full]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
SKIP = {"run_all.py", "common.py", "__init__.py"}

# Moderate sizes: the whole run fits in well under an hour on 2 cores. `--sizes full` drops them
# (each script's own defaults, the sizes the targets are stated for).
MODERATE: dict[str, list[str] | list[list[str]]] = {
    "search.py": ["--articles", "20000"],
    "commands.py": ["--articles", "20000", "--rounds", "10"],
    "ingest.py": ["--feeds", "300", "--items", "20"],
    "fulltext.py": ["--pages", "200", "--hosts", "20"],
    "memory.py": [  # as on the 1-core target box, then with every CPU (parse worker processes)
        ["--feeds", "1000", "--items", "20", "--steady", "30", "--cpus", "1"],
        ["--feeds", "1000", "--items", "20", "--steady", "30"],
    ],
    "startup.py": ["--runs", "5"],
    "scaleout.py": ["--feeds", "1000", "--items", "20", "--processes", "1,2,3"],
}
ORDER = ["startup.py", "memory.py", "scaleout.py"]  # the production figures first


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GB"
    except (OSError, StopIteration, ValueError):
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu}, {os.cpu_count()} CPUs, {mem} RAM, {platform.system()} {platform.release()}",
        f"- load average when the run started: {os.getloadavg()[0]:.2f} (other work on the machine slows wall-clock figures)",
        f"- Python {platform.python_version()}, commit {commit or 'unknown'}",
    ]


def scripts(only: set[str] | None) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP)
    found.sort(key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name))
    if only:
        found = [p for p in found if p.stem in only or p.name in only]
    return found


def run_one(path: Path, args: list[str], timeout: float) -> tuple[str, float, str]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, str(path), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        )
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        out = proc.stdout.strip()
        if proc.returncode != 0:
            out += "\n--- stderr (tail) ---\n" + "\n".join(proc.stderr.strip().splitlines()[-15:])
    except subprocess.TimeoutExpired as exc:
        status = f"timed out after {timeout:.0f} s"
        out = (exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")).strip()
    return status, time.monotonic() - t0, out


RECORDED = "\n## Recorded runs"


def recorded_runs(path: Path) -> str:
    """The dated figures recorded by hand below this run's output: a new run replaces only its own part."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    at = old.find(RECORDED)
    return old[at:] if at >= 0 else ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated script names (default: all)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per script, seconds")
    ap.add_argument("--sizes", choices=("moderate", "full"), default="moderate")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()} or None
    sections = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`benchmarks/run_all.py`); each section is the script's own output.",
        "",
        *machine(),
        "",
        "Targets: steady-state RSS of `newsbot run` with both adapters and 1,000 feeds under 200 MB",
        "(`memory.py`); start-up to healthy under 3 s (`startup.py`); two ingester processes at least",
        "1.7x the throughput of one (`scaleout.py`).",
    ]
    for path in scripts(only):
        sized: Any = MODERATE.get(path.name, []) if args.sizes == "moderate" else []
        variants: list[list[str]] = sized if sized and isinstance(sized[0], list) else [sized]
        sections += ["", f"## {path.stem}"]
        for extra in variants:
            print(f"running {path.name} {' '.join(extra)}", flush=True)
            status, seconds, out = run_one(path, extra, args.timeout)
            print(f"  {status} in {seconds:.0f} s", flush=True)
            sections += [
                "",
                f"`python benchmarks/{path.name} {' '.join(extra)}`".replace(" `", "`") + f" — {status}, {seconds:.0f} s",
                "",
                "```",
                out or "(no output)",
                "```",
            ]
    args.output.write_text("\n".join(sections) + "\n" + recorded_runs(args.output))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
