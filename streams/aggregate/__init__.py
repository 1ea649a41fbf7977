"""Stage 1: telemetry → validated events → event-time panes, exactly once per pane."""
