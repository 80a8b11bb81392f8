"""Command line: ``python -m lib build`` and ``python -m lib run``.

    python -m lib build --profile cpu            # every chapter, then the HTML in _build/html
    python -m lib run book/01_layers.ipynb --profile smoke -p n_sentences=100
    python -m lib finetune --task nli --profile cpu --seed 0   # last line: a JSON summary
    python -m lib probe --profile cpu --model nli/0 --task upos  # model: an alias or task/seed
    python -m lib similarity --profile cpu --task nli            # RSA and CKA per layer, seed floor
    python -m lib ablate --profile cpu --task nli                # freezing and restoring, per k
    python -m lib shift --profile cpu --task sentiment           # similarity per domain and layer
    python -m lib plan --profile paper                           # projected time per chapter here
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
import traceback
from pathlib import Path

import yaml

from lib.book.parameters import check_parameters, load_profile, profile_names
from lib.errors import BookError


_EXPONENT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")  # 5e-5: a string to YAML 1.1, a number to us


def _override(text: str) -> tuple[str, object]:
    """``name=value``, the value read as YAML (``5e-5`` included, which YAML 1.1 leaves a string)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return name, float(value) if _EXPONENT.fullmatch(value.strip()) else yaml.safe_load(value) if value else ""


def _at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def _parser() -> argparse.ArgumentParser:
    from lib.finetune.tasks import TASKS
    from lib.probing.runner import PROBE_TASKS

    parser = argparse.ArgumentParser(prog="python -m lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of the library's own errors too")
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
    tune.add_argument("--task", required=True, choices=TASKS)
    tune.add_argument("--profile", default="cpu", choices=profile_names())
    tune.add_argument("--seed", type=_at_least(0), default=0)
    tune.add_argument("--freeze-below", type=_at_least(0), default=0, metavar="K",
                      help="freeze the embeddings and transformer layers 1..K")
    tune.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE",
                      help="override one profile parameter (repeatable), e.g. -p learning_rate=5e-5")
    tune.add_argument("--checkpoint-every", type=_at_least(1), default=200, help="steps between two checkpoints")
    tune.add_argument("--no-progress", action="store_true")
    probe = commands.add_parser("probe", help="probe every layer of one model; prints a JSON summary last")
    probe.add_argument("--model", default="", help="an alias, path or hub id, or task/seed of a fine-tuned model "
                                                   "(default: the profile's model)")
    probe.add_argument("--task", required=True, choices=PROBE_TASKS)
    probe.add_argument("--profile", default="cpu", choices=profile_names())
    probe.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE")
    similar = commands.add_parser("similarity", help="pre-trained vs fine-tuned RSA and CKA per layer; JSON last")
    similar.add_argument("--task", required=True, choices=TASKS)
    similar.add_argument("--profile", default="cpu", choices=profile_names())
    similar.add_argument("--standardize", action="store_true", help="z-score each dimension first")
    similar.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE")
    ablate = commands.add_parser("ablate", help="partial freezing and layer restoring per boundary k; JSON last")
    ablate.add_argument("--task", required=True, choices=TASKS)
    ablate.add_argument("--profile", default="cpu", choices=profile_names())
    ablate.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE",
                        help="e.g. -p ablation_grid=[0,3,6]")
    ablate.add_argument("--no-progress", action="store_true")
    shift = commands.add_parser("shift", help="pre-trained vs fine-tuned similarity per domain and layer; JSON last")
    shift.add_argument("--task", required=True, choices=TASKS)
    shift.add_argument("--profile", default="cpu", choices=profile_names())
    shift.add_argument("--domains", default="", help="comma-separated domains (default: the profile's for the task)")
    shift.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE")
    shift.add_argument("--no-progress", action="store_true")
    planned = commands.add_parser("plan", help="time a few steps of each stage here and project each chapter's "
                                               "time for a profile; JSON last")
    planned.add_argument("--profile", default="paper", choices=profile_names())
    planned.add_argument("--device", default="auto", help="auto (the profile's) | cpu | cuda | cuda:N | mps")
    planned.add_argument("--steps", type=_at_least(1), default=3, help="timed calls of each kind of work")
    planned.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE")
    return parser


def _settings(args, distributed: bool = False):
    """The profile's parameters with the command's ``-p`` overrides, checked, and the settings they
    set (:func:`lib.book.settings.stage_settings`: the runtime resolved once, here)."""
    from lib.book.settings import stage_settings

    values = check_parameters(**{**load_profile(args.profile), **dict(args.parameter)})
    return stage_settings(values, distributed=distributed)


def _ablate(args) -> dict:
    from lib.book.reports import ablation_report
    from lib.experiments.ablation import ablation_table

    settings = _settings(args)
    table = ablation_table(settings.finetuning, settings.ablation, args.task, settings.runtime,
                           progress=not args.no_progress)
    return {"model": settings["model"], "seeds": settings["seeds"], **ablation_report(table)}


def _shift(args) -> dict:
    from lib.book.reports import shift_report
    from lib.experiments.shift import check_domains, shift_tables

    settings = _settings(args)
    domains = [d.strip() for d in args.domains.split(",") if d.strip()] or None
    if domains:
        check_domains(domains)
    similarity, scores = shift_tables(settings.finetuning, settings.shift, args.task, settings.runtime, domains,
                                      seed=settings["seed"], pooling=settings["pooling"], progress=not args.no_progress)
    return {"model": settings["model"], "seeds": settings["seeds"], **shift_report(similarity, scores)}


def _similarity(args) -> dict:
    from lib.book.reports import similarity_report
    from lib.experiments.inputs import INPUTS, input_name, similarity_table

    settings = _settings(args)
    layers = {inputs: similarity_report(similarity_table(settings.finetuning, settings.similarity, args.task, inputs,
                                                         settings.runtime, standardize=args.standardize,
                                                         progress=False)) for inputs in INPUTS}
    return {"task": args.task, "model": settings["model"], "seeds": settings["seeds"],
            "tokens": settings["similarity_tokens"], "method": settings["rdm_method"],
            "inputs": {inputs: input_name(args.task, inputs) for inputs in INPUTS}, "layers": layers}


def _probe(args) -> dict:
    from dataclasses import replace

    from lib.book.reports import probe_report
    from lib.encoders.loading import model_shape
    from lib.finetune.store import get_or_train
    from lib.finetune.tasks import TASKS
    from lib.finetune.vectors import Pretrained
    from lib.probing.runner import CORPUS, CORPUS_SPLITS, probe_corpora, probe_model
    from lib.probing.targets import CONTROLLED

    settings = _settings(args)
    probing = replace(settings.probing, tasks=(args.task,))
    name = args.model or settings["model"]
    task, _, seed = name.partition("/")
    fine_tuned = seed.isdigit() and task in TASKS
    if fine_tuned:
        config = settings.finetuning.config(task, int(seed))  # checked before any work
    else:
        model_shape(name)  # an unknown model fails here, before any work
    corpora = probe_corpora(probing, settings.runtime.data_dir)
    model = get_or_train(config, settings.runtime, progress=False) if fine_tuned else Pretrained(name)
    layers, mix = probe_model(model, corpora, probing, settings.runtime, progress=False)
    control, _ = probe_model(Pretrained(settings["control_model"]), corpora, probing, settings.runtime, progress=False)
    return {"model": name, "task": args.task, "corpus": CORPUS_SPLITS[CORPUS[args.task]],
            "control_model": settings["control_model"], **probe_report(layers, mix, control),
            "control": "Hewitt & Liang (2019): a random label per word type" if args.task in CONTROLLED else
                       "none defined for this task"}


def _finetune(args) -> dict:
    from lib.book.reports import finetune_report
    from lib.finetune.store import get_or_train

    settings = _settings(args, distributed=True)  # under torchrun, each process joins the group
    config = settings.finetuning.config(args.task, args.seed, freeze_below=args.freeze_below)
    tuned = get_or_train(config, settings.runtime, progress=not args.no_progress,
                         checkpoint_every=args.checkpoint_every)
    return finetune_report(tuned)


def main(argv: list[str] | None = None) -> int:
    """Run a command; the library's own errors (:class:`lib.errors.BookError`) print as one line
    and exit with status 2 (``--debug``: with the traceback); anything else keeps its traceback."""
    args = _parser().parse_args(argv)
    from lib.book import build as book

    start = time.perf_counter()
    try:
        if args.command == "build":
            index = book.build_book(args.profile, force=args.force, log=lambda m: print(m, flush=True))
            print(f"The book is at {index} (built in {time.perf_counter() - start:.0f} s).")
        elif args.command == "finetune":
            print(json.dumps(_finetune(args)), flush=True)
        elif args.command == "probe":
            print(json.dumps(_probe(args)), flush=True)
        elif args.command == "similarity":
            print(json.dumps(_similarity(args)), flush=True)
        elif args.command == "ablate":
            print(json.dumps(_ablate(args)), flush=True)
        elif args.command == "shift":
            print(json.dumps(_shift(args)), flush=True)
        elif args.command == "plan":
            from lib.book.plan import describe, plan

            result = plan(args.profile, args.device, dict(args.parameter), args.steps)
            print(describe(result))
            print(json.dumps(result), flush=True)
        else:
            out = book.run_chapter(args.notebook, args.out, args.profile, dict(args.parameter), force=True)
            print(f"Executed notebook: {out} ({time.perf_counter() - start:.0f} s)")
    except BookError as err:
        if args.debug:
            traceback.print_exc()
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0
