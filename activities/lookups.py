"""`field__any_of=[...]`: membership in a long list that the planner looks up row by row.

With a long literal list (`IN (...)` or `= ANY('{...}')`), PostgreSQL estimates each
element against the column's statistics. Right after a bulk load those statistics are
stale, and it then chose to scan every row of the source for each batch of 1,000
external ids (20 ms a batch on 100,000 rows, growing with the table). Hidden behind
`ARRAY(SELECT unnest(...))` the list is one parameter, and the plan is an index probe
per element (4 ms), whatever the statistics say. Other databases get a plain IN.
"""

from __future__ import annotations

from django.db.models import CharField, Lookup


@CharField.register_lookup
class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        values = [str(v) for v in value]
        if connection.vendor == "postgresql":
            return "%s", [values]
        return "(" + ", ".join(["%s"] * len(values)) + ")", values

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if not rhs_params:
            return "1 = 0", []  # nothing is a member of an empty list
        return f"{lhs} IN {rhs}", [*lhs_params, *rhs_params]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY(ARRAY(SELECT unnest({rhs}::text[])))", [*lhs_params, *rhs_params]
