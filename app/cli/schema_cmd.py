"""``alertpipe schema export DIR``: one JSON Schema file per wire model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from schemas import EXPORTED_MODELS

__all__ = ["export_schemas", "register"]

_BASE_ID = "https://alertpipe.dev/schemas/"


def export_schemas(directory: Path) -> list[Path]:
    """Write ``<name>.schema.json`` for every exported model; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in EXPORTED_MODELS.items():
        schema = model.model_json_schema(mode="validation")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{_BASE_ID}{name}.schema.json",
            **schema,
        }
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "schema",
        help="publish the wire contract as JSON Schema",
        description="Publish the wire contract (telemetry, panes, decisions, incidents) as "
        "JSON Schema, for producers and subscribers in any language.",
    )
    sub = parser.add_subparsers(dest="schema_command", metavar="ACTION", required=True)
    export = sub.add_parser(
        "export",
        help="write one JSON Schema per model into DIR",
        description="Write a JSON Schema (draft 2020-12) per wire model — each telemetry "
        "kind, panes, decisions, incident events, actions — so producers in any language "
        "can validate before sending.",
    )
    export.add_argument("dir", type=Path, metavar="DIR", help="output folder (created)")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    for path in export_schemas(args.dir):
        print(path)
    return 0
