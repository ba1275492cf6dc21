"""What an import tells its caller: a file-level error, or a report of every row."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# The report lists this many errors (and warnings); the rest are only counted, so a
# million bad rows cannot blow up the memory of the worker or the page.
MAX_LISTED = 1000


class ImportFileError(Exception):
    """The file (or its mapping) cannot be read at all; the message says why."""


@dataclass(frozen=True)
class RowError:
    """One problem: the data row as a spreadsheet numbers it (the header is row 1)."""

    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        if self.row <= 1 and not self.value:
            return _("column %(column)s: %(reason)s") % {"column": self.column, "reason": self.reason}
        return _("row %(row)s, column %(column)s, value '%(value)s': %(reason)s") % {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "reason": self.reason,
        }


@dataclass
class ImportReport:
    kind: str
    filename: str
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    # Totals, including the problems past MAX_LISTED that are not listed.
    error_count: int = 0
    warning_count: int = 0
    # Rows of other models created on the way (teams, territories, accounts, products), by model.
    related_created: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add_error(self, row: int, column: str, value, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED:
            self.errors.append(RowError(row, column, _text(value), str(reason)))

    def add_warning(self, row: int, column: str, value, reason: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append(RowError(row, column, _text(value), str(reason)))

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        data["summary"] = self.summary()
        return data

    def summary(self) -> str:
        counts = {
            "filename": self.filename,
            "rows": ngettext("%(count)s row", "%(count)s rows", self.rows) % {"count": self.rows},
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": ngettext("%(count)s error", "%(count)s errors", self.error_count)
            % {"count": self.error_count},
            "warnings": ngettext("%(count)s warning", "%(count)s warnings", self.warning_count)
            % {"count": self.warning_count},
        }
        if not self.ok:
            return _("%(filename)s: %(errors)s in %(rows)s; nothing was written (%(warnings)s).") % counts
        if self.dry_run:
            return (
                _(
                    "%(filename)s: %(rows)s checked, dry run: would create %(created)s, update "
                    "%(updated)s, leave %(unchanged)s unchanged; nothing was written (%(warnings)s)."
                )
                % counts
            )
        return (
            _(
                "%(filename)s: %(rows)s imported: %(created)s created, %(updated)s updated, "
                "%(unchanged)s unchanged (%(warnings)s)."
            )
            % counts
        )


def _text(value) -> str:
    if value is None:
        return ""
    text = str(value)
    # A report is shown on a page and in a terminal: keep one huge cell from flooding it.
    return text if len(text) <= 200 else text[:197] + "..."
