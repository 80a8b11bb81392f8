"""Command line: ``python -m lib build`` and ``python -m lib run``.

    python -m lib build --profile cpu            # every chapter, then the HTML in _build/html
    python -m lib run book/01_layers.ipynb --profile smoke -p n_sentences=100
    python -m lib finetune --task nli --profile cpu --seed 0   # last line: a JSON summary
    python -m lib probe --profile cpu --model nli/0 --task upos  # model: an alias or task/seed
    python -m lib similarity --profile cpu --task nli            # RSA and CKA per layer, seed floor
    python -m lib ablate --profile cpu --task nli                # freezing and restoring, per k
    python -m lib shift --profile cpu --task sentiment           # similarity per domain and layer
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
    probe = commands.add_parser("probe", help="probe every layer of one model; prints a JSON summary last")
    probe.add_argument("--model", default="", help="an alias, path or hub id, or task/seed of a fine-tuned model "
                                                   "(default: the profile's model)")
    probe.add_argument("--task", required=True, help="upos | deprel | structural")
    probe.add_argument("--profile", default="cpu", choices=profile_names())
    probe.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE")
    similar = commands.add_parser("similarity", help="pre-trained vs fine-tuned RSA and CKA per layer; JSON last")
    similar.add_argument("--task", required=True)
    similar.add_argument("--profile", default="cpu", choices=profile_names())
    similar.add_argument("--standardize", action="store_true", help="z-score each dimension first")
    similar.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE")
    ablate = commands.add_parser("ablate", help="partial freezing and layer restoring per boundary k; JSON last")
    ablate.add_argument("--task", required=True)
    ablate.add_argument("--profile", default="cpu", choices=profile_names())
    ablate.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE",
                        help="e.g. -p ablation_grid=[0,3,6]")
    ablate.add_argument("--no-progress", action="store_true")
    shift = commands.add_parser("shift", help="pre-trained vs fine-tuned similarity per domain and layer; JSON last")
    shift.add_argument("--task", required=True)
    shift.add_argument("--profile", default="cpu", choices=profile_names())
    shift.add_argument("--domains", default="", help="comma-separated domains (default: the profile's for the task)")
    shift.add_argument("-p", "--parameter", type=_override, action="append", default=[], metavar="NAME=VALUE")
    shift.add_argument("--no-progress", action="store_true")
    return parser


def _ablate(args) -> dict:
    from lib.ablation import ablation_table, summary

    params = _profile_params(args)
    table = ablation_table(args.task, params, device=params["device"], progress=not args.no_progress)
    return {"model": params["model"], "seeds": params["seeds"], **summary(table)}


def _shift(args) -> dict:
    from lib.shift import shift_tables, summary

    params = _profile_params(args)
    domains = [d.strip() for d in args.domains.split(",") if d.strip()] or None
    similarity, scores = shift_tables(args.task, params, domains, device=params["device"],
                                      progress=not args.no_progress)
    return {"model": params["model"], "seeds": params["seeds"], **summary(similarity, scores)}


def _similarity(args) -> dict:
    from lib.layercache import task_layers
    from lib.probing import probe_sentences
    from lib.similarity import sample_tokens, versus_pretrained

    params = _profile_params(args)
    _, records = probe_sentences(params["probe_train_sentences"], params["probe_test_sentences"],
                                 params["data_dir"] or None)
    pre, tuned = task_layers(args.task, params, records, progress=False)
    index = sample_tokens(pre.n_words, params["similarity_tokens"], params["seed"])
    table = versus_pretrained(pre.vectors[:, index], [t.vectors[:, index] for t in tuned], params["rdm_method"],
                              standardize=args.standardize)
    wide = table.pivot(index="layer", columns="measure", values=["value", "seed_floor"])
    entries = [{"layer": int(layer), "rsa": float(row[("value", "rsa")]), "cka": float(row[("value", "cka")]),
                "rsa_seed_floor": _number(row[("seed_floor", "rsa")]),
                "cka_seed_floor": _number(row[("seed_floor", "cka")])} for layer, row in wide.iterrows()]
    return {"task": args.task, "model": params["model"], "seeds": params["seeds"], "tokens": len(index),
            "method": params["rdm_method"], "layers": entries}


def _number(value) -> float | None:
    return None if value != value else float(value)


def _profile_params(args) -> dict:
    from lib.profiles import check_parameters, load_profile

    return check_parameters(**{**load_profile(args.profile), **dict(args.parameter)})


def _probe(args) -> dict:
    from lib.probing import probe_model, probe_sentences
    from lib.finetune import get_or_train, profile_config
    from lib.tasks import TASKS

    params = _profile_params(args)
    name = args.model or params["model"]
    task, _, seed = name.partition("/")
    if seed.isdigit() and task in TASKS:
        model = get_or_train(profile_config(task, int(seed), params), data_dir=params["data_dir"] or None,
                             device=params["device"], progress=False)
    else:
        model = name
    train, test = probe_sentences(params["probe_train_sentences"], params["probe_test_sentences"],
                                  params["data_dir"] or None)
    layers, mix = probe_model(model, train, test, [args.task], params["seed"], params["probe_epochs"],
                              params["structural_epochs"], params["probe_rank"], progress=False)
    entries = [{key: _number(value) if key != "layer" else int(value) for key, value in row.items()}
               for row in layers.reindex(columns=["layer", "score", "control", "selectivity"]).to_dict("records")]
    return {"model": name, "task": args.task, "layers": entries,
            "expected_layer": None if mix.empty else float(mix.expected_layer.iloc[0])}


def _finetune(args) -> dict:
    from lib.finetune import get_or_train, profile_config, summary

    params = _profile_params(args)
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
        elif args.command == "probe":
            print(json.dumps(_probe(args)), flush=True)
        elif args.command == "similarity":
            print(json.dumps(_similarity(args)), flush=True)
        elif args.command == "ablate":
            print(json.dumps(_ablate(args)), flush=True)
        elif args.command == "shift":
            print(json.dumps(_shift(args)), flush=True)
        else:
            out = book.run_chapter(args.notebook, args.out, args.profile, dict(args.parameter), force=True)
            print(f"Executed notebook: {out} ({time.perf_counter() - start:.0f} s)")
    except (ValueError, OSError, book.ChapterError, DataError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
