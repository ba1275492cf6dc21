"""Insert checked rows in bulk: COPY on PostgreSQL, bulk_create on other databases
(or, asked for, one executemany() of a plain INSERT on SQLite).

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
# Field types whose values the SQLite lane adapts itself (see RowWriter._adapter).
SIMPLE_TYPES = {
    "AutoField", "BigAutoField", "ForeignKey", "IntegerField", "BigIntegerField", "SmallIntegerField",
    "PositiveIntegerField", "PositiveSmallIntegerField", "PositiveBigIntegerField", "CharField",
    "TextField", "BooleanField", "DateTimeField", "DateField", "DecimalField",
}  # fmt: skip


class RowWriter:
    """Rows of `model` as tuples in the order of `fields`; `flush()` writes what is left.

    `executemany=True` lets SQLite take one executemany() of a plain INSERT instead of
    bulk_create, which spends ~85 us a row preparing values in Python there (executemany
    ~10 us): the demo's lane. Only when every column is of a SIMPLE_TYPES type; columns not
    in `fields` take their field's default. `count` is the number of rows written.
    """

    def __init__(
        self,
        model: type[models.Model],
        fields: tuple[str, ...],
        *,
        chunk_rows: int | None = None,
        executemany: bool = False,
    ):
        self.model = model
        self.fields = tuple(fields)
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self.rows: list[tuple] = []
        self.count = 0
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
        concrete = [f for f in meta.concrete_fields if not f.primary_key]
        self.executemany = (
            executemany
            and connection.vendor == "sqlite"
            and all(f.get_internal_type() in SIMPLE_TYPES for f in meta.concrete_fields)
        )
        if self.executemany:
            given = {meta.get_field(name).attname: i for i, name in enumerate(self.fields)}
            for f in concrete:
                if f.attname not in given and f.has_default() and callable(f.default):
                    raise TypeError(f"{model.__name__}.{f.name} has a callable default")
            self.columns = [(f, given.get(f.attname)) for f in concrete]
            quote = connection.ops.quote_name
            self.insert = "INSERT INTO {} ({}) VALUES ({})".format(
                quote(meta.db_table),
                ", ".join(quote(f.column) for f, _i in self.columns),
                ", ".join(["%s"] * len(self.columns)),
            )

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        self.count += len(rows)
        now = timezone.now()
        stamps = (now,) * len(self.stamped)
        if self.copy:
            self._copy(rows, stamps)
        elif self.executemany:
            self._executemany(rows, now)
        else:
            objs = [
                self.model(**dict(zip(self.fields, row, strict=True)), **dict.fromkeys(self.stamped, now))
                for row in rows
            ]
            self.model.objects.bulk_create(objs, batch_size=1000)

    @staticmethod
    def _adapter(field):
        """The backend's own adapter for the field's type (None: the value passes as it is)."""
        ops, kind = connection.ops, field.get_internal_type()
        if kind == "DateTimeField":
            return ops.adapt_datetimefield_value
        if kind == "DateField":
            return ops.adapt_datefield_value
        if kind == "DecimalField":
            return lambda v: ops.adapt_decimalfield_value(v, field.max_digits, field.decimal_places)
        return None  # ints, strings, booleans and None

    def _executemany(self, rows: list[tuple], now) -> None:
        # A column not given repeats one value on every row: adapted once.
        plan = []
        for field, index in self.columns:
            adapt = self._adapter(field)
            if index is None:
                stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
                value = now if stamped else field.get_default()
                plan.append((None, adapt(value) if adapt else value, None))
            else:
                plan.append((index, None, adapt))
        params = [
            tuple(
                constant if index is None else row[index] if adapt is None else adapt(row[index])
                for index, constant, adapt in plan
            )
            for row in rows
        ]
        with connection.cursor() as cursor:
            cursor.executemany(self.insert, params)

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
