"""Runtime tools: core pools, pinning torch's threads to them, and multi-stream inference."""

from optlib.runtime.affinity import bind_current_thread, pin
from optlib.runtime.multi_stream import MultiStreamModule
from optlib.runtime.pool import CPUPool

__all__ = ["CPUPool", "MultiStreamModule", "bind_current_thread", "pin"]
