"""perfhud: per-commit CPU benchmarks for PyTorch, with alerts engineers believe."""

__version__ = "0.1.0"
