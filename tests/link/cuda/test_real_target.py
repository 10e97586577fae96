"""Every kernel the backend launches compiles for the real CUDA target (no GPU needed):
runs ``real_target_check.py`` in a fresh interpreter without the simulator."""
from __future__ import annotations

import json
import os
import subprocess
import sys

#: float32 kernels allowed to compute in float64: the normal distribution (computed in
#: float64 to give the py backend's numbers bit for bit) and the ``sgn`` scalar template
#: (it compares with the int literal 0, which Numba promotes to float64)
ALLOWED_FLOAT64 = ("random._kernel", "Elemwise{sgn}")


def test_all_kernels_compile_for_the_gpu():
    script = os.path.join(os.path.dirname(__file__), "real_target_check.py")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, script], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert not report["errors"], json.dumps(report["errors"], indent=1)[:5000]
    assert not report["host_calls"], report["host_calls"]
    assert report["compiled"] > 200 and "training" in report["graphs"]
    bad = [k for k in report["float64_in_float32"] if not any(a in k for a in ALLOWED_FLOAT64)]
    assert not bad, bad
