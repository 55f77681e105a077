"""``mlops-course bench``: wall time, CPU time and peak memory of every lesson and solution.

Each notebook runs in a fresh kernel in a child process. Where Linux cgroups can be used, that
process runs in its own memory cgroup capped at 1 GiB, as Binder caps a learner's pod: the runner
(standing in for the Jupyter server), the kernel and every process it starts (servers, ``dvc``,
``mlflow`` ...) share the cap, a notebook that needs more is killed and fails, and the memory
figure is the cgroup's own peak (``mlops_course.cgroups``). Elsewhere the figure is the peak,
sampled every 0.1 s, of the summed resident memory of the kernel and its child processes, with no
cap. Each result says which it used. Budgets come from COURSE_GUIDE.md.

Wall time depends on what else the machine is doing, so each result also records the CPU time the
notebook's processes used (from ``getrusage`` of the waited-for child processes: a floor, since a
process killed at the end without being waited for is not counted) and the machine's one-minute
load average when it started; the table says both.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from mlops_course.cgroups import CgroupError, memory_group

LESSON_SECONDS = 60
SOLUTION_SECONDS = 30
MEMORY_MIB = 1024


@dataclass
class BenchResult:
    notebook: str
    kind: str
    seconds: float
    peak_mib: float
    ok: bool
    budget_seconds: int
    error: str = ""
    memory_method: str = "summed RSS"
    cpu_seconds: float = 0.0
    load_before: float = 0.0

    @property
    def within_budget(self) -> bool:
        return self.ok and self.seconds <= self.budget_seconds and self.peak_mib <= MEMORY_MIB


def _tree_rss(runner: psutil.Process) -> int:
    """Resident bytes of every descendant of the runner (the kernel and what it starts)."""
    total = 0
    try:
        children = runner.children(recursive=True)
    except psutil.Error:
        return 0
    for child in children:
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(notebook: Path, kind: str, root: Path, timeout: int = 600) -> BenchResult:
    """Execute one notebook in a child process, under a 1 GiB memory cgroup where possible."""
    command = [sys.executable, "-m", "mlops_course.cli", "execute", "--no-save", str(notebook)]
    try:
        group = memory_group(f"bench-{notebook.stem}", MEMORY_MIB * 2**20)
    except CgroupError:
        group = None
    load_before = os.getloadavg()[0]
    cpu_before = _children_cpu_seconds()
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, preexec_fn=group.join_preexec() if group else None)
    runner = psutil.Process(process.pid)
    peak = 0
    timed_out = False
    output_chunks: list[str] = []
    try:
        while process.poll() is None:
            if group is not None:
                group.sample()
            else:
                peak = max(peak, _tree_rss(runner))
            if time.monotonic() - start > timeout:
                timed_out = True
                process.kill()
                break
            time.sleep(0.1)
        seconds = time.monotonic() - start
        output_chunks.append(process.stdout.read() if process.stdout else "")
        process.wait()
        cpu_seconds = _children_cpu_seconds() - cpu_before
        oom_kills = 0
        if group is not None:
            peak = group.peak_bytes()
            oom_kills = group.oom_kills()
    finally:
        if group is not None:
            group.remove()  # stops anything the notebook left running in the group
    output = "".join(output_chunks)
    ok = process.returncode == 0 and not timed_out and oom_kills == 0
    budget = LESSON_SECONDS if kind == "lesson" else SOLUTION_SECONDS
    if ok:
        error = ""
    elif oom_kills:
        error = f"killed for going over {MEMORY_MIB} MiB ({oom_kills} process(es) killed)"
    elif timed_out:
        error = f"still running after {timeout} s"
    else:
        error = (output.strip().splitlines() or ["failed"])[-1][:200]
    return BenchResult(notebook.relative_to(root).as_posix(), kind, round(seconds, 1),
                       round(peak / 2**20, 0), ok, budget, error,
                       group.method if group is not None else "summed RSS",
                       round(cpu_seconds, 1), round(load_before, 2))


def _children_cpu_seconds() -> float:
    """User plus system CPU time of every child process this one has waited for, so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def notebooks(root: Path) -> list[tuple[Path, str]]:
    lessons = [(p, "lesson") for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    solutions = [(p, "solution") for p in sorted((root / "solutions").glob("lab*/lab*.ipynb"))]
    return lessons + solutions


def table(results: list[BenchResult]) -> str:
    """A Markdown table, ready to paste into the README."""
    methods = sorted({r.memory_method for r in results}) or ["summed RSS"]
    lines = [f"| notebook | kind | wall time (s) | CPU time (s) | budget (s) | "
             f"peak memory (MiB, {' / '.join(methods)}) | within budget |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        verdict = "yes" if r.within_budget else ("FAILED: " + r.error if not r.ok else "**no**")
        lines.append(f"| `{r.notebook}` | {r.kind} | {r.seconds:.1f} | {r.cpu_seconds:.1f} | "
                     f"{r.budget_seconds} | {r.peak_mib:.0f} | {verdict} |")
    if results:
        loads = [r.load_before for r in results]
        lines += ["", f"Measured on {os.cpu_count()} cores, one notebook at a time; the one-minute load "
                      f"average before each notebook was {min(loads):.2f} to {max(loads):.2f}."]
    return "\n".join(lines)


README_START = "<!-- bench-table -->"
README_END = "<!-- /bench-table -->"


def write_readme_table(readme: Path, results: list[BenchResult]) -> None:
    """Replace the table between the bench markers in the README with the measured one."""
    text = readme.read_text()
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{table(results)}\n{README_END}{tail}")


def bench(root: Path, out: Path, only: str | None = None, readme: bool = False) -> int:
    """Measure every notebook (or those whose path contains ``only``); 0 if all are in budget."""
    results = []
    selected = [(p, k) for p, k in notebooks(root) if only is None or only in p.name]
    for number, (path, kind) in enumerate(selected, start=1):
        print(f"[{number}/{len(selected)}] {path.relative_to(root)} ...", flush=True)
        results.append(measure(path, kind, root))
        last = results[-1]
        print(f"    {last.seconds:.1f} s, {last.peak_mib:.0f} MiB ({last.memory_method})"
              + ("" if last.ok else f", FAILED: {last.error}"), flush=True)
    print()
    print(table(results))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    if readme:
        write_readme_table(root / "README.md", results)
        print("Updated the bench table in README.md.")
    over = [r for r in results if not r.within_budget]
    if over:
        print(f"\n{len(over)} notebook(s) over budget or failing: " + ", ".join(r.notebook for r in over))
    return 1 if over else 0
