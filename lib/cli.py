"""Command line: ``python -m lib build`` and ``python -m lib run``.

    python -m lib build --profile cpu            # every chapter, then the HTML in _build/html
    python -m lib run book/01_layers.ipynb --profile smoke -p n_sentences=100
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

from lib.profiles import profile_names


def _override(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return name, yaml.safe_load(value) if value else ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="execute every chapter and build the HTML book")
    build.add_argument("--profile", default="cpu", choices=profile_names())
    build.add_argument("--force", action="store_true", help="re-execute chapters that are up to date")
    run = commands.add_parser("run", help="execute one chapter with papermill")
    run.add_argument("notebook", type=Path)
    run.add_argument("--profile", default="cpu", choices=profile_names())
    run.add_argument("-p", "--parameter", type=_override, action="append", default=[],
                     metavar="NAME=VALUE", help="override one parameter (repeatable)")
    run.add_argument("--out", type=Path, default=Path("_build/executed/custom"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from lib import book

    start = time.perf_counter()
    try:
        if args.command == "build":
            index = book.build_book(args.profile, force=args.force, log=lambda m: print(m, flush=True))
            print(f"The book is at {index} (built in {time.perf_counter() - start:.0f} s).")
        else:
            out = book.run_chapter(args.notebook, args.out, args.profile, dict(args.parameter), force=True)
            print(f"Executed notebook: {out} ({time.perf_counter() - start:.0f} s)")
    except (ValueError, book.ChapterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
