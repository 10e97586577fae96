"""Two processes saving to one cache at the same moment lose nothing (``cachefiles.file_lock``).

Why: a new graph's kernels compile on two processes (``plan_compile.py``), and both may
compile signatures of one kernel at once. Each save is a read-modify-write of a shared
file: a kernel module's ``.links`` table and Numba's index (``.nbi``). Written back
without a lock, one process's entry was lost: a later process loaded machine code whose
callee symbol nobody registered and crashed (SIGSEGV: CI, stop 30), or found two
signatures sharing one data file.

Here two processes compile one kernel module for two argument types. Fault injection
makes the race certain instead of rare: both wait for each other just before each
read-modify-write, and linger 0.4 s inside it. A third process then loads both
signatures from the cache: every one must be there and run.
"""
import os
import subprocess
import sys
import textwrap

KERNEL = textwrap.dedent("""
    import numba
    from symgraph.link.numba.extern import LinkTable as _sg_LinkTable
    _sg_links = _sg_LinkTable(__file__)
    from symgraph.link.numba.helpers import unit_last_stride as _sgx_sg_contig
    _sg_contig = _sg_links.extern(_sgx_sg_contig)


    @numba.njit(cache=True)
    def kernel(x):
        y = _sg_contig(x)
        return y.sum() + y[0, 0]
""")

INPUTS = textwrap.dedent("""
    import numpy as np
    INPUTS = {"f": np.arange(12.0).reshape(3, 4).T,              # float64, layout A
              "i": np.arange(12).reshape(3, 4).T[::-1]}           # int64, layout A
""")

COMPILE = INPUTS + textwrap.dedent("""
    import glob, os, sys, time
    folder, which, src = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
    from symgraph.link.numba import cache, extern
    from symgraph.numba_compat import cachefile

    counts = {}

    def meet(tag):
        # wait (30 s at most) until the other process reaches the same point
        n = counts[tag] = counts.get(tag, 0) + 1
        open(os.path.join(folder, f"{tag}{n}.{which}"), "w").close()
        end = time.monotonic() + 30
        while (len(glob.glob(os.path.join(folder, f"{tag}{n}.*"))) < 2
               and time.monotonic() < end):
            time.sleep(0.01)

    def before(cls, name, tag):
        orig = getattr(cls, name)
        def wrapped(self, *a):
            meet(tag)
            return orig(self, *a)
        setattr(cls, name, wrapped)

    def lingering(cls, name):
        orig = getattr(cls, name)
        def wrapped(*a):
            time.sleep(0.4)
            return orig(*a)
        setattr(cls, name, staticmethod(wrapped) if cls is extern else wrapped)

    healing_cls, checked_cls = cachefile._checked_classes()
    before(extern.LinkTable, "_save", "links")          # the .links read-merge-write
    lingering(extern, "write_json")
    before(healing_cls, "_save_overload", "index")      # Numba's index save
    lingering(checked_cls, "_save_index")
    mod = cache.load_module(src)
    print(repr(float(mod.kernel(INPUTS[which]))))
""")

LOAD = INPUTS + textwrap.dedent("""
    import sys
    src = open(sys.argv[1]).read()
    from symgraph.link.numba import cache
    mod = cache.load_module(src)
    for which in "fi":
        print(which, repr(float(mod.kernel(INPUTS[which]))))
    print("misses", sum(mod.kernel.stats.cache_misses.values()))
""")


def _env(tmp_path):
    env = os.environ.copy()
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba")   # the helper's cache too
    return env


def test_two_processes_saving_one_kernel_lose_no_entry(tmp_path):
    src = tmp_path / "kernel_src.py"
    src.write_text(KERNEL)
    meet = tmp_path / "meet"
    meet.mkdir()
    env = _env(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", COMPILE, str(meet), w, str(src)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for w in "fi"]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    # both reached each read-modify-write together (the race was certain, not by chance)
    assert sorted(os.listdir(meet)) == ["index1.f", "index1.i", "index2.f", "index2.i",
                                        "links1.f", "links1.i"]
    compiled = {w: float(o[0]) for w, o in zip("fi", outs)}

    r = subprocess.run([sys.executable, "-c", LOAD, str(src)], capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])   # -11 before the lock
    lines = dict(line.split(" ", 1) for line in r.stdout.split("\n") if line)
    assert {w: float(lines[w]) for w in "fi"} == compiled == {"f": 66.0 + 0.0, "i": 66.0 + 3.0}
    assert lines["misses"] == "0"                # both signatures came from the cache
    assert "symgraph: the cache file" not in r.stderr, r.stderr[-2000:]


HOLD = textwrap.dedent("""
    import sys, time
    from symgraph.link.numba.cachefiles import file_lock
    with file_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def _holder(path, seconds):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_file_lock_waits_for_another_process(tmp_path):
    import time

    from symgraph.link.numba.cachefiles import file_lock

    p = _holder(tmp_path / "index", 1.0)
    t0 = time.monotonic()
    with file_lock(str(tmp_path / "index")):
        waited = time.monotonic() - t0
    p.wait(timeout=60)
    assert 0.5 < waited < 30, waited


def test_file_lock_goes_on_without_it_rather_than_stick(tmp_path, monkeypatch):
    """A holder that never lets go costs LOCK_WAIT, and a lock that cannot be made (a
    folder that is not there, a read-only cache) costs nothing: the block still runs."""
    import time

    from symgraph.link.numba import cachefiles

    monkeypatch.setattr(cachefiles, "LOCK_WAIT", 0.3)
    p = _holder(tmp_path / "index", 30)
    try:
        t0 = time.monotonic()
        with cachefiles.file_lock(str(tmp_path / "index")):
            waited = time.monotonic() - t0
        assert 0.25 < waited < 10, waited
    finally:
        p.kill()
        p.wait()
    ran = []
    with cachefiles.file_lock(str(tmp_path / "missing" / "index")):
        ran.append(True)
    assert ran == [True]


SWAP = INPUTS + textwrap.dedent("""
    import sys
    src = open(sys.argv[1]).read()
    from symgraph.link.numba import cache
    mod = cache.load_module(src)
    if sys.argv[2] == "swap":   # the index entries of the two signatures trade data files
        for which in "fi":
            mod.kernel(INPUTS[which])
        f = mod.kernel._cache._cache_file
        index = f._load_index()
        (k1, n1), (k2, n2) = index.items()
        index[k1], index[k2] = n2, n1
        f._save_index(index)
    else:
        import warnings
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            print(" ".join(repr(float(mod.kernel(INPUTS[c]))) for c in "fi"))
        print("|".join(str(x.message) for x in w))
""")


def test_an_index_entry_naming_another_signatures_code_is_damage(tmp_path):
    """What the race left behind (two signatures, one data file) is reported and
    compiled afresh, never run with the other signature's machine code."""
    src = tmp_path / "kernel_src.py"
    src.write_text(KERNEL)
    env = _env(tmp_path)
    for step in ("swap", "load"):
        r = subprocess.run([sys.executable, "-c", SWAP, str(src), step], capture_output=True,
                           text=True, timeout=300, env=env)
        assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    values, warned = r.stdout.split("\n")[:2]
    assert values == "66.0 69.0"
    assert "lists another signature's machine code" in warned
