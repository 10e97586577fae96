"""Large outputs reuse freed heap blocks (``symgraph/_malloc.py``) instead of fresh pages.

Counted as minor page faults of the second call of an elementwise function on 40 MB:
with the tuning the output lands in the block the first call's output freed (almost no
faults; 0 here); with ``SYMGRAPH_MALLOC_REUSE=0`` glibc maps fresh pages (568 faults here:
the output asks for 2 MiB huge pages, so not one fault per 4 KiB page).
"""
import os
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent("""
    import resource, numpy as np, symgraph, symgraph.tensor as T
    from symgraph.link.numba import runtime
    x = T.fvector()
    f = symgraph.function([x], 2.5 * x + 1.0)
    a = np.ones(10_000_000, dtype="float32")
    out = f(a)
    del out
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    out = f(a)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert float(out[0]) == 3.5
    print(runtime.STATE["malloc_tuned"], faults)
""")


def _faults(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra)
    r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    tuned, faults = r.stdout.split()
    return tuned == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")
def test_second_call_reuses_the_freed_output_block():
    tuned, faults = _faults({})
    assert tuned and faults < 50, faults
    untuned, fresh = _faults({"SYMGRAPH_MALLOC_REUSE": "0"})
    assert not untuned and fresh > 200, fresh
