"""alertpipe's error tree: one base, three branches, every domain error placed under one.

AlertpipeError             -- every error alertpipe raises on purpose
 ├── InputError            -- what alertpipe was given is wrong; names the file/field and why
 │    ├── InvalidEvent     -- (ValueError) a telemetry message that is not a valid event
 │    ├── PolicyInvalid    -- (ValueError) a policy or policy-tests file, every problem listed
 │    ├── FieldInvalid     -- (ValueError) a policy validator's finding about a nested field
 │    ├── BadBody          -- (ValueError) an ingest request's body that is no batch at all
 │    └── ConfigError      -- a setting, or a file a setting names
 │         └── PolicyError -- the policy file in effect, its problems one per line
 ├── CommandError          -- an incident command that cannot be carried out (HTTP 4xx)
 │    ├── IncidentNotFound -- (LookupError) no incident has that id
 │    ├── LifecycleError   -- (ValueError) the step does not apply to the incident as it is
 │    ├── NameTaken        -- (ValueError) a live API token already has that name
 │    ├── DrillNotFound    -- (LookupError) no DR drill has that id
 │    ├── ReviewMissing    -- (LookupError) no review of the incident (yet), and why
 │    └── ApiError         -- a request the HTTP API refuses (401, 403, 404, 409, 422, 429 …)
 └── OperationalError      -- alertpipe cannot go on; repair or restart, the input was fine
      ├── InfrastructureError -- Kafka or PostgreSQL could not be reached or started
      ├── TopicMissing     -- (RuntimeError) a topic a stage reads does not exist
      ├── TopicUnusable    -- (RuntimeError) a topic not created, not led, or of the wrong shape
      ├── IngestBusy       -- Kafka cannot take an ingest write now (HTTP 429, retry later)
      ├── AggregatorFailed -- (RuntimeError) stage 1 stopped to keep exactly-once
      ├── EvaluatorFailed  -- (RuntimeError) stage 2 stopped rather than lose or repeat a decision
      ├── OutageTooLong    -- (RuntimeError) Kafka or PostgreSQL unreachable beyond the budget
      └── StopIncomplete   -- (RuntimeError) a role did not stop within the stop budget

The base and the branches live here, at the bottom layer, so that every package can place
its errors under them; each leaf lives beside the code that raises it:

    schemas.telemetry               InvalidEvent
    streams.policy.errors           PolicyInvalid, FieldInvalid
    streams.topics                  TopicMissing, TopicUnusable
    streams.ingest.batch            BadBody
    streams.ingest.writer           IngestBusy
    streams.aggregate.service       AggregatorFailed
    streams.evaluate.service        EvaluatorFailed
    streams.supervise               OutageTooLong
    streams.lifecycle               StopIncomplete
    handlers.incidents.commands     IncidentNotFound
    handlers.incidents.lifecycle    LifecycleError
    app.errors                      ConfigError, PolicyError, InfrastructureError
    app.credentials                 NameTaken
    app.drills.store                DrillNotFound
    app.reviews.control             ReviewMissing
    app.api.errors                  ApiError

A leaf keeps the built-in kind in brackets as a second base, so an existing ``except`` still
catches it; why, and which errors the CLI reports as one line: docs/design.md record 16.
tests/unit/schemas/test_errors.py pins this drawing and table against the classes, so a new
error is placed here deliberately.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["AlertpipeError", "CommandError", "InputError", "OperationalError"]


class AlertpipeError(Exception):
    exit_code: ClassVar[int] = 1  # the status a command exits with when this error ends it


class InputError(AlertpipeError):
    exit_code = 2


class CommandError(AlertpipeError):
    pass


class OperationalError(AlertpipeError):
    pass
