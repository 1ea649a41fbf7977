"""The application layer's errors: settings, the policy in effect, local infrastructure.

Their place in alertpipe's one error tree (drawn in ``schemas.errors``):

    InputError
     └── ConfigError          -- a setting or file is wrong (names the setting/file/field)
          └── PolicyError     -- a policy file is invalid (file, rule, field, expectation)
    OperationalError
     └── InfrastructureError  -- Kafka or PostgreSQL could not be reached or started
"""

from __future__ import annotations

from schemas.errors import InputError, OperationalError

__all__ = ["ConfigError", "InfrastructureError", "PolicyError"]


class ConfigError(InputError):
    exit_code = 2


class PolicyError(ConfigError):
    pass


class InfrastructureError(OperationalError):
    exit_code = 3
