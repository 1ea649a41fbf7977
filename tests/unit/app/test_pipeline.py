"""The composition root builds exactly the roles asked for (no server is contacted here:
clients connect in ``start``)."""

import httpx
import pytest

from app.pipeline import ROLES, build_pipeline, needs_database
from app.settings import Settings


async def test_stage_roles_need_no_database_and_get_a_probe() -> None:
    pipeline = await build_pipeline(Settings(), ("aggregator", "evaluator"))
    assert [role.name for role in pipeline.roles] == [
        "kafka",
        "aggregator",
        "evaluator",
        "correlator",
        "http",
    ]
    assert pipeline.responder is None and pipeline.http is not None
    assert set(pipeline.health()) == {"kafka", "aggregator", "evaluator", "correlator"}
    assert not needs_database(("aggregator", "evaluator"))
    assert needs_database(("api",)) and needs_database(ROLES)


async def test_the_correlator_can_be_left_out() -> None:
    settings = Settings(evaluator={"correlator": False})
    pipeline = await build_pipeline(settings, ("evaluator",), http=False)
    assert [role.name for role in pipeline.roles] == ["kafka", "evaluator"]


async def test_without_the_http_server_its_application_is_still_built() -> None:
    """Tests drive ``Pipeline.asgi`` in-process: the same application the server would serve."""
    pipeline = await build_pipeline(Settings(), ("aggregator",), http=False)
    assert pipeline.http is None and "http" not in [role.name for role in pipeline.roles]
    transport = httpx.ASGITransport(app=pipeline.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        health = await client.get("/health")
    assert health.status_code == 503  # built, not started: the aggregator is not ready
    assert list(health.json()["roles"]) == ["kafka", "aggregator"]


async def test_an_unknown_role_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown role.*bogus.*expected aggregator"):
        await build_pipeline(Settings(), ("aggregator", "bogus"))  # type: ignore[arg-type]


def test_verify_takes_its_baseline_from_the_policy_unless_set() -> None:
    from app.pipeline import rollback_from_policy
    from streams.policy import default_policy_text, parse_policy

    text = default_policy_text().replace(
        "  error_rate: 1%\n  p95_ms: 1s\n", "  error_rate: 2%\n  p95_ms: 800ms\n", 1
    )
    policy = parse_policy(text, "custom.yaml")
    derived = rollback_from_policy(Settings(), policy).rollback
    assert (derived.baseline_error_rate, derived.baseline_p95_ms) == (0.02, 800.0)
    explicit = Settings(rollback={"baseline_p95_ms": 1500})
    kept = rollback_from_policy(explicit, policy).rollback
    assert (kept.baseline_error_rate, kept.baseline_p95_ms) == (0.02, 1500.0)


def test_phase_retries_come_from_the_policy_unless_the_environment_sets_one() -> None:
    from app.pipeline import rollback_from_policy
    from streams.policy import PolicyInvalid, default_policy_text, parse_policy

    text = default_policy_text().replace("    revert_code: 1\n", "    revert_code: 3\n", 1)
    policy = parse_policy(text, "custom.yaml")
    derived = rollback_from_policy(Settings(), policy).rollback.phase_retries
    assert (derived.revert_code, derived.verify) == (3, 0)
    explicit = Settings(rollback={"phase_retries": {"verify": 2}})
    kept = rollback_from_policy(explicit, policy).rollback.phase_retries
    assert (kept.revert_code, kept.verify) == (3, 2)

    bad = default_policy_text().replace("    revert_code: 1\n", "    revert_code: -1\n", 1)
    with pytest.raises(PolicyInvalid, match=r"bad\.yaml.*rollback\.phase_retries\.revert_code"):
        parse_policy(bad, "bad.yaml")


async def test_every_stage_is_supervised_and_waits_for_kafka() -> None:
    from streams.lifecycle import ServiceRole
    from streams.supervise import DependencyWatch, Supervised

    pipeline = await build_pipeline(Settings(), ("aggregator", "evaluator"), http=False)
    watch, *stages = pipeline.roles
    assert isinstance(watch, DependencyWatch) and watch.name == "kafka"
    assert all(isinstance(role, Supervised) for role in stages)
    assert {role.name: [w.name for w in role.needs] for role in stages} == {  # type: ignore[attr-defined]
        "aggregator": ["kafka"],
        "evaluator": ["kafka"],
        "correlator": ["kafka"],
    }
    assert isinstance(pipeline.role("aggregator"), ServiceRole)  # handed out unwrapped


def test_every_responder_part_says_what_it_needs() -> None:
    from app.pipeline import PART_NEEDS, RESPONDER_PARTS

    assert tuple(PART_NEEDS) == RESPONDER_PARTS
    assert PART_NEEDS["http"] == ()  # a receiver's trouble is never an outage of the process
    # the listener of wake-ups is started again by its supervisor once PostgreSQL answers
    assert PART_NEEDS["notifications"] == ("postgres",)
    assert PART_NEEDS["budgets"] == ("kafka", "postgres")  # the state topic into slo_budgets
    assert all(set(needs) <= {"kafka", "postgres"} for needs in PART_NEEDS.values())
