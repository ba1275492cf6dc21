"""What each kind of import accepts, how a row is checked, and how a batch is written.

The rules repeat those of `activities.services` and `metrics.services` (which work
one row at a time, too slowly for a million rows): every row is checked in the
first pass, and the second pass writes whole batches with bulk_create and
bulk_update. A kind works on batches of `Record`s:

- `parse(record)`: turn the cells into values and check the rules of the row alone;
- `plan(records)`: look up what exists (one query per batch) and decide, per row,
  "create", "update" or "unchanged", checking the rules that need the database;
- `write(records)`: write the batch (second pass only) and note the touched days.

A kind that `spools` (activities) instead turns each checked batch into a compact,
picklable `spool(records)` in the first pass, and the second pass hands those back
to `write_spooled(batch)` without reading the file again.
"""

from .activities import ActivitiesKind
from .base import (
    AMBIGUOUS,
    BATCH_SIZE,
    DEFAULT_SOURCE,
    LABELS,
    NAME_LENGTHS,
    NOT_IN_CATALOGUE,
    Kind,
    NewName,
    RepIndex,
    RepRef,
    _by_name,
    _create_named,
    taken_message,
)
from .deals import DealsKind
from .reps import RepsKind, username_from_name
from .targets import ProjectionsKind, QuotasKind, TargetsKind

__all__ = [
    "AMBIGUOUS",
    "ActivitiesKind",
    "BATCH_SIZE",
    "DEFAULT_SOURCE",
    "DealsKind",
    "Kind",
    "LABELS",
    "NAME_LENGTHS",
    "NOT_IN_CATALOGUE",
    "NewName",
    "ProjectionsKind",
    "QuotasKind",
    "RepIndex",
    "RepRef",
    "RepsKind",
    "TargetsKind",
    "_by_name",
    "_create_named",
    "taken_message",
    "username_from_name",
]
