from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import optlib


@pytest.mark.parametrize("name", ["passes", "quantization", "nn", "cpu", "gnn", "optim", "runtime", "training"])
def test_submodules_are_reachable_from_the_package(name):
    assert getattr(optlib, name) is importlib.import_module(f"optlib.{name}")


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'fast'"):
        optlib.fast  # noqa: B018


def loads_any(statement: str, prefixes: tuple[str, ...]) -> bool:
    """Whether a fresh interpreter that runs ``statement`` has imported a module named by
    one of ``prefixes``."""
    code = f"import sys; {statement}; print(any(m.startswith({prefixes!r}) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(optlib.__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr[-1000:]
    return out.stdout.strip() == "True"


def test_import_is_lazy_about_heavy_optional_parts():
    assert not loads_any("import optlib", ("torch_geometric", "onnxruntime", "openvino"))


def test_the_launcher_starts_without_importing_torch():
    """``python -m optlib.launch`` only plans and starts processes: importing torch there cost
    every launched program 2.4 s before it began."""
    assert not loads_any("import optlib.launch", ("torch",))


def test_the_public_names_load_on_first_use():
    from optlib import OptimizeConfig, OptimizedModule, OptlibWarning, optimize

    assert optlib.optimize is optimize and callable(optimize)
    assert OptimizeConfig().level == "O1"
    assert issubclass(OptlibWarning, Warning) and isinstance(OptimizedModule, type)


def test_optimizing_a_model_without_graph_layers_does_not_load_pyg():
    """The sparse_gnn pass looks for PyG layers; a model that has none must not pay for
    importing PyG to find that out."""
    statement = ("import torch, optlib; m = torch.nn.Sequential(torch.nn.Linear(4, 4)).eval(); "
                 "optlib.optimize(m, graph_mode=False, weights_prepack=False)")
    assert not loads_any(statement, ("torch_geometric",))
