"""Every example in the READMEs runs: ```python blocks in order, one namespace per file,
and each `python -m numhess check ...` line (the demo itself runs in CI)."""
import os
import re
import shlex

import pytest

from numhess.__main__ import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READMES = [name for name in ("README.md",)
           if os.path.exists(os.path.join(ROOT, name))]


def _blocks(name, lang):
    with open(os.path.join(ROOT, name), encoding="utf-8") as fh:
        text = fh.read()
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.parametrize("name", READMES)
def test_python_blocks_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)               # examples may write files
    namespace = {"__name__": "__readme__"}
    for i, block in enumerate(_blocks(name, "python")):
        try:
            exec(compile(block, f"{name}[python block {i}]", "exec"), namespace)
        except Exception as err:
            pytest.fail(f"{name}, python block {i}: {type(err).__name__}: {err}")


def _check_lines():
    lines = []
    for name in READMES:
        for block in _blocks(name, "bash"):
            for line in block.splitlines():
                line = line.split("#")[0].strip()
                if line.startswith("python -m numhess check"):
                    lines.append(line)
    return lines


@pytest.mark.parametrize("line", _check_lines())
def test_check_lines_run(line, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(line)[3:]
    code = main(argv)
    err = capsys.readouterr().err
    if "--plot" in argv and "needs matplotlib" in err:
        pytest.skip("matplotlib is not installed")
    assert code == 0, err
