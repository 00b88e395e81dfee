"""Render benchmarks/results/*.json into PNG plots and the README's results section.

    python benchmarks/render.py            # plots -> benchmarks/results/plots, README section replaced
    python benchmarks/render.py --check    # exit 1 if the README section differs from the records
"""
import argparse
import sys
from pathlib import Path

from attnseg.bench.report import load_records, readme_section, render, results_markdown

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=ROOT / "benchmarks" / "results")
    p.add_argument("--readme", default=ROOT / "README.md")
    p.add_argument("--plots", default=ROOT / "benchmarks" / "results" / "plots")
    p.add_argument("--check", action="store_true", help="only compare the README with the records")
    args = p.parse_args()
    if args.check:
        link = Path(args.plots).resolve().relative_to(Path(args.readme).resolve().parent).as_posix()
        want = results_markdown(load_records(args.results), link)
        if readme_section(Path(args.readme).read_text()) != want:
            print("README results section is stale: run python benchmarks/render.py", file=sys.stderr)
            return 1
        print("README results section matches the records")
        return 0
    render(args.results, args.readme, args.plots)
    print(f"wrote {args.plots}/*.png and the results section of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
