"""Strideguard's analysis: pure functions, samples and history in, findings out.

No I/O, no database, no clock: callers pass ``as_of``. The public API is re-exported here.
"""

from analysis.api import acwr, banister_trimp, monotony, pmc, spike_class

__all__ = ["acwr", "banister_trimp", "monotony", "pmc", "spike_class"]
