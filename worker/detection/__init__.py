"""Change detection (placeholder docstring, completed below)."""
from .detector import SeriesDetector, evaluate_point
from .model import Alert, AlertGroup, DetectorConfig, Point, Verdict
