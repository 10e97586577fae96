"""``python -m bench``: the benchmark suite (see ``bench/run.py``)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import main  # noqa: E402

sys.exit(main())
