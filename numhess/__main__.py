"""Command line: ``python -m numhess demo``."""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m numhess demo")
        return 0
    if argv[0] == "demo":
        from .demo import run
        return run()
    print(f"unknown command {argv[0]!r}; try: python -m numhess demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
