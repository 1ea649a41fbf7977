"""Stage 2, evaluate: panes merged into windows, the policy's rules, severity decisions.

Public surface:

- ``Evaluator`` / ``EvaluatorConfig``: the long-running transactional service
  (``start``, ``run``, ``stop``, ``ready``, ``health``); ``python -m streams.evaluate``.
- ``Correlator`` / ``CorrelatorConfig``: plan S4 across services, over the decisions.
- ``Evaluation``: the pure per-partition engine (panes in, decisions and state out).
- ``step``, ``AlertRecord``, ``Reason``: the alert state machine.
"""

from __future__ import annotations

from streams.evaluate.correlator import Correlator, CorrelatorConfig
from streams.evaluate.engine import EngineConfig, Evaluation, Output, StateChange
from streams.evaluate.service import Evaluator, EvaluatorConfig
from streams.evaluate.state import AlertRecord, Reason, step

__all__ = [
    "AlertRecord",
    "Correlator",
    "CorrelatorConfig",
    "EngineConfig",
    "Evaluation",
    "Evaluator",
    "EvaluatorConfig",
    "Output",
    "Reason",
    "StateChange",
    "step",
]
