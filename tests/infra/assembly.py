"""Reading a synthesized cloud assembly: resources, resolved strings, each function's grants."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How pseudo parameters read once resolved (the same spelling cdk-nag uses).
PSEUDO = {
    "AWS::Partition": "<AWS::Partition>",
    "AWS::Region": "<AWS::Region>",
    "AWS::AccountId": "<AWS::AccountId>",
    "AWS::URLSuffix": "<AWS::URLSuffix>",
}


def resolve(value: Any) -> Any:
    """Fn::Join / Ref / GetAtt / Fn::Sub rendered as readable strings; the rest as is."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(resolve(part)) for part in parts)
        if key == "Ref":
            return PSEUDO.get(arg, f"<{arg}>")
        if key == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if key == "Fn::Sub" and isinstance(arg, str):
            out = arg
            for name, spelled in PSEUDO.items():
                out = out.replace("${" + name + "}", spelled)
            return out
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass
class Statement:
    actions: frozenset[str]
    resources: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False)


@dataclass
class Assembly:
    directory: Path
    stack_name: str
    template: dict[str, Any]
    metadata: dict[str, Any]
    via_cli: bool
    output: str

    @classmethod
    def load(cls, directory: Path, stack_name: str, *, via_cli: bool, output: str) -> Assembly:
        template = json.loads((directory / f"{stack_name}.template.json").read_text())
        metadata_file = directory / f"{stack_name}.metadata.json"
        if metadata_file.exists():
            metadata = json.loads(metadata_file.read_text())
        else:  # older layouts keep it in the manifest
            manifest = json.loads((directory / "manifest.json").read_text())
            metadata = manifest["artifacts"][stack_name].get("metadata", {})
        return cls(directory, stack_name, template, metadata, via_cli, output)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}

    def props(self, logical_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources[logical_id].get("Properties", {})
        return properties

    def functions(self) -> dict[str, dict[str, Any]]:
        """The platform's functions (those running a ``functions.handlers`` handler)."""
        return {
            k: r
            for k, r in self.of_type("AWS::Lambda::Function").items()
            if str(r["Properties"].get("Handler", "")).startswith("functions.handlers.")
        }

    def functions_by_handler(self, handler: str) -> list[str]:
        return [k for k, r in self.functions().items() if r["Properties"]["Handler"] == handler]

    def function_by_handler(self, handler: str) -> str:
        found = self.functions_by_handler(handler)
        assert len(found) == 1, f"{handler}: {found}"
        return found[0]

    def env(self, function_id: str) -> dict[str, Any]:
        variables: dict[str, Any] = self.props(function_id)["Environment"]["Variables"]
        return variables

    def role_of(self, function_id: str) -> str:
        role = self.props(function_id)["Role"]
        assert "Fn::GetAtt" in role, role
        return str(role["Fn::GetAtt"][0])

    def role_statements(self, role_id: str) -> list[Statement]:
        """Every statement of every inline policy attached to ``role_id``."""
        statements = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            roles = [r.get("Ref") for r in policy["Properties"].get("Roles", [])]
            if role_id not in roles:
                continue
            for raw in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert raw.get("Effect", "Allow") == "Allow"
                statements.append(
                    Statement(
                        actions=frozenset(as_list(raw["Action"])),
                        resources=tuple(str(resolve(r)) for r in as_list(raw["Resource"])),
                        raw=raw,
                    )
                )
        return statements

    def grants(self, function_id: str) -> dict[str, set[str]]:
        """action → the resources it is allowed on, for one function's role."""
        granted: dict[str, set[str]] = {}
        for statement in self.role_statements(self.role_of(function_id)):
            for action in statement.actions:
                granted.setdefault(action, set()).update(statement.resources)
        return granted

    def annotations(self, kind: str) -> Iterator[tuple[str, str]]:
        for path, entries in self.metadata.items():
            for entry in entries:
                if entry.get("type") == kind:
                    yield path, str(entry.get("data"))

    def asset_files(self, object_key: str) -> dict[str, bytes]:
        """The files of an asset (``<hash>.zip`` in the template): staged as a directory,
        or as the zip itself."""
        staged = self.directory / f"asset.{object_key.removesuffix('.zip')}"
        if staged.is_dir():
            return {
                p.relative_to(staged).as_posix(): p.read_bytes()
                for p in sorted(staged.rglob("*"))
                if p.is_file()
            }
        with zipfile.ZipFile(self.directory / f"asset.{object_key}") as zipped:
            return {name: zipped.read(name) for name in zipped.namelist() if not name.endswith("/")}
