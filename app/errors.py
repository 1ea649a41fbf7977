"""alertpipe's error tree. Every error a user can cause says what was wrong and how to fix it.

AlertpipeError                 -- anything alertpipe reports instead of a traceback
 ├── ConfigError               -- a setting or file is wrong (names the setting/file/field)
 │    └── PolicyError          -- a policy file is invalid (file, rule, field, expectation)
 ├── InfrastructureError       -- Kafka or PostgreSQL could not be reached or started
 └── InputError                -- a command's input (a replay file, a request) is wrong
"""

from __future__ import annotations

__all__ = ["AlertpipeError", "ConfigError", "InfrastructureError", "InputError", "PolicyError"]


class AlertpipeError(Exception):
    exit_code = 1


class ConfigError(AlertpipeError):
    exit_code = 2


class PolicyError(ConfigError):
    pass


class InfrastructureError(AlertpipeError):
    exit_code = 3


class InputError(AlertpipeError):
    exit_code = 2
