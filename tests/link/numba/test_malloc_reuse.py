"""Large outputs reuse freed heap blocks (``symgraph/_malloc.py``) instead of fresh pages.

Counted as minor page faults of the second call of an elementwise function on 40 MB:
with the tuning the output lands in the block the first call's output freed (almost no
faults; 0 here); with ``SYMGRAPH_MALLOC_REUSE=0`` glibc maps fresh pages, and touching
40 MB of fresh pages faults at least once per page. The output asks for 2 MiB huge
pages, so how many faults depends on how many the kernel grants at that moment: 568 in
one run, 57 in another (most of the output on huge pages). The bound that holds either
way is one fault per 2 MiB, 20 for 40 MB; the reused block stays far below it.
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


#: the fewest faults that map 40 MB of fresh memory: one per 2 MiB huge page
FRESH_MIN = -(-40_000_000 // (2 << 20))


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
    assert tuned and faults < FRESH_MIN // 2, faults
    untuned, fresh = _faults({"SYMGRAPH_MALLOC_REUSE": "0"})
    assert not untuned and fresh >= FRESH_MIN, fresh
