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


def test_import_is_lazy_about_heavy_optional_parts():
    code = "import sys, optlib; print(any(m.startswith(('torch_geometric', 'onnxruntime', 'openvino')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(optlib.__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "False"


def test_the_launcher_starts_without_importing_torch():
    """``python -m optlib.launch`` only plans and starts processes: importing torch there cost
    every launched program 2.4 s before it began."""
    code = "import sys, optlib.launch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(optlib.__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "False"


def test_the_public_names_load_on_first_use():
    from optlib import OptimizeConfig, OptimizedModule, OptlibWarning, optimize

    assert optlib.optimize is optimize and callable(optimize)
    assert OptimizeConfig().level == "O1"
    assert issubclass(OptlibWarning, Warning) and isinstance(OptimizedModule, type)
