"""Render benchmarks/results/*.json into PNG plots and the results section of docs/results.md.

    python -m benchmarks.render            # plots -> benchmarks/results/plots, the section replaced
    python -m benchmarks.render --check    # exit 1 if the section differs from the records
"""
import argparse
import os
import sys
from pathlib import Path

from .report import load_records, readme_section, render, results_markdown

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=ROOT / "benchmarks" / "results")
    p.add_argument("--page", default=ROOT / "docs" / "results.md", help="the page holding the results markers")
    p.add_argument("--plots", default=ROOT / "benchmarks" / "results" / "plots")
    p.add_argument("--check", action="store_true", help="only compare the page with the records")
    args = p.parse_args()
    if args.check:
        link = Path(os.path.relpath(Path(args.plots).resolve(), Path(args.page).resolve().parent)).as_posix()
        want = results_markdown(load_records(args.results), link)
        if readme_section(Path(args.page).read_text()) != want:
            print(f"{args.page}: the results section is stale: run python -m benchmarks.render", file=sys.stderr)
            return 1
        print(f"{args.page}: the results section matches the records")
        return 0
    render(args.results, args.page, args.plots)
    print(f"wrote {args.plots}/*.png and the results section of {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
