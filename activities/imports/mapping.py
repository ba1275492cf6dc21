"""How the columns of a file become the fields of a kind: the mapping file and the header.

A mapping (JSON) renames columns, translates values and fills defaults:

    {"columns": {"sales_agent": "owner", "close_value": "amount"},
     "values": {"stage": {"Prospecting": "Lead"}},
     "defaults": {"source": "crm"},
     "date_format": "%d/%m/%Y",
     "skip_columns": ["notes_internal"],
     "create_missing": ["account"]}

Without a mapping, a column whose header is a field name (any case, spaces or
hyphens for underscores) is that field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.utils.translation import gettext as _

from .report import ImportFileError, ImportReport

MAPPING_KEYS = {
    "columns",
    "values",
    "defaults",
    "date_format",
    "datetime_format",
    "skip_columns",
    "create_missing",
}


def load_mapping(path) -> dict:
    """Read a mapping file; anything but a JSON object is an ImportFileError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ImportFileError(
            _("The mapping file %(path)s cannot be read: %(reason)s") % {"path": path, "reason": exc.strerror}
        ) from exc
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            _("The mapping file %(path)s is not UTF-8 text (byte offset %(offset)s).")
            % {"path": path, "offset": exc.start}
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            _("The mapping file %(path)s is not valid JSON: %(reason)s at line %(line)s, column %(col)s.")
            % {"path": path, "reason": exc.msg, "line": exc.lineno, "col": exc.colno}
        ) from exc
    if not isinstance(data, dict):
        raise ImportFileError(_("The mapping file %(path)s must hold a JSON object.") % {"path": path})
    return data


def normalise_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", (name or "").strip().lower())


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    datetime_format: str | None = None
    skip_columns: set[str] = field(default_factory=set)
    create_missing: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, raw: dict | None, *, kind) -> Mapping:
        """Check a mapping against the fields of `kind`; every mistake is named in one error."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ImportFileError(_("The mapping must be a JSON object."))
        problems: list[str] = []
        unknown_keys = sorted(set(raw) - MAPPING_KEYS)
        if unknown_keys:
            problems.append(
                _("unknown keys %(keys)s (allowed: %(allowed)s)")
                % {"keys": ", ".join(unknown_keys), "allowed": ", ".join(sorted(MAPPING_KEYS))}
            )
        fields = set(kind.fields)

        def str_dict(key, value) -> dict:
            if value is None:
                return {}
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
            ):
                problems.append(_('"%(key)s" must map names to text') % {"key": key})
                return {}
            return {k: str(v) for k, v in value.items()}

        columns = str_dict("columns", raw.get("columns"))
        bad = sorted({target for target in columns.values() if target not in fields})
        if bad:
            problems.append(
                _('"columns" maps to unknown fields of %(kind)s: %(bad)s (fields: %(fields)s)')
                % {"kind": kind.name, "bad": ", ".join(bad), "fields": ", ".join(kind.fields)}
            )
        values: dict[str, dict[str, str]] = {}
        raw_values = raw.get("values") or {}
        if not isinstance(raw_values, dict):
            problems.append(_('"values" must be an object of field: {value: value}'))
            raw_values = {}
        for target, table in raw_values.items():
            if target not in fields:
                problems.append(
                    _('"values" names an unknown field of %(kind)s: %(bad)s')
                    % {"kind": kind.name, "bad": target}
                )
                continue
            values[target] = str_dict(f"values.{target}", table)
        defaults = str_dict("defaults", raw.get("defaults"))
        allowed_defaults = fields | set(kind.options)
        bad = sorted(set(defaults) - allowed_defaults)
        if bad:
            problems.append(
                _('"defaults" names unknown fields of %(kind)s: %(bad)s')
                % {"kind": kind.name, "bad": ", ".join(bad)}
            )
        formats = {}
        for key in ("date_format", "datetime_format"):
            value = raw.get(key)
            if value is None:
                formats[key] = None
                continue
            if not isinstance(value, str) or "%" not in value:
                problems.append(_('"%(key)s" must be a strptime format such as "%%d/%%m/%%Y"') % {"key": key})
                formats[key] = None
                continue
            try:
                datetime.now().strftime(value)
            except ValueError:
                problems.append(
                    _('"%(key)s" is not a valid format: %(value)s') % {"key": key, "value": value}
                )
            formats[key] = value
        skip = raw.get("skip_columns") or []
        if not isinstance(skip, list) or not all(isinstance(name, str) for name in skip):
            problems.append(_('"skip_columns" must be a list of column names'))
            skip = []
        create = raw.get("create_missing") or []
        if not isinstance(create, list) or not all(isinstance(name, str) for name in create):
            problems.append(_('"create_missing" must be a list'))
            create = []
        bad = sorted(set(create) - set(kind.creatable))
        if bad:
            problems.append(
                _('"create_missing" cannot create %(bad)s for %(kind)s (allowed: %(allowed)s)')
                % {
                    "bad": ", ".join(bad),
                    "kind": kind.name,
                    "allowed": ", ".join(kind.creatable) or _("nothing"),
                }
            )
        if problems:
            raise ImportFileError(
                _("The mapping is invalid: %(problems)s.") % {"problems": "; ".join(problems)}
            )
        return cls(
            columns=columns,
            values=values,
            defaults=defaults,
            date_format=formats["date_format"],
            datetime_format=formats["datetime_format"],
            skip_columns=set(skip),
            create_missing=set(create),
        )

    def bind(self, header: list[str], *, kind, report: ImportReport) -> Columns:
        """Which column holds which field; missing required columns are an ImportFileError."""
        bound: dict[str, tuple[int, str]] = {}
        for index, column in enumerate(header):
            if not column or column in self.skip_columns:
                continue
            target = self.columns.get(column)
            if target is None:
                target = normalise_header(column)
                if target not in kind.fields:
                    report.add_warning(
                        1, column, "", _("not a field of %(kind)s; ignored") % {"kind": kind.name}
                    )
                    continue
            if target in bound:
                raise ImportFileError(
                    _("The columns %(first)s and %(second)s both give the field %(field)s; keep one.")
                    % {"first": bound[target][1], "second": column, "field": target}
                )
            bound[target] = (index, column)
        missing = [name for name in kind.required if name not in bound and name not in self.defaults]
        for group in kind.required_one_of:
            if not any(name in bound or name in self.defaults for name in group):
                missing.append(" or ".join(group))
        if missing:
            raise ImportFileError(
                _(
                    "Required columns are missing: %(missing)s. The file has: %(header)s. "
                    "Rename the columns or map them with a mapping file."
                )
                % {"missing": ", ".join(missing), "header": ", ".join(h for h in header if h)}
            )
        return Columns(bound, self)


class Record:
    """One data row: the raw cell of each field (value-mapped, default-filled), then parsed data."""

    __slots__ = ("row", "cells", "data", "action", "existing", "ok")

    def __init__(self, row: int, cells: dict):
        self.row = row
        self.cells = cells  # field -> (column, value)
        self.data: dict = {}
        self.action: str | None = None  # "create", "update" or "unchanged"
        self.existing = None
        self.ok = True

    def value(self, name: str):
        cell = self.cells.get(name)
        return cell[1] if cell else None

    def column(self, name: str) -> str:
        cell = self.cells.get(name)
        return cell[0] if cell else name

    def has(self, name: str) -> bool:
        value = self.value(name)
        return value is not None and not (isinstance(value, str) and value == "")


class Columns:
    def __init__(self, bound: dict[str, tuple[int, str]], mapping: Mapping):
        self.bound = bound
        self.mapping = mapping
        # What record() does per field, worked out once: (field, index, column, value map, default).
        self._plan = [
            (name, index, column, mapping.values.get(name) or None, mapping.defaults.get(name))
            for name, (index, column) in bound.items()
        ]
        self._unbound_defaults = [
            (name, (name, value)) for name, value in mapping.defaults.items() if name not in bound
        ]

    def has(self, name: str) -> bool:
        return name in self.bound or name in self.mapping.defaults

    def record(self, row: int, values: list, report: ImportReport) -> Record:
        cells = {}
        for name, index, column, table, default in self._plan:
            value = values[index]
            if isinstance(value, str):
                value = value.strip()
            elif value is None:
                value = ""
            if table is not None and value != "":
                key = str(value)
                if key in table:
                    value = table[key]
            if value == "" and default is not None:
                value = default
                report.add_warning(
                    row, column, "", _("empty; the default %(default)r was used") % {"default": value}
                )
            cells[name] = (column, value)
        cells.update(self._unbound_defaults)
        return Record(row, cells)
