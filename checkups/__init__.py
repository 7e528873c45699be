"""checkups: recovery check-ups for people leaving drug and alcohol treatment."""

from __future__ import annotations

__version__ = "0.1.0"
