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

import csv
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
    index: int | None = None  # its position among the source's ``name`` records, refused too


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

    counters: dict[str, int] = field(default_factory=dict)

    @property
    def refused_records(self) -> int:
        """Records refused (one record may break several rules): seen = mapped + this."""
        return len({(r.record, r.index) for r in self.refused})

    def take_index(self, name: str) -> int:
        """The next position among the ``name`` records of the source, refused or mapped."""
        index = self.counters.get(name, 0)
        self.counters[name] = index + 1
        return index


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

    @classmethod
    def current(cls, name: str) -> Mapping:
        """The mapping as its file is now, read again: a long-running process (the dashboard)
        reprocessing after a mapping fix must not map with the version it loaded at start."""
        _load.cache_clear()
        return _load(name)

    def parents(self) -> dict[str, str]:
        """Each child record's parent record (``account`` -> ``report``): what a stored child
        row links to."""
        found: dict[str, str] = {}

        def walk(records: list[dict[str, Any]], parent: str | None) -> None:
            for record in records:
                if parent is not None:
                    found[record["name"]] = parent
                walk(record.get("children", []), record["name"])

        walk(self.spec["records"], None)
        return found

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
            for node in self._instances(payload, spec, result):
                self._emit(spec, node, None, {}, lineage, params or {}, result)
        return result

    def _instances(
        self, payload: bytes | list[dict[str, str]], spec: dict[str, Any], result: MappingResult
    ) -> Iterator[Any]:
        if isinstance(payload, list):  # rows already read off a screen: header -> cell text
            if self.format == "xml":
                raise MappingError(f"{self.name} maps XML, not table rows")
            yield from payload
        elif self.format == "xml":
            if b"<!DOCTYPE" in payload[:4096]:
                raise ValueError("a DTD in a source document is refused")
            root = etree.fromstring(payload, _PARSER)
            yield from root.xpath(spec["select"], namespaces=self.namespaces)
        else:
            yield from self._csv_rows(payload, spec["name"], result)

    def _csv_rows(
        self, payload: bytes, name: str, result: MappingResult
    ) -> Iterator[dict[str, str]]:
        """Rows of a CSV file, line by line: a line that does not decode, or whose field count
        differs from the header's, is refused on its own and the rest go on."""
        encoding = self.spec.get("encoding", "utf-8")
        lines = [line for line in payload.replace(b"\r\n", b"\n").split(b"\n") if line]
        if not lines:
            return
        header = next(csv.reader([lines[0].decode(encoding)]))
        skip = self.spec.get("skip_prefix")
        for number, raw in enumerate(lines[1:], 2):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                self._refuse(result, name, f"line {number}", raw, f"not {encoding}: {exc}")
                continue
            if skip and line.startswith(skip):
                continue
            cells = next(csv.reader([line]))
            if len(cells) != len(header):
                self._refuse(
                    result,
                    name,
                    f"line {number}",
                    line,
                    f"{len(cells)} fields where the header has {len(header)}",
                )
                continue
            yield dict(zip(header, cells, strict=True))

    @staticmethod
    def _refuse(
        result: MappingResult, name: str, path: str | None, value: Any, reason: str
    ) -> None:
        result.seen += 1
        result.refused.append(Refused(name, result.take_index(name), path, value, reason))

    def _raw(
        self, spec: dict[str, Any], node: Any, params: dict[str, Any], context: dict[str, Any]
    ) -> Any:
        """The field's value as the source has it, before any transform."""
        if "const" in spec:
            return spec["const"]
        if "param" in spec:
            return params.get(spec["param"])
        if "lookup" in spec:  # a per-row value the caller knows, e.g. request id -> subject
            return params.get(spec["lookup"], {}).get(node.get(spec["by"]))
        if "parent" in spec:
            return context.get(spec["parent"])
        if "column" in spec:
            return node.get(spec["column"])
        found = node.xpath(spec["path"], namespaces=self.namespaces)
        if isinstance(found, str):  # an expression's value (``concat(...)``), not a node set
            return str(found)
        if not found:
            return None
        return found[0].text if hasattr(found[0], "text") else found[0]

    def _value(self, spec: dict[str, Any], raw: Any) -> Any:
        value = raw
        for step in spec.get("transform", []):
            value = NAMED[step](value)
        if spec.get("code") and value is not None:
            table = self.codes[spec["code"]]
            if value not in table:
                raise ValueError(f"not in code table {spec['code']}")
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
        if "months_of" in spec:  # one input element, many facts: the 24-month string
            self._emit_months(spec, node, parent, context, lineage, result)
            return
        values: dict[str, Any] = {}
        for target, field_spec in spec.get("fields", {}).items():
            raw = self._raw(field_spec, node, params, context)
            try:
                values[target] = self._value(field_spec, raw)
            except ValueError as exc:
                self._refuse(result, name, f"{name}.{target}", raw, str(exc))
                self._refuse_descendants(spec, node, name, result)
                return
        present = {k: v for k, v in values.items() if v is not None}  # absent: the default
        try:
            model = _model(spec["model"]).model_validate({**present, "lineage": lineage})
        except ValidationError as err:
            index = result.take_index(name)
            result.seen += 1
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
            self._refuse_descendants(spec, node, name, result)
            return
        result.seen += 1
        records = result.records.setdefault(name, [])
        records.append(MappedRecord(name, model, parent, result.take_index(name)))
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
        raw = self._raw({"path": source["path"]}, node, {}, context)
        report_date = context.get(source["report_date"])
        try:
            if report_date is None:
                raise ValueError(f"no {source['report_date']} to date the months by")
            facts = status_24m(raw, report_date)
            model = _model(spec["model"])
            months = [model.model_validate({**fact, "lineage": lineage}) for fact in facts]
        except (ValueError, ValidationError) as exc:
            self._refuse(result, name, f"{name}.{source['path']}", raw, str(exc))
            return
        records = result.records.setdefault(name, [])
        for month in months:
            result.seen += 1
            records.append(MappedRecord(name, month, parent, result.take_index(name)))

    def _refuse_descendants(
        self, spec: dict[str, Any], node: Any, name: str, result: MappingResult
    ) -> None:
        """Everything below a refused record is refused with it: nothing partial is kept."""
        if self.format != "xml" or isinstance(node, dict):
            return
        for child in spec.get("children", []):
            for child_node in node.xpath(child["select"], namespaces=self.namespaces):
                self._refuse(result, child["name"], None, None, f"its {name} was refused")
                self._refuse_descendants(child, child_node, child["name"], result)


@cache
def _load(name: str) -> Mapping:
    path = HERE / f"{name}.yaml"
    if not path.exists():
        raise MappingError(f"no mapping {name} (looked for {path})")
    raw = path.read_bytes()
    return Mapping(yaml.safe_load(raw), hashlib.sha256(raw).hexdigest()[:16], name)


def available() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.yaml"))
