"""Command line: ``python -m lib build`` and ``python -m lib run``.

    python -m lib build --profile cpu            # every chapter, then the HTML in _build/html
    python -m lib run book/01_layers.ipynb --profile smoke -p n_sentences=100
    python -m lib finetune --task nli --profile cpu --seed 0   # last line: a JSON summary
"""
from __future__ import annotations

import argparse
import json
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
    tune = commands.add_parser("finetune", help="get or train one fine-tuned model; prints a JSON summary last")
    tune.add_argument("--task", required=True)
    tune.add_argument("--profile", default="cpu", choices=profile_names())
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--freeze-below", type=int, default=0, metavar="K",
                      help="freeze the embeddings and transformer layers 1..K")
    tune.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE",
                      help="override one profile parameter (repeatable), e.g. -p learning_rate=5e-5")
    tune.add_argument("--checkpoint-every", type=int, default=200, help="steps between two checkpoints")
    tune.add_argument("--no-progress", action="store_true")
    return parser


def _finetune(args) -> dict:
    from lib.finetune import get_or_train, profile_config, summary
    from lib.profiles import check_parameters, load_profile

    params = check_parameters(**{**load_profile(args.profile), **dict(args.parameter)})
    config = profile_config(args.task, args.seed, params, freeze_below=args.freeze_below)
    manifest = get_or_train(config, data_dir=params["data_dir"] or None, device=params["device"],
                            progress=not args.no_progress, checkpoint_every=args.checkpoint_every)
    return summary(manifest)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from lib import book
    from lib.checkpoints import CheckpointError
    from lib.data import DataError

    start = time.perf_counter()
    try:
        if args.command == "build":
            index = book.build_book(args.profile, force=args.force, log=lambda m: print(m, flush=True))
            print(f"The book is at {index} (built in {time.perf_counter() - start:.0f} s).")
        elif args.command == "finetune":
            print(json.dumps(_finetune(args)), flush=True)
        else:
            out = book.run_chapter(args.notebook, args.out, args.profile, dict(args.parameter), force=True)
            print(f"Executed notebook: {out} ({time.perf_counter() - start:.0f} s)")
    except (ValueError, OSError, book.ChapterError, DataError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
