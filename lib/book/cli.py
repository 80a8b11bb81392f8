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

from lib.book.parameters import check_parameters, load_profile, profile_finetuning, profile_names
from lib.errors import BookError
from lib.finetune.config import Finetuning


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


def _unpack(args) -> tuple[dict, Finetuning]:
    """The profile's parameters with the command's overrides, checked; and the fine-tuning stage they set."""
    values = check_parameters(**{**load_profile(args.profile), **dict(args.parameter)})
    return values, profile_finetuning(args.profile, dict(args.parameter))


def _ablate(args) -> dict:
    from lib.experiments.ablation import Ablation, ablation_table, summary

    values, finetuning = _unpack(args)
    ablation = Ablation(grid=values["ablation_grid"], n_train=values["ablation_n_train"],
                        batch_size=values["ablation_batch_size"], n_eval=values["ablation_n_eval"],
                        seeds=values["ablation_seeds"])
    table = ablation_table(finetuning, ablation, args.task, data_dir=values["data_dir"] or None,
                           device=values["device"], progress=not args.no_progress)
    return {"model": values["model"], "seeds": values["seeds"], **summary(table)}


def _shift(args) -> dict:
    from lib.experiments.shift import DomainShift, check_domains, shift_tables, summary

    values, finetuning = _unpack(args)
    shift = DomainShift(domains=values["shift_domains"], n_sentences=values["shift_sentences"],
                        n_tokens=values["shift_tokens"], n_eval=values["shift_eval"], method=values["rdm_method"])
    domains = [d.strip() for d in args.domains.split(",") if d.strip()] or None
    if domains:
        check_domains(domains)
    similarity, scores = shift_tables(finetuning, shift, args.task, domains, seed=values["seed"],
                                      pooling=values["pooling"], data_dir=values["data_dir"] or None,
                                      device=values["device"], progress=not args.no_progress)
    return {"model": values["model"], "seeds": values["seeds"], **summary(similarity, scores)}


def _similarity(args) -> dict:
    from lib.experiments.inputs import INPUTS, input_name, similarity_table

    values, finetuning = _unpack(args)
    tables = [similarity_table(finetuning, args.task, inputs, values["probe_test_sentences"],
                               values["similarity_tokens"], values["seed"], values["rdm_method"],
                               standardize=args.standardize, pooling=values["pooling"],
                               data_dir=values["data_dir"] or None, device=values["device"], progress=False)
              for inputs in INPUTS]
    entries = {}
    for table in tables:
        wide = table.pivot(index="layer", columns="measure", values=["value", "seed_floor"])
        entries[table.inputs.iloc[0]] = [
            {"layer": int(layer), "rsa": float(row[("value", "rsa")]), "cka": float(row[("value", "cka")]),
             "rsa_seed_floor": _number(row[("seed_floor", "rsa")]),
             "cka_seed_floor": _number(row[("seed_floor", "cka")])} for layer, row in wide.iterrows()]
    return {"task": args.task, "model": values["model"], "seeds": values["seeds"], "tokens": values["similarity_tokens"],
            "method": values["rdm_method"], "inputs": {inputs: input_name(args.task, inputs) for inputs in INPUTS},
            "layers": entries}


def _number(value) -> float | None:
    return None if value != value else float(value)


def _probe(args) -> dict:
    from lib.encoders.loading import model_shape
    from lib.finetune.store import get_or_train
    from lib.finetune.tasks import TASKS
    from lib.probing.runner import CORPUS, CORPUS_SPLITS, probe_corpora, probe_model
    from lib.probing.targets import CONTROLLED

    values, finetuning = _unpack(args)
    data_dir = values["data_dir"] or None
    name = args.model or values["model"]
    task, _, seed = name.partition("/")
    fine_tuned = seed.isdigit() and task in TASKS
    if fine_tuned:
        config = finetuning.config(task, int(seed))  # checked before any work
    else:
        model_shape(name)  # an unknown model fails here, before any work
    corpora = probe_corpora([args.task], values["probe_train_sentences"], values["probe_test_sentences"], data_dir)
    if fine_tuned:
        model = get_or_train(config, data_dir=data_dir, device=values["device"], progress=False)
    else:
        model = name
    layers, mix = probe_model(model, corpora, [args.task], values["seed"], values["probe_epochs"],
                              values["structural_epochs"], values["probe_rank"], pooling=values["pooling"],
                              progress=False)
    entries = [{key: _number(value) if key != "layer" else int(value) for key, value in row.items()}
               for row in layers.reindex(columns=["layer", "score", "control", "selectivity"]).to_dict("records")]
    summary = {"model": name, "task": args.task, "corpus": CORPUS_SPLITS[CORPUS[args.task]], "layers": entries,
               "control": "Hewitt & Liang (2019): a random label per word type" if args.task in CONTROLLED else
               "none defined for this task"}
    if not mix.empty:
        row = mix.iloc[0]
        summary.update(expected_layer=_number(row.expected_layer), center_of_gravity=float(row.center_of_gravity),
                       cumulative=[float(row[f"cumulative_{e['layer']}"]) for e in entries])
    return summary


def _finetune(args) -> dict:
    from lib.finetune.store import get_or_train, summary

    values, finetuning = _unpack(args)
    config = finetuning.config(args.task, args.seed, freeze_below=args.freeze_below)
    manifest = get_or_train(config, data_dir=values["data_dir"] or None, device=values["device"],
                            progress=not args.no_progress, checkpoint_every=args.checkpoint_every)
    return summary(manifest)


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
