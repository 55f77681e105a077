"""The ``mlops-course`` command: check, grade, build-labs, bench and execute."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlops_course.workspace import repo_root


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes I/N, such as 1/4, not {text!r}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"--shard {text}: I must be between 1 and N")
    return index, count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops-course", description="Hands-On MLOps course tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="self-check a lab: run it and report its visible tests")
    check.add_argument("notebook", type=Path, help="such as labs/lab00_lifecycle/lab00_lifecycle.ipynb")
    check.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell (default 60)")

    grade = commands.add_parser("grade", help="batch-grade submissions with nbgrader, each in a sandbox (instructors)")
    grade.add_argument("lab", nargs="?", help="the lab's name, such as lab00_lifecycle")
    grade.add_argument("submissions", type=Path, nargs="?",
                       help="folder with <student>/<lab>.ipynb or <student>.ipynb")
    grade.add_argument("--out", type=Path, default=Path("grading"), help="where grades.csv and feedback go")
    grade.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell (default 60)")
    grade.add_argument("--student-timeout", type=int, default=600, help="seconds per student (default 600)")
    grade.add_argument("--memory-mib", type=int, default=2048, help="memory cap per submission (default 2048)")
    grade.add_argument("--workers", type=int, default=None, help="submissions graded at once (default: the cores)")
    grade.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                       help="grade only the I-th of N slices of the class (1-based), for a cluster")
    grade.add_argument("--merge", type=Path, nargs="+", default=None, metavar="SHARD_OUT",
                       help="join the grades.csv and feedback of shards' --out folders into --out")

    build = commands.add_parser("build-labs", help="regenerate labs/ from solutions/ and refresh navigation")
    build.add_argument("--into", type=Path, default=None, help="write the labs here instead of labs/")
    build.add_argument("--only", default=None, help="only this lab (and its lesson's navigation)")

    bench = commands.add_parser("bench", help="time and memory of every lesson and solution")
    bench.add_argument("--out", type=Path, default=Path("bench/bench.json"))
    bench.add_argument("--only", default=None, help="only notebooks whose name contains this")
    bench.add_argument("--readme", action="store_true", help="write the measured table into README.md")

    bench_grading = commands.add_parser("bench-grading", help="time a lab's batch graded by 1 and by N workers")
    bench_grading.add_argument("--lab", default="lab00_lifecycle")
    bench_grading.add_argument("--students", type=int, default=8)
    bench_grading.add_argument("--workers", type=int, default=2)
    bench_grading.add_argument("--readme", action="store_true", help="write the table into README.md")

    execute = commands.add_parser("execute", help="run a notebook in a fresh kernel and store its outputs")
    execute.add_argument("notebooks", type=Path, nargs="+")
    execute.add_argument("--no-save", action="store_true", help="run without writing outputs back")
    execute.add_argument("--cell-timeout", type=int, default=180)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = repo_root()
    if args.command == "check":
        from mlops_course.check import check
        return check(args.notebook, cell_timeout=args.cell_timeout)
    if args.command == "grade":
        from mlops_course.grade import grade, merge
        try:
            if args.merge:
                merge([folder.resolve() for folder in args.merge], args.out.resolve())
                return 0
            if not args.lab or not args.submissions:
                raise ValueError("give the lab and the submissions folder (or --merge SHARD_OUT ... --out OUT)")
            grade(args.lab, args.submissions.resolve(), args.out.resolve(), root, args.cell_timeout,
                  args.student_timeout, workers=args.workers, memory_mib=args.memory_mib, shard=args.shard)
        except ValueError as error:
            print(f"mlops-course grade: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command == "build-labs":
        from mlops_course.labs import build_labs
        for path in build_labs(root, args.into, args.only):
            print(f"built {path.relative_to(args.into.parent if args.into else root)}")
        return 0
    if args.command == "bench":
        from mlops_course.bench import bench
        return bench(root, args.out, args.only, args.readme)
    if args.command == "bench-grading":
        from mlops_course.grading.benchmark import bench_grading
        return bench_grading(root, args.lab, args.students, args.workers, args.readme)
    if args.command == "execute":
        from mlops_course.notebook_run import execute, execute_in_place
        for notebook in args.notebooks:
            if args.no_save:
                execute(notebook, cell_timeout=args.cell_timeout)
            else:
                execute_in_place(notebook, cell_timeout=args.cell_timeout)
            print(f"executed {notebook}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
