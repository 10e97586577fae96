"""Run a script written for Theano on symgraph, unchanged:
``python -m symgraph.run_theano script.py [args...]``.

Installs ``symgraph.compat.theano_alias`` (so the script's and its libraries' ``import
theano`` give symgraph), then runs the script as ``__main__`` with ``sys.argv`` set as if
it had been started directly. ``python -m symgraph.run_theano -m package.module [args]``
runs a module instead.
"""
from __future__ import annotations

import os
import runpy
import sys

USAGE = ("usage: python -m symgraph.run_theano script.py [args...]\n"
         "       python -m symgraph.run_theano -m module [args...]")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    import symgraph.compat.theano_alias  # noqa: F401  (the point of this tool)

    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = [argv[1]] + argv[2:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.isfile(script):
        print(f"symgraph.run_theano: no such script: {script!r}\n{USAGE}", file=sys.stderr)
        return 2
    sys.argv = argv
    # like `python script.py`: the script's folder comes first on the import path
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
