"""One quantity, one value on every page: the executed smoke book is read back, and a page that
states a shared quantity (a model's test score, a chance score, a freezing loss, a seed-floor
layer, a probe's change) differently from another fails the build and this test."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lib.book.build import ChapterError, check_consistency
from lib.book.prose import PREFIX, contradictions, glued

pytestmark = pytest.mark.book

# Each shared quantity and the pages that must all state it (so that the check compares something)
SHARED = {
    r"score\.nli\.accuracy\.seed0\.n\d+": {"02_finetuning", "05_ablations", "06_domain_shift"},
    r"score\.sentiment\.accuracy\.mean\.n\d+": {"02_finetuning", "06_domain_shift"},
    r"score\.parsing\.las\.seed0\.n\d+": {"02_finetuning", "05_ablations"},
    r"chance\.parsing\.las\.n\d+": {"02_finetuning", "05_ablations", "07_conclusions"},
    r"freeze_share\.parsing": {"05_ablations", "07_conclusions"},
    r"floor_layer\.parsing\.wikipedia": {"04_similarity", "07_conclusions"},
    r"most_changed\.nli\.own": {"04_similarity", "07_conclusions"},
    r"best_change\.nli\.upos": {"03_probing", "07_conclusions"},
}


def _executed(root: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((root / "_build" / "executed" / "smoke").glob("*.ipynb"))}


def test_every_page_states_a_shared_quantity_alike(smoke_book):
    pages = _executed(smoke_book)
    assert contradictions(pages) == []
    stated = {page: glued(notebook) for page, notebook in pages.items()}
    for pattern, expected in SHARED.items():
        holders = {page for page, names in stated.items() if any(re.fullmatch(pattern, n) for n in names)}
        assert holders >= expected, f"{pattern}: stated by {sorted(holders)}, expected at least {sorted(expected)}"


def test_a_page_that_disagrees_stops_the_build(smoke_book, tmp_path):
    pages = sorted((smoke_book / "_build" / "executed" / "smoke").glob("*.ipynb"))
    copies = []
    for page in pages:
        notebook = json.loads(page.read_text(encoding="utf-8"))
        if page.stem == "07_conclusions":  # one shared number changed on one page
            for cell in notebook["cells"]:
                for output in cell.get("outputs", []):
                    if output.get("metadata", {}).get("scrapbook", {}).get("name") == "freeze_share.parsing":
                        output["data"][PREFIX + "text/plain"] = "0.999"
        copy = tmp_path / page.name
        copy.write_text(json.dumps(notebook), encoding="utf-8")
        copies.append(copy)
    check_consistency([c for c in copies if c.stem != "07_conclusions"])  # the others agree
    with pytest.raises(ChapterError, match=r"freeze_share\.parsing: 05_ablations says .*, 07_conclusions says 0\.999"):
        check_consistency(copies)
