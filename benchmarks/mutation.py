"""The mutation check: would the tests notice a small bug in the core modules?

mutmut (configured in pyproject.toml, [tool.mutmut]) mutates the Kronecker and Tucker constraints,
weight selection and the templated model one small change at a time and runs the fast unit tests
that reach the changed function (``-m "not slow"``); a mutant the tests miss is a survivor. Every
survivor must be killed by a new test or explained in benchmarks/mutation/explained.json (an
equivalent mutant, a message text, ...): this script writes the report and exits 1 while any is not.

    python benchmarks/mutation.py            # a fresh run (1 process, 1 thread; ~40 min on 2 shared cores)
    python benchmarks/mutation.py --resume   # reuse cached kills of unchanged functions; survivors run again
    python benchmarks/mutation.py --report   # rewrite the report from the last run only
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "mutation"
EXPLAINED = OUT / "explained.json"
MUTMUT = [sys.executable, "-m", "mutmut"]
LINE = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")
MISSED = ("survived", "no tests", "suspicious", "timeout", "skipped")  # a mutant no test failed on


def run_mutmut(fresh: bool) -> dict:
    if fresh:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    log = ROOT / "mutation.log"  # mutmut's progress line (git-ignored); `tail -c 200 mutation.log` to follow it
    with log.open("w") as out:
        run = [*MUTMUT, "run", "--max-children", "1"]
        subprocess.run(run, cwd=ROOT, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
        if not fresh:  # mutmut keeps a cached verdict, a survivor's too: name them so tests added since count
            missed = [name for name, status in mutant_statuses().items() if status in MISSED]
            if missed:
                subprocess.run([*run, *missed], cwd=ROOT, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": round(time.perf_counter() - start), "cpu_s": round(usage.ru_utime + usage.ru_stime),
            "resumed": not fresh}


def mutmut_cli(*args: str) -> str:
    """mutmut's command line, called in this process (one import for hundreds of ``show`` calls)."""
    from mutmut.__main__ import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(list(args), standalone_mode=False)
    return out.getvalue()


def mutant_statuses() -> dict[str, str]:
    return {m["name"]: m["status"] for m in map(LINE.match, mutmut_cli("results", "--all", "true").splitlines()) if m}


def diff_of(name: str) -> str:
    """The changed lines of a mutant (``-``/``+`` lines of mutmut's diff, without the file headers)."""
    lines = [ln for ln in mutmut_cli("show", name).splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return " / ".join(ln[0] + " " + ln[1:].strip() for ln in lines)


def module_of(name: str) -> str:
    return name.split(".x\u01c1")[0].rsplit(".x_", 1)[0]


def write_report(statuses: dict[str, str], timing: dict | None) -> list[str]:
    explained = json.loads(EXPLAINED.read_text()) if EXPLAINED.exists() else {}
    missed = {n: s for n, s in statuses.items() if s in MISSED}
    rows = [{"mutant": n, "status": s, "diff": diff_of(n) if s in MISSED else "",
             "explanation": explained.get(n, "") if s in MISSED else ""} for n, s in sorted(statuses.items())]
    unexplained = [r["mutant"] for r in rows if r["status"] in MISSED and not r["explanation"]]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps({"timing": timing, "mutants": rows}, indent=1) + "\n")

    by_module = Counter((module_of(n), s) for n, s in statuses.items())
    modules = sorted({module_of(n) for n in statuses})
    kinds = sorted({s for s in statuses.values()}, key=lambda s: (s != "killed", s))
    lines = [
        "# Mutation check of the core modules",
        "",
        f"`python benchmarks/mutation.py{' --resume' if timing and timing.get('resumed') else ''}` "
        f"({dt.date.today().isoformat()}; mutmut {version('mutmut')}, "
        f"torch {version('torch')}, timm {version('timm')}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs).",
        "",
        "Every mutant of `constraints/kronecker.py`, `constraints/tucker.py`, `initializers/weight_selection.py` "
        "and `templated.py` is run against the fast unit tests that reach its function (`-m \"not slow\"`, see "
        "`[tool.mutmut]` in pyproject.toml), one process and one thread at a time.",
        "",
    ]
    if timing:
        what = ("Run time of the last, resumed run (`--resume`: kills cached for unchanged functions, every other "
                "mutant run)" if timing.get("resumed") else "Run time")
        lines += [f"{what}: {timing['wall_s'] / 60:.0f} min wall, {timing['cpu_s'] / 60:.0f} min CPU (shared CPU).", ""]
    lines += ["| module | " + " | ".join(kinds) + " | total |", "|---|" + "---:|" * (len(kinds) + 1)]
    for module in modules:
        counts = [by_module[(module, k)] for k in kinds]
        lines.append(f"| `{module}` | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    total = Counter(statuses.values())
    lines += ["| all | " + " | ".join(str(total[k]) for k in kinds) + f" | {len(statuses)} |", ""]
    unchecked = total["not checked"]
    if unchecked:
        lines += [f"**{unchecked} of {len(statuses)} mutants are not checked yet**: the run was stopped before "
                  "them; `python benchmarks/mutation.py --resume` goes on from here.", ""]
    lines += [f"**{len(missed)} mutants no test fails on, {len(unexplained)} of them unexplained.** Each is "
              "listed with its change and why no test can or should catch it (explanations live in "
              "`benchmarks/mutation/explained.json`, keyed by mutant name; every mutant is in `results.json`).", ""]
    if missed:
        lines += ["| mutant | status | change | why it survives |", "|---|---|---|---|"]
        for r in rows:
            if r["status"] in MISSED:
                name = r["mutant"].replace("\u01c1", ".")
                change = r["diff"].replace("|", "\\|")
                lines.append(f"| `{name}` | {r['status']} | `{change}` | {r['explanation'] or '**UNEXPLAINED**'} |")
    (OUT / "report.md").write_text("\n".join(lines) + "\n")
    return unexplained


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resume", action="store_true", help="reuse cached results of unchanged functions")
    parser.add_argument("--report", action="store_true", help="only rewrite the report from the last run")
    args = parser.parse_args()
    os.chdir(ROOT)  # mutmut reads its settings and mutants/ from the working directory
    previous = OUT / "results.json"
    if args.report:  # the timing of the run the report describes
        timing = json.loads(previous.read_text())["timing"] if previous.exists() else None
    else:
        timing = run_mutmut(fresh=not args.resume)
    unexplained = write_report(mutant_statuses(), timing)
    print(f"{OUT / 'report.md'}: {len(unexplained)} unexplained survivors")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
