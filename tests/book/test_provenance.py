"""The "Reproduce this page" note: the papermill command reproduces the run's parameters."""
import shlex

import yaml

from lib.book.parameters import check_parameters, load_profile
from lib.book.provenance import reproduce_page
from lib.book.settings import Settings
from lib.encoders.runtime import resolve_runtime


def test_the_command_names_the_profile_and_every_change(tmp_path):
    parameters = check_parameters(**{**{k: v for k, v in load_profile("smoke").items()
                                        if k in ("profile", "seed", "seeds", "pooling")},
                                     "seed": 3, "seeds": [0, 4]})
    note = reproduce_page("book/03_probing.ipynb", Settings(parameters, resolve_runtime("cpu")))
    words = shlex.split(note.command)
    assert note.device == "cpu"  # the settings' runtime, resolved once
    assert words[:5] == ["papermill", "book/03_probing.ipynb", "03_probing.out.ipynb", "-f", "lib/profiles/smoke.yml"]
    assert words[5:] == ["-p", "seed", "3", "-y", '{"seeds": [0, 4]}']  # unchanged pooling is not repeated
    assert yaml.safe_load(words[9]) == {"seeds": [0, 4]}  # papermill reads -y as YAML
    html = note._repr_html_()
    assert html.startswith('<details class="reproduce"><summary>Reproduce this page</summary>')
    assert "0.1.0" in html and "torch" in html and "commit" in html  # this checkout's commit


def test_an_installed_copy_says_so(tmp_path):
    note = reproduce_page("book/01_layers.ipynb", Settings({"profile": "cpu"}, resolve_runtime("cpu")))
    assert note.command == "papermill book/01_layers.ipynb 01_layers.out.ipynb -f lib/profiles/cpu.yml"
    from lib.book.provenance import ReproduceNote
    assert "not a checkout" in ReproduceNote("book/01_layers.ipynb", {"profile": "cpu"}, "cpu", root=tmp_path).version
