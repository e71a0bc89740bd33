"""Command line: ``python -m numhess demo`` and ``python -m numhess check module:function``."""
import sys

USAGE = """usage: python -m numhess <command>

commands:
  demo                          solve built-in problems with scipy.optimize + numhess,
                                timed against finite differences (and JAX if installed)
  check module:function --x0 "1, 2, 3" | --n N [--plot FILE.png]
                                check your function's gradient and Hessian against finite
                                differences; symmetry, eigenvalues, sparsity, timings
                                (python -m numhess check --help for all options)"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] == "demo":
        if len(argv) > 1:
            print("python -m numhess demo takes no arguments", file=sys.stderr)
            return 2
        from .demo import run
        return run()
    if argv[0] == "check":
        from .check import main as check_main
        return check_main(argv[1:])
    print(f"unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
