"""Policy problems, each naming the file, the rule and the field, and what was expected.

Both are ``InputError``s (``schemas.errors``) and stay ``ValueError``s: a validator's
``ValueError`` is what pydantic turns into a located field error. ``streams`` does not depend
on ``app``, so the CLI and the composition root wrap ``PolicyInvalid`` in
``app.errors.PolicyError``, whose message is the whole report.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.errors import InputError

__all__ = ["FieldInvalid", "PolicyInvalid", "Problem"]


@dataclass(frozen=True)
class Problem:
    file: str
    rule: str | None  # the rule's name (or "#3" when it has none), None outside rules
    field: str | None  # dotted path inside the rule (or the file), None for the whole file
    message: str  # what was expected, and what was found
    item: str = "rule"  # what ``rule`` names: a rule, or a test of a tests file

    def __str__(self) -> str:
        where = [self.file]
        if self.rule is not None:
            where.append(f"{self.item} {self.rule}")
        if self.field:
            where.append(f"field {self.field}")
        return f"{': '.join(where)}: {self.message}"


class FieldInvalid(InputError, ValueError):
    """Raised by a validator about a field below the one it validates (``match.host`` from
    the rule's validator): the loader appends ``field`` to the error's location, so the
    problem names it like any other field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class PolicyInvalid(InputError, ValueError):
    """A policy file that cannot be used; ``problems`` lists every finding."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [str(problem) for problem in problems]
        more = f" (and {len(lines) - 1} more problem(s))" if len(lines) > 1 else ""
        super().__init__(lines[0] + more if lines else "invalid policy")

    def report(self) -> str:
        """Every problem, one per line."""
        return "\n".join(str(problem) for problem in self.problems)
