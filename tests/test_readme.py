"""README's commands stay true: CI runs exactly its test command, and the main-job
command names options the CLI accepts."""
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def test_ci_runs_the_readme_test_command():
    blocks = _bash_blocks()
    test_cmd = [b for b in blocks if "pytest" in b]
    assert len(test_cmd) == 1, blocks
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
                if ln.strip() and not ln.strip().startswith("#")]
    assert ci_lines[-1] == test_cmd[0].strip()


def test_main_job_command_parses():
    from symgraph.nn.cli import build_parser

    main = [b for b in _bash_blocks() if "symgraph-mnist" in b]
    assert len(main) == 1
    cmd = main[0].split("&&")[-1].strip()
    argv = shlex.split(cmd)
    assert argv[0] == "symgraph-mnist"
    args = build_parser().parse_args(argv[1:])
    assert args.epochs == 3 and args.batch_size == 10 and args.plot == "curves.png"


def test_checkpoint_snippet_runs(tmp_path, monkeypatch, capsys):
    """The README's "load a checkpoint and predict" code runs as written."""
    import numpy as np

    import symgraph
    from symgraph.nn import FullyConnectedLayer, Network, SoftmaxLayer

    text = (ROOT / "README.md").read_text()
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)\n```", text, flags=re.S)
                  if "Network.load(" in b]
    old = symgraph.config.floatX
    symgraph.config.floatX = "float32"
    try:
        np.random.seed(0)
        net = Network([FullyConnectedLayer(784, 10), SoftmaxLayer(10, 10)], 10)
        monkeypatch.chdir(tmp_path)
        net.save("net.npz")
        exec(compile(snippet, "README.md", "exec"), {})
    finally:
        symgraph.config.floatX = old
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("[7 2 1 0 4]") and out[-1].startswith("test accuracy ")
