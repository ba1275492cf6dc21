"""The stage history of deals: one row per move (deal, stage, when), from a CRM's history export.

For every deal the file mentions, its rows are the deal's whole history: sorted by
time, the first row is the stage it opened in and each next row a move from the
previous one. Importing replaces the deal's recorded moves (DealStageChange) with
them, so the funnel counts how far the deal really got. Deals the file does not
mention keep theirs. A deal's history must end in the stage the deal is in now
(import the deals first, or together with `import_deals --history`).

The rows of one deal may lie anywhere in the file. To check a history as a whole
without holding the file in memory, pass 1 writes each checked row to a temporary
SQLite file and reads it back sorted by deal and time (an external sort); only one
chunk of deals is in memory at a time. The plan (which deals change) stays in that
file for pass 2, which deletes and inserts in chunks.
"""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import UTC, date, datetime
from itertools import groupby

from django.utils.translation import gettext as _

from activities.models import Deal, DealStageChange, Stage

from .kinds import LABELS, Kind, RepIndex, _by_name
from .mapping import Record
from .writer import RowWriter

CHUNK_DEALS = 1000


class StageHistoryKind(Kind):
    name = "stage_history"
    fields = ("deal", "stage", "changed_at", "source")
    required = ("deal", "stage", "changed_at")
    # Nothing is spooled per batch: the plan is made in `after_check` and written by `finish`.
    spools = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reps = RepIndex(by=self.by)
        self.stages = _by_name(Stage.objects.all())
        self.stage_names = {stage.pk: stage.name for stage in self.stages.values()}
        self.closed_stages = {stage.pk for stage in self.stages.values() if stage.is_closed}
        self.store_file = tempfile.NamedTemporaryFile(suffix=".sqlite3")  # noqa: SIM115 - closed in close()
        self.store = sqlite3.connect(self.store_file.name)
        self.store.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE move (deal INTEGER, at TEXT, row INTEGER, stage INTEGER, raw_at TEXT);
            CREATE TABLE deal (id INTEGER PRIMARY KEY, stage INTEGER, opened TEXT, closed TEXT,
                               expected TEXT, bad INTEGER DEFAULT 0);
            CREATE TABLE plan (deal INTEGER PRIMARY KEY);
            CREATE TABLE bad_ref (source TEXT, ref TEXT);
            """
        )
        self.planned = 0

    def close(self) -> None:
        self.store.close()
        self.store_file.close()

    def key(self, rec: Record) -> str | None:
        return None  # a deal has many rows; a repeated (deal, time) is checked per history

    # --- pass 1, row by row ----------------------------------------------------------------

    def parse(self, rec: Record) -> None:
        data = rec.data
        data["source"] = self.source(rec)
        data["deal_ref"] = self.string(rec, "deal", 100, required=True)
        stage = self.named(rec, "stage", self.stages, label=LABELS["stage"])
        if stage is None and not rec.has("stage"):
            self.error(rec, "stage", _("a value is required"))
        data["stage"] = stage
        data["changed_at"] = self.moment(rec, "changed_at", required=True)

    def plan(self, recs: list[Record]) -> None:
        refs: dict[str, set[str]] = {}
        for rec in recs:
            refs.setdefault(rec.data["source"], set()).add(rec.data["deal_ref"])
        deals = {}
        for source, ids in refs.items():
            # Only the deals of the reps the user may see: another's reads as no deal at all.
            rows = self.reps.scope(
                Deal.objects.filter(source=source, external_id__any_of=ids).exclude(external_id="")
            )
            for deal in rows.order_by().only(
                "id", "external_id", "owner_id", "stage_id", "opened_on", "closed_on", "expected_close_on"
            ):
                deals[(source, deal.external_id)] = deal
        moves, known = [], []
        for rec in recs:
            data = rec.data
            deal = deals.get((data["source"], data["deal_ref"]))
            if deal is None:
                self.error(
                    rec,
                    "deal",
                    _("no deal with this external id (source %(source)s); import the deals first")
                    % {"source": data["source"]},
                )
                continue
            rec.action = None  # counted per deal in after_check
            known.append(
                (
                    deal.pk,
                    deal.stage_id,
                    _iso(deal.opened_on),
                    _iso(deal.closed_on),
                    _iso(deal.expected_close_on),
                )
            )
            moves.append(
                (
                    deal.pk,
                    # In UTC, so that the text sorts as the instants do (autumn repeats a local hour).
                    data["changed_at"].astimezone(UTC).isoformat(),
                    rec.row,
                    data["stage"].pk,
                    str(rec.value("changed_at")),
                )
            )
        self.store.executemany(
            "INSERT OR IGNORE INTO deal (id, stage, opened, closed, expected) VALUES (?, ?, ?, ?, ?)", known
        )
        self.store.executemany("INSERT INTO move VALUES (?, ?, ?, ?, ?)", moves)

    def check(self, batch: list[Record]) -> None:
        super().check(batch)
        # A deal with a bad row is not checked as a whole: its history is incomplete anyway.
        self.store.executemany(
            "INSERT INTO bad_ref VALUES (?, ?)",
            [
                (rec.data["source"], rec.data["deal_ref"])
                for rec in batch
                if not rec.ok and rec.data.get("deal_ref")
            ],
        )

    # --- after pass 1: each deal's history as a whole -------------------------------------------

    def after_check(self) -> None:
        self._mark_bad_deals()
        self.store.execute("CREATE INDEX move_order ON move (deal, at, row)")
        report = self.report
        column = {name: self.columns.bound.get(name, (0, name))[1] for name in ("stage", "changed_at")}
        ordered = self.store.execute(
            "SELECT m.deal, m.at, m.row, m.stage, m.raw_at, d.stage, d.opened, d.bad, d.closed "
            "FROM move m JOIN deal d ON d.id = m.deal ORDER BY m.deal, m.at, m.row"
        )
        chunk: list[tuple[int, list]] = []
        for deal_id, rows in groupby(ordered, key=lambda row: row[0]):
            rows = list(rows)
            if rows[0][7]:
                continue
            history = self._history(deal_id, rows, column)
            if history is not None:
                chunk.append((deal_id, history))
            if len(chunk) >= CHUNK_DEALS:
                self._compare(chunk)
                chunk = []
        if chunk:
            self._compare(chunk)
        if not report.ok:
            report.created = report.updated = report.unchanged = 0

    def _mark_bad_deals(self) -> None:
        # The rows with errors never reached the store: flag their deals by external id.
        cursor = self.store.execute("SELECT DISTINCT source, ref FROM bad_ref")
        while chunk := cursor.fetchmany(CHUNK_DEALS):
            by_source: dict[str, list[str]] = {}
            for source, ref in chunk:
                by_source.setdefault(source, []).append(ref)
            ids = []
            for source, refs in by_source.items():
                rows = Deal.objects.filter(source=source, external_id__any_of=refs)
                ids += self.reps.scope(rows).values_list("id", flat=True)
            self.store.executemany("UPDATE deal SET bad = 1 WHERE id = ?", [(pk,) for pk in ids])

    def _history(self, deal_id: int, rows: list, column: dict) -> list | None:
        """[(from_stage, to_stage, changed_at, row)], or None after reporting what is wrong."""
        history, previous, ok = [], None, True
        opened = rows[0][6]
        for _deal, at, row, stage, raw_at, _current, _opened, _bad, _closed in rows:
            moment = datetime.fromisoformat(at)
            if moment.astimezone(self.tz).date().isoformat() < opened:
                self.report.add_error(
                    row,
                    column["changed_at"],
                    raw_at,
                    _("before the deal was opened (%(day)s)") % {"day": opened},
                )
                ok = False
                continue
            if stage == previous:
                self.report.add_warning(
                    row,
                    column["stage"],
                    self.stage_names[stage],
                    _("the deal is already in this stage at that time; the row is ignored"),
                )
                continue
            history.append((previous, stage, moment, row))
            previous = stage
        current = rows[0][5]
        if ok and history and history[-1][1] != current:
            last = history[-1]
            self.report.add_error(
                last[3],
                column["stage"],
                self.stage_names[last[1]],
                _("the deal is now in %(stage)s: its history must end in that stage")
                % {"stage": self.stage_names[current]},
            )
            ok = False
        closed = rows[0][8]
        if ok and history and closed and history[-1][1] in self.closed_stages:
            last = history[-1]
            day = last[2].astimezone(self.tz).date().isoformat()
            if day != closed:
                # Kept as the file says: the figures count the deal on closed_on, the funnel on the moves.
                self.report.add_warning(
                    last[3],
                    column["changed_at"],
                    day,
                    _("the deal closed on %(day)s, not on the day of this move") % {"day": closed},
                )
        return history if ok else None

    def _compare(self, chunk: list[tuple[int, list]]) -> None:
        existing: dict[int, list] = {}
        rows = (
            DealStageChange.objects.filter(deal_id__in=[deal_id for deal_id, _h in chunk])
            .order_by("deal_id", "changed_at", "id")
            .values_list("deal_id", "from_stage_id", "to_stage_id", "changed_at")
        )
        for deal_id, from_stage, to_stage, at in rows:
            existing.setdefault(deal_id, []).append((from_stage, to_stage, at))
        changed = []
        for deal_id, history in chunk:
            wanted = [(from_stage, to_stage, at) for from_stage, to_stage, at, _row in history]
            if existing.get(deal_id, []) == wanted:
                self.report.unchanged += len(history)
            else:
                self.report.created += len(history)
                changed.append((deal_id,))
        self.store.executemany("INSERT INTO plan VALUES (?)", changed)
        self.planned += len(changed)

    # --- pass 2 ---------------------------------------------------------------------------

    def spool(self, recs: list[Record]):
        return None

    def write_spooled(self, batch) -> None:
        pass

    def finish(self) -> None:
        """Replace the moves of the planned deals, a chunk of deals at a time."""
        writer = RowWriter(
            DealStageChange, ("deal_id", "from_stage_id", "to_stage_id", "changed_at", "by_id")
        )
        by_id = self.by.pk if self.by is not None else None
        planned = self.store.cursor()
        planned.execute("SELECT deal FROM plan ORDER BY deal")
        while chunk := [deal_id for (deal_id,) in planned.fetchmany(CHUNK_DEALS)]:
            DealStageChange.objects.filter(deal_id__in=chunk).delete()
            moves = self.store.execute(
                "SELECT deal, at, stage FROM move WHERE deal BETWEEN ? AND ? "
                "AND deal IN (SELECT deal FROM plan) ORDER BY deal, at, row",
                (chunk[0], chunk[-1]),
            )
            for deal_id, rows in groupby(moves, key=lambda row: row[0]):
                previous = None
                for _deal, at, stage in rows:
                    if stage != previous:  # as in _history: a repeated stage is no move
                        writer.add((deal_id, previous, stage, datetime.fromisoformat(at), by_id))
                        previous = stage
            writer.flush()
            days = self.store.execute(
                "SELECT opened, closed, expected FROM deal WHERE id BETWEEN ? AND ? "
                "AND id IN (SELECT deal FROM plan)",
                (chunk[0], chunk[-1]),
            )
            self.days.update(date.fromisoformat(day) for row in days for day in row if day)
        super().finish()


def _iso(day) -> str | None:
    return day.isoformat() if day else None
