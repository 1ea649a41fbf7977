"""The plan's readiness checklist as a deploy gate: the checklist judged on evidence
(``checklist``), the baselines measured on live panes (``baselines``), what the gate reads and
writes (``ports``), and the responder's part that sees a deploy which skipped it (``gate``)."""
