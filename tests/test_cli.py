"""The command line: `python -m numhess demo | check`."""
import os
import subprocess
import sys
import textwrap

import pytest

from numhess import demo
from numhess.__main__ import main
from numhess.check import CheckError, parse_x0


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "userfun.py"
    path.write_text(textwrap.dedent("""
        import numpy as np

        def energy(x):
            return np.sum(np.cos(x) * x ** 2) + x[0] * x[-1]

        def steps(x):               # floor has a zero derivative; differences see jumps
            return np.sum(np.floor(x * 1e6))

        def vector(x):
            return x ** 2

        def unsupported(x):
            return np.sum(np.fft.fft(x).real)

        def second(x):              # needs two coordinates: --n 1 is an IndexError
            return x[0] * x[1]

        not_a_function = 3
    """))
    return path


def test_usage_and_unknown_command(capsys):
    code, out, _ = _run(capsys)
    assert code == 0 and "check module:function" in out
    code, _, err = _run(capsys, "frobnicate")
    assert code == 2 and "unknown command" in err
    code, _, err = _run(capsys, "demo", "--fast")
    assert code == 2 and "no arguments" in err


def test_check_builtin_problem(capsys):
    code, out, _ = _run(capsys, "check", "numhess.problems:rosenbrock", "--n", "12")
    assert code == 0, out
    for word in ("gradient vs central differences", "Hessian vs differences", "symmetry",
                 "eigenvalues", "sparsity", "bandwidth 1", "replay", "all checks passed"):
        assert word in out


def test_check_file_and_x0(capsys, user_file):
    code, out, _ = _run(capsys, "check", f"{user_file}:energy", "--x0", "[0.5, -1, 2]")
    assert code == 0 and "x of shape (3,)" in out


def test_check_reports_a_mismatch(capsys, user_file):
    code, out, _ = _run(capsys, "check", f"{user_file}:steps", "--n", "3")
    assert code == 1 and "MISMATCH" in out and "FAILED" in out


def test_check_large_n_uses_hvp(capsys, monkeypatch):
    monkeypatch.setattr("numhess.check.DENSE_MAX", 50)
    code, out, _ = _run(capsys, "check", "numhess.problems:rosenbrock", "--n", "60",
                        "--fd-max", "10")
    assert code == 0 and "HVP vs differences" in out and "10 random coordinates" in out


@pytest.mark.parametrize("args,message", [
    (["nosuchmodule:f", "--n", "2"], "cannot import"),
    (["numhess.problems", "--n", "2"], "expected module:function"),
    (["numhess.problems:nothing", "--n", "2"], "has no attribute"),
    (["{file}:not_a_function", "--n", "2"], "not callable"),
    (["{file}:vector", "--n", "2"], "scalar function"),
    (["/no/such/file.py:f", "--n", "2"], "no such file"),
    (["{file}:unsupported", "--n", "2"], "numpy.fft.fft on traced values\n  at "),
    (["numhess.problems:rosenbrock", "--x0", "a, b"], "--x0 must be numbers"),
    (["numhess.problems:rosenbrock", "--n", "0"], "--n must be at least 1"),
    (["numhess.problems:rosenbrock", "--x0", ""], "--x0 is empty"),
    (["{file}:second", "--n", "1"], "cannot trace f: IndexError"),
])
def test_check_bad_input(capsys, user_file, args, message):
    args = [a.replace("{file}", str(user_file)) for a in args]
    code, _, err = _run(capsys, "check", *args)
    assert code == 2 and message in err


def test_check_needs_exactly_one_point(capsys):
    with pytest.raises(SystemExit):
        main(["check", "numhess.problems:rosenbrock"])
    with pytest.raises(SystemExit):
        main(["check", "numhess.problems:rosenbrock", "--n", "2", "--x0", "1, 2"])


def test_parse_x0():
    assert parse_x0("1, 2, 3").tolist() == [1, 2, 3]
    assert parse_x0("1 2 3").tolist() == [1, 2, 3]
    assert parse_x0("[[1, 2], [3, 4]]").shape == (2, 2)
    assert parse_x0("5").shape == (1,)
    with pytest.raises(CheckError):
        parse_x0("np.ones(3)")


def test_plot(capsys, tmp_path):
    target = tmp_path / "h.png"
    code, out, err = _run(capsys, "check", "numhess.problems:rosenbrock", "--n", "8",
                          "--plot", str(target))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert code == 2 and "pip install 'numhess[plot]'" in err and not target.exists()
    else:
        assert code == 0 and target.stat().st_size > 0 and "plot written" in out


def test_demo_parts():
    """The quick parts of the demo (CI runs the whole demo separately)."""
    assert demo.rosenbrock_dense()
    assert demo.constrained()


def test_python_dash_m():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-m", "numhess", "--help"], capture_output=True,
                         text=True, check=True, cwd=root).stdout
    assert "python -m numhess" in out
