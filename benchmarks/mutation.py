"""The mutation check: would the tests notice a small bug in the core modules?

mutmut (configured in pyproject.toml, [tool.mutmut]) mutates the Kronecker and Tucker constraints,
weight selection and the templated model one small change at a time and runs the fast unit tests
that reach the changed function (``-m "not slow"``); a mutant the tests miss is a survivor. Every
survivor must be killed by a new test or explained in benchmarks/mutation/explained.json (an
equivalent mutant, a message text, ...; each entry names the function and the change, so it survives
mutmut renumbering an edited function's mutants): this script writes the report and exits 1 while
any is not.

    python benchmarks/mutation.py                 # every mutant (1 process, 1 thread: ~100 min on a shared CPU)
    python benchmarks/mutation.py --rerun-missed  # only the last run's survivors, with the tests added since
    python benchmarks/mutation.py --report        # rewrite the report from the last run only

A rerun of the missed mutants keeps the full run's kills, which is sound while the mutated modules are
the code that run saw (checked by their hashes, kept in results.json) and tests are only added.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
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


def run_mutmut(names: list[str] | None, children: int) -> dict:
    """Every mutant from a clean slate (``names`` None), or only the named ones."""
    if names is None:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    log = ROOT / "mutation.log"  # mutmut's progress line (git-ignored); `tail -c 200 mutation.log` to follow it
    with log.open("w") as out:
        run = [*MUTMUT, "run", "--max-children", str(children), *(names or [])]
        subprocess.run(run, cwd=ROOT, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": round(time.perf_counter() - start), "cpu_s": round(usage.ru_utime + usage.ru_stime),
            "mutants": len(names) if names is not None else None, "children": children}


def sources() -> dict[str, str]:
    """SHA-256 of each mutated module: a rerun of the missed mutants is valid only against the same code."""
    from mutmut.configuration import config  # mutmut's own reading of [tool.mutmut] (from the working directory)

    return {path: hashlib.sha256((ROOT / path).read_bytes()).hexdigest() for path in config().only_mutate}


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


def function_of(name: str) -> str:
    """The mutated function's mutmut name: a mutant's name less its number."""
    return name.rsplit("__mutmut_", 1)[0]


def explanations() -> dict[tuple[str, str], str]:
    """``(function, change) -> why``. Keyed by the change, not by mutmut's mutant number, which shifts whenever
    the function is edited: an explanation follows its mutant and never lands on another one."""
    entries = json.loads(EXPLAINED.read_text()) if EXPLAINED.exists() else []
    return {(e["function"], e["change"]): e["why"] for e in entries}


def write_report(statuses: dict[str, str], timing: dict | None, code: dict[str, str]) -> list[str]:
    explained = explanations()
    missed = {n: s for n, s in statuses.items() if s in MISSED}
    diffs = {n: diff_of(n) for n in missed}
    rows = [{"mutant": n, "status": s, "diff": diffs.get(n, ""),
             "explanation": explained.get((function_of(n), diffs[n]), "") if s in MISSED else ""}
            for n, s in sorted(statuses.items())]
    unexplained = [r["mutant"] for r in rows if r["status"] in MISSED and not r["explanation"]]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps({"timing": timing, "sources": code, "mutants": rows}, indent=1) +
                                      "\n")

    by_module = Counter((module_of(n), s) for n, s in statuses.items())
    modules = sorted({module_of(n) for n in statuses})
    kinds = sorted({s for s in statuses.values()}, key=lambda s: (s != "killed", s))
    lines = [
        "# Mutation check of the core modules",
        "",
        f"`python benchmarks/mutation.py`{', then `--rerun-missed`' if timing and 'rerun' in timing else ''} "
        f"({dt.date.today().isoformat()}; mutmut {version('mutmut')}, "
        f"torch {version('torch')}, timm {version('timm')}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs).",
        "",
        "Every mutant of `constraints/kronecker.py`, `constraints/tucker.py`, `initializers/weight_selection.py` "
        "and `templated.py` is run against the fast unit tests that reach its function (`-m \"not slow\"`, see "
        "`[tool.mutmut]` in pyproject.toml), each in its own process with one thread.",
        "",
    ]
    if timing:
        lines += [f"Run time of the full run: {timing['wall_s'] / 60:.0f} min wall, {timing['cpu_s'] / 60:.0f} min "
                  "CPU (shared CPU).", ""]
    if timing and "rerun" in timing:
        rerun = timing["rerun"]
        lines += [f"Then the {rerun['mutants']} mutants it missed ran again with the tests added since "
                  f"(`--rerun-missed`, {rerun['children']} at a time: {rerun['wall_s'] / 60:.0f} min wall); every "
                  "other mutant keeps the full run's verdict (same module code, checked by hash; tests only added).",
                  ""]
    lines += ["| module | " + " | ".join(kinds) + " | total |", "|---|" + "---:|" * (len(kinds) + 1)]
    for module in modules:
        counts = [by_module[(module, k)] for k in kinds]
        lines.append(f"| `{module}` | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    total = Counter(statuses.values())
    lines += ["| all | " + " | ".join(str(total[k]) for k in kinds) + f" | {len(statuses)} |", ""]
    unchecked = total["not checked"]
    if unchecked:
        lines += [f"**{unchecked} of {len(statuses)} mutants are not checked yet**: the run was stopped before "
                  "them; run `python benchmarks/mutation.py` to the end.", ""]
    lines += [f"**{len(missed)} mutants no test fails on, {len(unexplained)} of them unexplained.** Each is "
              "listed with its change and why no test can or should catch it (explanations live in "
              "`benchmarks/mutation/explained.json`, keyed by function and change; every mutant is in "
              "`results.json`).", ""]
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
    parser.add_argument("--rerun-missed", action="store_true",
                        help="run again only the mutants the last full run missed, with today's tests")
    parser.add_argument("--report", action="store_true", help="only rewrite the report from the last run")
    parser.add_argument("--children", type=int, default=1, help="mutants run at once (one thread each)")
    args = parser.parse_args()
    os.chdir(ROOT)  # mutmut reads its settings and mutants/ from the working directory
    previous = OUT / "results.json"
    last = json.loads(previous.read_text()) if previous.exists() else None
    if args.report:  # the statuses and timing of the run the report describes
        if last is None:
            raise SystemExit(f"{previous} not found: run the check first")
        statuses, timing, code = {m["mutant"]: m["status"] for m in last["mutants"]}, last["timing"], last["sources"]
    elif args.rerun_missed:
        code = sources()
        if last is None or last.get("sources") != code:
            raise SystemExit("the mutated modules changed since the last full run (or there is none): its kills do "
                             "not hold for this code; run `python benchmarks/mutation.py` from scratch")
        statuses = {m["mutant"]: m["status"] for m in last["mutants"]}
        missed = [name for name, status in statuses.items() if status in MISSED]
        rerun = run_mutmut(missed, args.children)
        statuses |= {name: status for name, status in mutant_statuses().items() if name in missed}
        timing = {**{k: v for k, v in last["timing"].items() if k != "rerun"}, "rerun": rerun}
    else:
        statuses, timing, code = None, run_mutmut(None, args.children), sources()
    unexplained = write_report(statuses or mutant_statuses(), timing, code)
    print(f"{OUT / 'report.md'}: {len(unexplained)} unexplained survivors")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
