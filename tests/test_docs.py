"""Every ```python block of docs/*.md and README.md runs: blocks of one page in order, in one
namespace."""

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.glob("*.md"))
README = DOCS.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_the_guide_has_its_pages_and_links_resolve():
    names = {p.name for p in PAGES}
    for page in ["index.md", "installing.md", "tensors-and-functions.md", "gradients.md", "compiler.md",
                 "layers.md", "porting.md", "gpu.md", "troubleshooting.md", "extending.md"]:  # fmt: skip
        assert page in names
    for page in PAGES:
        for target in re.findall(r"\]\(([\w.-]+\.md)\)", page.read_text()):
            assert target in names, f"{page.name} links to missing {target}"


@pytest.mark.parametrize("page", PAGES + [README], ids=[p.name for p in PAGES] + ["README.md"])
def test_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem}"}
    for k, block in enumerate(BLOCK.findall(page.read_text())):
        code = compile(block, f"{page.name} block {k + 1}", "exec")
        exec(code, namespace)
    assert os.getcwd() == str(tmp_path)


def test_readme_gives_the_commands_that_ci_runs():
    readme, ci = README.read_text(), (README.parent / ".ci" / "run").read_text()
    assert 'pip install -e ".[examples]" && python examples/mlp_digits.py' in readme
    test_command = "python -m pytest -n 2 -q"
    assert test_command in readme and test_command in ci.splitlines()
    fuzz_command = "python -m symdl.fuzz --graphs 300 --seed 0"
    assert fuzz_command in readme and fuzz_command in ci.splitlines()
    # after the unit tests, the guard on Lasagne's own suite, which README names
    assert ci.rstrip().endswith(".ci/lasagne-suite .venv/bin/python") and ".ci/lasagne-suite" in readme
