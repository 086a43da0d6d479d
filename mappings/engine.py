"""The mapping engine: a YAML file says how a source becomes canonical records.

A mapping names its source system, its format (``xml``, ``csv`` or ``rows``) and the records it
produces; each record names its canonical model, where its instances are (an XPath, or every
row), and each field's origin (``path``, ``column``, ``param`` or ``const``) with the named
transforms (``mappings/transforms.py``) and code tables that turn it into the model's value.
Child records are selected inside their parent (a report's accounts, an account's months).

Every produced record is validated by its pydantic model. A field that a transform refuses,
or a record the model refuses, is returned as ``Refused`` with the field path, the value and
the reason, and the rest go on: records seen = mapped + refused, always. The mapping's version
(a hash of its file) goes into every record's lineage.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from lxml import etree
from pydantic import BaseModel, ValidationError

from mappings.transforms import NAMED, status_24m

HERE = Path(__file__).resolve().parent
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class MappingError(ValueError):
    """The mapping file itself is wrong (unknown transform, model or format)."""


@dataclass(frozen=True)
class MappedRecord:
    name: str
    model: BaseModel
    parent: int | None  # index of the parent in its record list


@dataclass(frozen=True)
class Refused:
    record: str
    index: int
    field_path: str | None
    value: Any
    reason: str


@dataclass
class MappingResult:
    records: dict[str, list[MappedRecord]] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)
    seen: int = 0

    def models(self, name: str) -> list[Any]:
        return [r.model for r in self.records.get(name, [])]

    @property
    def refused_records(self) -> int:
        """Records refused (one record may break several rules): seen = mapped + this."""
        return len({(r.record, r.index) for r in self.refused})

    def next_index(self, name: str) -> int:
        refused = {r.index for r in self.refused if r.record == name}
        return len(self.records.get(name, [])) + len(refused)


def _model(dotted: str) -> type[BaseModel]:
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise MappingError(f"no model {dotted}") from exc


class Mapping:
    def __init__(self, spec: dict[str, Any], version: str, name: str = "") -> None:
        self.spec = spec
        self.version = version
        self.name = name
        self.source_system: str = spec["source_system"]
        self.format: str = spec["format"]
        if self.format not in ("xml", "csv", "rows"):
            raise MappingError(f"unknown format {self.format!r}")
        self.namespaces: dict[str, str] = spec.get("namespaces", {})
        self.codes: dict[str, dict[str, str]] = spec.get("codes", {})
        self._check(spec["records"])

    @classmethod
    def load(cls, name: str) -> Mapping:
        return _load(name)

    def _check(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            _model(record["model"])
            for spec in record.get("fields", {}).values():
                for step in spec.get("transform", []):
                    if step not in NAMED:
                        raise MappingError(f"{record['name']}: unknown transform {step!r}")
                if spec.get("code") and spec["code"] not in self.codes:
                    raise MappingError(f"{record['name']}: unknown code table {spec['code']!r}")
            self._check(record.get("children", []))

    # -- running ---------------------------------------------------------------------------------

    def map(
        self,
        payload: bytes | list[dict[str, str]],
        *,
        fetched_at: datetime,
        raw_payload_hash: str,
        params: dict[str, Any] | None = None,
    ) -> MappingResult:
        lineage = {
            "source_system": self.source_system,
            "fetched_at": fetched_at,
            "mapping_version": self.version,
            "raw_payload_hash": raw_payload_hash,
        }
        result = MappingResult()
        for spec in self.spec["records"]:
            for node in self._instances(payload, spec):
                self._emit(spec, node, None, {}, lineage, params or {}, result)
        return result

    def _instances(
        self, payload: bytes | list[dict[str, str]], spec: dict[str, Any]
    ) -> Iterator[Any]:
        if isinstance(payload, list):  # rows already read off a screen: header -> cell text
            if self.format == "xml":
                raise MappingError(f"{self.name} maps XML, not table rows")
            yield from payload
        elif self.format == "xml":
            assert isinstance(payload, bytes)
            if b"<!DOCTYPE" in payload[:4096]:
                raise ValueError("a DTD in a source document is refused")
            root = etree.fromstring(payload, _PARSER)
            yield from root.xpath(spec["select"], namespaces=self.namespaces)
        elif self.format == "csv":
            assert isinstance(payload, bytes)
            yield from self._csv_rows(payload)
        else:
            assert isinstance(payload, list)
            yield from payload

    def _csv_rows(self, payload: bytes) -> Iterator[dict[str, str]]:
        text = payload.decode(self.spec.get("encoding", "utf-8"))
        lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
        skip = self.spec.get("skip_prefix")
        header = lines[0].split(",")
        for line in lines[1:]:
            if skip and line.startswith(skip):
                continue
            yield dict(zip(header, line.split(","), strict=False))

    def _value(
        self, spec: dict[str, Any], node: Any, params: dict[str, Any], context: dict[str, Any]
    ) -> Any:
        if "const" in spec:
            value = spec["const"]
        elif "param" in spec:
            value = params.get(spec["param"])
        elif "parent" in spec:
            value = context.get(spec["parent"])
        elif "column" in spec:
            value = node.get(spec["column"])
        else:
            found = node.xpath(spec["path"], namespaces=self.namespaces)
            value = (
                found[0].text
                if found and hasattr(found[0], "text")
                else found[0]
                if found
                else None
            )
        for step in spec.get("transform", []):
            value = NAMED[step](value)
        if spec.get("code") and value is not None:
            table = self.codes[spec["code"]]
            if value not in table:
                raise ValueError(f"{value!r} is not in code table {spec['code']}")
            value = table[value]
        return value

    def _emit(
        self,
        spec: dict[str, Any],
        node: Any,
        parent: int | None,
        context: dict[str, Any],
        lineage: dict[str, Any],
        params: dict[str, Any],
        result: MappingResult,
    ) -> None:
        name = spec["name"]
        records = result.records.setdefault(name, [])
        index = result.next_index(name)
        result.seen += 1
        values: dict[str, Any] = {}
        for target, field_spec in spec.get("fields", {}).items():
            try:
                values[target] = self._value(field_spec, node, params, context)
            except ValueError as exc:
                result.refused.append(Refused(name, index, f"{name}.{target}", None, str(exc)))
                self._refuse_children(spec, node, name, result)
                return
        if "months_of" in spec:  # one input element, many facts: the 24-month string
            self._emit_months(spec, node, parent, context, lineage, result)
            result.seen -= 1
            return
        try:
            present = {k: v for k, v in values.items() if v is not None}  # absent: the default
            model = _model(spec["model"]).model_validate({**present, "lineage": lineage})
        except ValidationError as err:
            for detail in err.errors(include_url=False):
                path = ".".join(map(str, detail["loc"]))
                result.refused.append(
                    Refused(
                        name,
                        index,
                        f"{name}.{path}" if path else name,
                        detail.get("input"),
                        detail["msg"],
                    )
                )
            self._refuse_children(spec, node, name, result)
            return
        records.append(MappedRecord(name, model, parent))
        own = len(records) - 1
        child_context = {**context, **{f"{name}.{k}": v for k, v in values.items()}}
        for child in spec.get("children", []):
            for child_node in node.xpath(child["select"], namespaces=self.namespaces):
                self._emit(child, child_node, own, child_context, lineage, params, result)

    def _emit_months(
        self,
        spec: dict[str, Any],
        node: Any,
        parent: int | None,
        context: dict[str, Any],
        lineage: dict[str, Any],
        result: MappingResult,
    ) -> None:
        name, source = spec["name"], spec["months_of"]
        raw = self._value({"path": source["path"]}, node, {}, context)
        records = result.records.setdefault(name, [])
        try:
            facts = status_24m(raw, context[source["report_date"]])
        except ValueError as exc:
            result.seen += 1
            result.refused.append(
                Refused(name, result.next_index(name), f"{name}.{source['path']}", raw, str(exc))
            )
            return
        model = _model(spec["model"])
        for fact in facts:
            result.seen += 1
            records.append(
                MappedRecord(name, model.model_validate({**fact, "lineage": lineage}), parent)
            )

    def _refuse_children(
        self, spec: dict[str, Any], node: Any, name: str, result: MappingResult
    ) -> None:
        """Children of a refused record are refused with it: nothing partial is kept."""
        if self.format != "xml":
            return
        for child in spec.get("children", []):
            for _ in node.xpath(child["select"], namespaces=self.namespaces):
                result.seen += 1
                result.refused.append(
                    Refused(
                        child["name"],
                        result.next_index(child["name"]),
                        None,
                        None,
                        f"its {name} was refused",
                    )
                )


@cache
def _load(name: str) -> Mapping:
    path = HERE / f"{name}.yaml"
    if not path.exists():
        raise MappingError(f"no mapping {name} (looked for {path})")
    raw = path.read_bytes()
    return Mapping(yaml.safe_load(raw), hashlib.sha256(raw).hexdigest()[:16], name)


def available() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.yaml"))
