"""Package discovery for symgraph (everything else is declared in setup.cfg).

Why a setup.py: ``kernels/`` sits at the top of the repository but is installed as
``symgraph.kernels`` (setup.cfg's ``package_dir``). ``packages = find:`` can only name
packages by their folder, so it would install ``kernels`` as a top-level package; here
setuptools still finds every package (nothing is listed by hand, so a new subpackage such
as ``symgraph.link.numba.impl`` cannot be left out of a wheel) and the kernels' names are
prefixed with ``symgraph.``.
"""
from setuptools import find_packages, setup

packages = find_packages(include=["symgraph", "symgraph.*"])
packages += ["symgraph." + name for name in find_packages(include=["kernels", "kernels.*"])]

setup(packages=packages)
