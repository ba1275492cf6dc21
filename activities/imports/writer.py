"""Insert checked rows in bulk: COPY on PostgreSQL, bulk_create on other databases.

By the time rows reach a `RowWriter` every value has been checked and converted
(ids, aware datetimes, strings), so building a model instance and an INSERT
statement per row, as bulk_create does, is pure overhead: on PostgreSQL the rows
are streamed to `COPY ... FROM STDIN` as CSV instead, in chunks, which is what
keeps a million-row import within a few times COPY's own rate
(bench/bench_import.py). Constraints, foreign keys and indexes apply as with an
INSERT; a violation raises IntegrityError and the surrounding transaction rolls
the whole import back.
"""

from __future__ import annotations

import csv
import io

from django.db import connection, models
from django.utils import timezone

CHUNK_ROWS = 20_000


class RowWriter:
    """Rows of `model` as tuples in the order of `fields`; `flush()` writes what is left."""

    def __init__(self, model: type[models.Model], fields: tuple[str, ...], *, chunk_rows: int | None = None):
        self.model = model
        self.fields = tuple(fields)
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self.rows: list[tuple] = []
        meta = model._meta
        # auto_now / auto_now_add fields that the caller does not give are set here, as save() would.
        self.stamped = tuple(
            field.name
            for field in meta.concrete_fields
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            if field.name not in self.fields and field.attname not in self.fields
        )
        self.copy = connection.vendor == "postgresql"
        if self.copy:
            columns = [meta.get_field(name).column for name in (*self.fields, *self.stamped)]
            # In CSV, an unquoted empty value is NULL: text columns that may not be NULL take it as "".
            not_null = [
                meta.get_field(name).column
                for name in self.fields
                if isinstance(meta.get_field(name), models.CharField | models.TextField)
                and not meta.get_field(name).null
            ]
            quote = connection.ops.quote_name
            options = "FORMAT csv"
            if not_null:
                options += f", FORCE_NOT_NULL ({', '.join(quote(c) for c in not_null)})"
            self.sql = (
                f"COPY {quote(meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
                f"FROM STDIN WITH ({options})"
            )

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        now = timezone.now()
        stamps = (now,) * len(self.stamped)
        if self.copy:
            self._copy(rows, stamps)
        else:
            objs = [
                self.model(**dict(zip(self.fields, row, strict=True)), **dict.fromkeys(self.stamped, now))
                for row in rows
            ]
            self.model.objects.bulk_create(objs, batch_size=1000)

    def _copy(self, rows: list[tuple], stamps: tuple) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if stamps:
            writer.writerows(row + stamps for row in rows)
        else:
            writer.writerows(rows)
        data = buffer.getvalue()
        # wrap_database_errors: a violation comes out as Django's IntegrityError, as from an INSERT.
        with connection.cursor() as cursor, connection.wrap_database_errors:
            raw = cursor.cursor
            if hasattr(raw, "copy_expert"):  # psycopg2
                raw.copy_expert(self.sql, io.StringIO(data))
            else:  # psycopg 3
                with raw.copy(self.sql) as copy:
                    copy.write(data)
