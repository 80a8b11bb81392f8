"""RSA speed against rsatoolbox 0.3.2, side by side in one run, with the same values.

Both compute, for 7 layers of 2,000 tokens x 384 dimensions (random data of MiniLM's shape; the
speed does not depend on the values), each layer's correlation-distance RDM and the Pearson
correlation between the RDMs of the same layer of two models:
rsatoolbox ``calc_rdm(method="correlation")`` + ``compare(method="corr")`` against
``lib.similarity.compare.similarity_matrix(measure="rsa", method="correlation")``.

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/similarity.py [--layers 7 --tokens 2000 --dim 384 --device cpu]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from lib.similarity.compare import same_layer, similarity_matrix


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-reference", action="store_true", help="time only ours (e.g. on a GPU)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.layers, args.tokens, args.dim)).astype(np.float32)
    y = (x + rng.normal(size=x.shape)).astype(np.float32)
    result = {"layers": args.layers, "tokens": args.tokens, "dim": args.dim, "device": args.device,
              "threads": torch.get_num_threads()}

    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    similarity_matrix(x[:1, :100], y[:1, :100], "rsa", "correlation", device=args.device)  # warm-up
    sync()
    start = time.perf_counter()
    ours = [float(similarity_matrix(x[i:i + 1], y[i:i + 1], "rsa", "correlation", device=args.device)[0, 0])
            for i in range(args.layers)]
    sync()
    result["ours_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    both = same_layer(x, y, method="cosine", device=args.device)  # RSA, CKA and debiased CKA, all layers
    sync()
    result["ours_all_measures_s"] = round(time.perf_counter() - start, 3)

    if not args.skip_reference:
        import rsatoolbox

        start = time.perf_counter()
        reference = []
        for i in range(args.layers):
            rdms = [rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(v[i]), method="correlation") for v in (x, y)]
            reference.append(float(rsatoolbox.rdm.compare(rdms[0], rdms[1], method="corr")[0, 0]))
        result["rsatoolbox_s"] = round(time.perf_counter() - start, 3)
        result["speedup"] = round(result["rsatoolbox_s"] / result["ours_s"], 1)
        result["max_abs_diff"] = float(np.max(np.abs(np.array(ours) - np.array(reference))))
    result["rsa_layer0"] = ours[0]
    result["cka_layer0"] = float(both.cka[0])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
