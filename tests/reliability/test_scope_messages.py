"""The access rules, tried again through every message: nothing outside a user's scope is revealed.

For each path that resolves a reference a user types (a rep by username, e-mail or full
name, a deal by id or external id, a team, a territory), a reference to a row *outside*
the user's scope and one to a row that *does not exist* must give byte-identical answers
once the outside row's name is replaced by the missing one's. The paths: each import kind a
manager may use (the engine's report, the import command's output, the upload page), the
bulk API, the API's details, lists and metrics, the pages, and the CSV/XLSX exports.

The personas of tests/conftest.py: manager_a must learn nothing of team B (rep_b1), and
rep_a1 nothing of rep_a2's deals and activities. A taken external id is the one thing a
global uniqueness cannot hide: it answers the constraint's message, the same for every
clash whoever's row it is, and nothing else about that row.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from activities import services
from activities.imports import ImportFileError, run_import
from activities.models import (
    Account,
    Activity,
    ActivityType,
    Deal,
    ImportJob,
    Product,
    Rep,
    Source,
    Stage,
    Team,
    Territory,
)
from tests.api.conftest import relaxed_throttles, token_client  # noqa: F401 - a fixture
from tests.imports.helpers import csv_bytes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-03-02"
MOMENT = "2026-03-02 10:00"


class World:
    """The cast with rows: every rep has a deal and an activity from the CRM, with telling names."""

    def __init__(self, cast):
        self.cast = cast
        for rep, email in ((cast.rep_a1, "ana@a.example"), (cast.rep_a2, "ari@a.example")):
            rep.user.email = email
            rep.user.save(update_fields=["email"])
        cast.rep_b1.user.email = "bo@b.example"
        cast.rep_b1.user.save(update_fields=["email"])
        self.call = ActivityType.objects.get(name="Call")
        self.product = Product.objects.create(name="Widget")
        self.account = Account.objects.create(name="Acme")
        self.deals, self.activities = {}, {}
        for key, rep in (("a1", cast.rep_a1), ("a2", cast.rep_a2), ("b1", cast.rep_b1)):
            self.deals[key] = services.deal_open(
                owner=rep,
                name=f"Secret deal of {key}",
                amount=Decimal("777.77"),
                opened_on=datetime.strptime(DAY, "%Y-%m-%d").date(),
                source=Source.CRM,
                external_id=f"EXT-{key.upper()}",
                by=rep.user,
            )
            self.activities[key] = services.activity_log(
                rep=rep,
                type=self.call,
                occurred_at=timezone.make_aware(datetime(2026, 3, 2, 9, 0)),
                duration_minutes=15,
                notes=f"private note of {key}",
                source=Source.CRM,
                external_id=f"ACT-{key.upper()}",
            )
        # Whatever of team B a manager of team A must never read (besides what they typed).
        self.secrets_b = [
            "rep_b1",
            "bo@b.example",
            "Bo Three",
            "EXT-B1",
            "ACT-B1",
            "Secret deal of b1",
            "private note of b1",
            "Team B",
            "manager_b",
        ]
        # Whatever of rep_a2 rep_a1 must never read.
        self.secrets_a2 = ["EXT-A2", "ACT-A2", "Secret deal of a2", "private note of a2"]


@pytest.fixture
def world(cast):
    return World(cast)


def missing_id(model) -> int:
    return (model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 100_000


def swap_id(text: str, outside: int, missing: int, *, in_query: bool = False) -> str:
    """`text` with the id `outside` replaced by `missing` where the typed id stands.

    `in_query`: the id was typed in the query string (not the path): ids of other rows in paths stay.
    """
    patterns = (
        r"([?&;](?:amp;)?[a-z_]+=)%s(?![0-9])()",  # a query string
        r'(name="[a-z_]+" value=")%s(")',  # a form's value
        r'(\\")%s(\\")',  # a quoted id in a JSON message
    )
    if not in_query:
        patterns = (r"(/)%s(/)", *patterns)  # a path
    for pattern in patterns:
        text = re.sub(pattern % outside, rf"\g<1>{missing}\g<2>", text)
    return text


def content(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def assert_same(outside: str, missing: str, out_value: str, missing_value: str) -> None:
    assert out_value in outside or outside == missing, "the answer does not name what was typed"
    assert outside.replace(out_value, missing_value) == missing


def normalised(html: str) -> str:
    """A page without what differs on every response: CSRF tokens and script nonces."""
    html = re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]*', r"\1-", html)
    return re.sub(r'nonce="[^"]*"', 'nonce="-"', html)


def assert_reveals_nothing(text: str, secrets: list[str], typed: str = "") -> None:
    for secret in secrets:
        if secret == typed or secret in typed:
            continue
        assert secret not in text, f"{secret!r} leaked"


# --- imports ----------------------------------------------------------------------------------

ACTIVITY_HEADER = ["external_id", "rep", "type", "occurred_at", "deal"]
DEAL_HEADER = ["external_id", "name", "owner", "stage", "opened_on", "amount"]
HISTORY_HEADER = ["deal", "stage", "changed_at"]

# (kind, header, row with {ref}, the outside value, the missing value): every reference a manager types.
REFERENCES = [
    ("activities", ACTIVITY_HEADER, ["N1", "{ref}", "Call", MOMENT, ""], "rep_b1", "rep_zz"),
    ("activities", ACTIVITY_HEADER, ["N1", "{ref}", "Call", MOMENT, ""], "bo@b.example", "zz@b.example"),
    ("activities", ACTIVITY_HEADER, ["N1", "{ref}", "Call", MOMENT, ""], "Bo Three", "Zed Zero"),
    ("activities", ACTIVITY_HEADER, ["N1", "rep_a1", "Call", MOMENT, "{ref}"], "EXT-B1", "EXT-ZZ"),
    ("deals", DEAL_HEADER, ["N1", "New", "{ref}", "Lead", DAY, "10"], "rep_b1", "rep_zz"),
    ("deals", DEAL_HEADER, ["N1", "New", "{ref}", "Lead", DAY, "10"], "bo@b.example", "zz@b.example"),
    ("deals", DEAL_HEADER, ["N1", "New", "{ref}", "Lead", DAY, "10"], "Bo Three", "Zed Zero"),
    ("stage_history", HISTORY_HEADER, ["{ref}", "Lead", MOMENT], "EXT-B1", "EXT-ZZ"),
]
REFERENCE_IDS = [f"{kind}-{out}" for kind, _h, _r, out, _m in REFERENCES]


def file_for(header, row, ref) -> bytes:
    return csv_bytes(header, [[cell.replace("{ref}", ref) for cell in row]])


def report_text(report) -> str:
    lines = [report.summary(), *(str(error) for error in report.errors), *(str(w) for w in report.warnings)]
    counts = (report.rows, report.created, report.updated, report.unchanged, report.error_count)
    return "\n".join([*lines, repr(counts)])


class ImportEngineTests:
    @pytest.mark.parametrize(("kind", "header", "row", "outside", "missing"), REFERENCES, ids=REFERENCE_IDS)
    def test_an_outside_reference_reads_as_a_missing_one(self, world, kind, header, row, outside, missing):
        answers = []
        for ref in (outside, missing):
            report = run_import(
                kind, io.BytesIO(file_for(header, row, ref)), filename=f"{kind}.csv", by=world.cast.manager_a
            )
            assert not report.ok
            answers.append(report_text(report))
        assert_same(*answers, outside, missing)
        assert_reveals_nothing(answers[0], world.secrets_b, typed=outside)

    @pytest.mark.parametrize("kind", ["activities", "deals"])
    def test_the_same_reference_inside_the_scope_is_accepted(self, world, kind):
        """The control: the refusals above come from the scope, not from a bad file."""
        header, row = {
            "activities": (ACTIVITY_HEADER, ["N1", "Ari Two", "Call", MOMENT, "EXT-A2"]),
            "deals": (DEAL_HEADER, ["N1", "New", "ari@a.example", "Lead", DAY, "10"]),
        }[kind]
        report = run_import(
            kind, io.BytesIO(csv_bytes(header, [row])), filename="x.csv", by=world.cast.manager_a
        )
        assert report.ok, report.errors
        assert report.created == 1

    def test_a_name_shared_with_an_outside_rep_is_not_ambiguous(self, world):
        twin = services.rep_create(
            username="rep_b2", team=world.cast.team_b, first_name="Ana", last_name="One"
        )
        rows = [["N1", "New", "Ana One", "Lead", DAY, "10"]]
        mine = run_import(
            "deals", io.BytesIO(csv_bytes(DEAL_HEADER, rows)), filename="d.csv", by=world.cast.manager_a
        )
        assert mine.ok, mine.errors
        assert Deal.objects.get(external_id="N1").owner == world.cast.rep_a1
        # An admin sees both reps: there the name is ambiguous (so the scope made the difference).
        Deal.objects.filter(external_id="N1").delete()
        rows = [["N2", "New", "Ana One", "Lead", DAY, "10"]]
        admins = run_import(
            "deals", io.BytesIO(csv_bytes(DEAL_HEADER, rows)), filename="d.csv", by=world.cast.admin
        )
        assert not admins.ok and "more than one rep" in admins.errors[0].reason
        assert not Deal.objects.filter(owner=twin).exists()

    @pytest.mark.parametrize(
        ("kind", "header", "row", "model"),
        [
            ("activities", ACTIVITY_HEADER, ["{ref}", "rep_a1", "Call", MOMENT, ""], Activity),
            ("deals", DEAL_HEADER, ["{ref}", "New", "rep_a1", "Lead", DAY, "10"], Deal),
        ],
    )
    def test_an_external_id_taken_outside_the_scope_is_a_plain_clash(self, world, kind, header, row, model):
        taken = {"activities": "ACT-B1", "deals": "EXT-B1"}[kind]
        report = run_import(
            kind, io.BytesIO(file_for(header, row, taken)), filename="x.csv", by=world.cast.manager_a
        )
        assert [(error.column, error.value) for error in report.errors] == [("external_id", taken)]
        # The constraint's own words, as the API gives them for a clash with one's own row.
        clash = token_client(world.cast.rep_a1.user).post(
            f"/api/v1/{kind}/",
            {
                "type": world.call.pk,
                "name": "x",
                "amount": "1",
                "source": "crm",
                "external_id": f"{taken[:-2]}A1",
            },
            format="json",
        )
        assert clash.status_code == 400
        assert [report.errors[0].reason] == clash.json()["external_id"]
        assert_reveals_nothing(report_text(report), world.secrets_b, typed=taken)
        assert model.objects.get(external_id=taken).pk == getattr(world, kind)["b1"].pk

    def test_counts_leave_out_rows_outside_the_scope(self, world, tmp_path):
        """The admin's file re-imported by manager_a: 2 of its 3 rows unchanged, not 3."""
        rows = [
            [deal.external_id, deal.name, deal.owner.user.username, "Lead", DAY, "777.77"]
            for deal in world.deals.values()
        ]
        assert run_import("deals", io.BytesIO(csv_bytes(DEAL_HEADER, rows)), filename="d.csv").unchanged == 3
        path = tmp_path / "deals.csv"
        path.write_bytes(csv_bytes(DEAL_HEADER, rows))
        out = io.StringIO()
        with pytest.raises(CommandError):
            call_command(
                "import_deals", str(path), "--by", "manager_a", "--no-progress", "--dry-run", stdout=out
            )
        assert "unchanged: 2, errors: 1" in out.getvalue()
        assert_reveals_nothing(out.getvalue(), world.secrets_b, typed="rep_b1 EXT-B1 Secret deal of b1")
        path.write_bytes(csv_bytes(DEAL_HEADER, rows[:2]))
        out = io.StringIO()
        call_command("import_deals", str(path), "--by", "manager_a", "--no-progress", "--dry-run", stdout=out)
        assert "unchanged: 2, errors: 0" in out.getvalue()

    def test_a_rep_and_a_manager_import_only_their_kinds(self, world):
        data = csv_bytes(["name"], [["Gizmo"]])
        answers = set()
        for by, kind in (
            (world.cast.rep_a1.user, "activities"),
            (world.cast.rep_a1.user, "deals"),
            (world.cast.manager_a, "products"),
            (world.cast.manager_a, "reps"),
            (world.cast.manager_a, "quotas"),
        ):
            with pytest.raises(ImportFileError) as exc:
                run_import(kind, io.BytesIO(data), filename="x.csv", by=by)
            answers.add(str(exc.value))
        assert answers == {"You may not import this kind of file."}
        assert not Product.objects.filter(name="Gizmo").exists()


class ImportCommandTests:
    @pytest.mark.parametrize(("kind", "header", "row", "outside", "missing"), REFERENCES, ids=REFERENCE_IDS)
    def test_the_commands_report_reads_the_same(self, world, tmp_path, kind, header, row, outside, missing):
        answers = []
        for folder, ref in (("outside", outside), ("missing", missing)):
            path = tmp_path / folder / f"{kind}.csv"
            path.parent.mkdir()
            path.write_bytes(file_for(header, row, ref))
            out = io.StringIO()
            with pytest.raises(CommandError) as exc:
                call_command(f"import_{kind}", str(path), "--by", "manager_a", "--no-progress", stdout=out)
            answers.append(out.getvalue() + str(exc.value))
        assert_same(*answers, outside, missing)
        assert_reveals_nothing(answers[0], world.secrets_b, typed=outside)


def _errors_of_page(html: str) -> str:
    """The job page's error list and counts (the rest holds the job's id and times)."""
    start = html.index('id="import-errors"')
    return html[start : html.index("</table>", start)]


class UploadPageTests:
    @pytest.fixture(autouse=True)
    def _import_dir(self, settings, tmp_path):
        settings.SALESTRACK_IMPORT_DIR = str(tmp_path / "imports")

    @pytest.mark.parametrize(("kind", "header", "row", "outside", "missing"), REFERENCES, ids=REFERENCE_IDS)
    def test_the_job_page_reads_the_same(
        self, world, client, django_capture_on_commit_callbacks, kind, header, row, outside, missing
    ):
        client.force_login(world.cast.manager_a)
        answers = []
        for ref in (outside, missing):
            upload = SimpleUploadedFile(f"{kind}.csv", file_for(header, row, ref), content_type="text/csv")
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(reverse("import_list"), {"kind": kind, "file": upload})
            assert response.status_code == 302
            page = client.get(response["Location"])
            assert page.status_code == 200
            job = ImportJob.objects.latest("pk")
            assert job.error_count == 1
            html = page.content.decode()
            assert_reveals_nothing(html, world.secrets_b, typed=outside if ref == outside else "")
            answers.append(_errors_of_page(html) + json.dumps(job.report["errors"]))
        assert_same(*answers, outside, missing)


# --- the catalogue is the admins' -----------------------------------------------------------------

CATALOGUE_CASES = [
    (
        "deals",
        DEAL_HEADER + ["product"],
        ["N1", "New", "rep_a1", "Lead", DAY, "10", "Gizmo"],
        "product",
        Product,
    ),
    (
        "deals",
        DEAL_HEADER + ["account"],
        ["N1", "New", "rep_a1", "Lead", DAY, "10", "Gizmo"],
        "account",
        Account,
    ),
    (
        "activities",
        [*ACTIVITY_HEADER, "account"],
        ["N1", "rep_a1", "Call", MOMENT, "", "Gizmo"],
        "account",
        Account,
    ),
]


class CatalogueTests:
    @pytest.mark.parametrize(("kind", "header", "row", "column", "model"), CATALOGUE_CASES)
    @pytest.mark.parametrize("dry_run", [False, True])
    def test_a_managers_import_creates_no_catalogue_row(
        self, world, kind, header, row, column, model, dry_run
    ):
        before = (model.objects.count(), Deal.objects.count(), Activity.objects.count())
        for mapping in (None, {"create_missing": [column]}):
            report = run_import(
                kind,
                io.BytesIO(csv_bytes(header, [row])),
                filename="x.csv",
                mapping=mapping,
                by=world.cast.manager_a,
                dry_run=dry_run,
            )
            label = column.capitalize()
            assert [(e.row, e.column, e.value, e.reason) for e in report.errors] == [
                (2, column, "Gizmo", f"{label} 'Gizmo' is not in the catalogue; ask an admin to add it")
            ]
            assert report.related_created == {}
        assert (model.objects.count(), Deal.objects.count(), Activity.objects.count()) == before

    @pytest.mark.parametrize(("kind", "header", "row", "column", "model"), CATALOGUE_CASES)
    def test_the_setting_lets_managers_create_it_and_admins_always_may(
        self, world, settings, kind, header, row, column, model
    ):
        mapping = {"create_missing": [column]}
        report = run_import(
            kind, io.BytesIO(csv_bytes(header, [row])), filename="x.csv", mapping=mapping, by=world.cast.admin
        )
        assert report.ok, report.errors
        assert report.related_created == {column: 1}
        settings.SALESTRACK_MANAGERS_CREATE_CATALOGUE = True
        row = [{"N1": "N2", "Gizmo": "Gadget"}.get(cell, cell) for cell in row]
        report = run_import(
            kind,
            io.BytesIO(csv_bytes(header, [row])),
            filename="x.csv",
            mapping=mapping,
            by=world.cast.manager_a,
        )
        assert report.ok, report.errors
        assert report.related_created == {column: 1}
        assert model.objects.filter(name="Gadget").count() == 1

    def test_a_bad_value_of_the_setting_fails_loudly(self):
        env = {**os.environ, "SALESTRACK_ENV": "test", "SALESTRACK_MANAGERS_CREATE_CATALOGUE": "maybe"}
        env.pop("DATABASE_URL", None)
        result = subprocess.run(
            [sys.executable, "-c", "import django; django.setup()"],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "salestrack.settings"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "SALESTRACK_MANAGERS_CREATE_CATALOGUE must be true or false" in result.stderr


# --- the bulk API ------------------------------------------------------------------------------


def _swap_json(body, out_id: int, missing: int) -> str:
    return swap_id(json.dumps(body, sort_keys=True), out_id, missing)


@pytest.mark.usefixtures("relaxed_throttles")
class BulkApiTests:
    def _bulk(self, user, what: str, item: dict):
        response = token_client(user).post(f"/api/v1/{what}/bulk/", {"items": [item]}, format="json")
        assert response.status_code == 400, response.content
        return response.json()

    @pytest.mark.parametrize(
        ("what", "field", "model", "row"),
        [
            ("activities", "deal", Deal, "a2"),
            ("activities", "rep", Rep, "a2"),
            ("deals", "owner", Rep, "a2"),
            ("deals", "owner", Rep, "b1"),
        ],
    )
    def test_an_outside_id_reads_as_a_missing_one(self, world, what, field, model, row):
        outside = world.deals[row].pk if model is Deal else getattr(world.cast, f"rep_{row}").pk
        missing = missing_id(model)
        base = {"type": world.call.pk} if what == "activities" else {"name": "x", "amount": "1"}
        answers = [
            self._bulk(world.cast.rep_a1.user, what, {**base, field: ref}) for ref in (outside, missing)
        ]
        assert _swap_json(answers[0], outside, missing) == json.dumps(answers[1], sort_keys=True)
        assert_reveals_nothing(json.dumps(answers[0]), world.secrets_a2 + world.secrets_b)

    @pytest.mark.parametrize(("what", "model"), [("activities", Activity), ("deals", Deal)])
    def test_an_external_id_of_another_rep_is_a_plain_clash(self, world, what, model):
        prefix = {"activities": "ACT", "deals": "EXT"}[what]
        base = {"type": world.call.pk} if what == "activities" else {"name": "x", "amount": "1"}
        answers = {}
        for owner in ("a2", "b1"):  # in rep_a1's team, in another team: the same words
            item = {**base, "source": "crm", "external_id": f"{prefix}-{owner.upper()}"}
            answers[owner] = self._bulk(world.cast.rep_a1.user, what, item)
        assert json.dumps(answers["a2"]).replace("A2", "B1") == json.dumps(answers["b1"])
        own = token_client(world.cast.rep_a1.user).post(
            f"/api/v1/{what}/", {**base, "source": "crm", "external_id": f"{prefix}-A1"}, format="json"
        )
        assert answers["b1"]["errors"][0]["errors"]["external_id"] == own.json()["external_id"]
        assert_reveals_nothing(
            json.dumps(answers), world.secrets_a2 + world.secrets_b, typed="ACT-A2 EXT-A2 ACT-B1 EXT-B1"
        )
        assert model.objects.filter(external_id=f"{prefix}-A2").get().pk == getattr(world, what)["a2"].pk


# --- the API's details, lists and metrics ----------------------------------------------------------


def _api_pairs(world):
    """(user, method, url template, outside id, missing id, body): every detail a reference reaches."""
    cast = world.cast
    deal_a2, act_a2 = world.deals["a2"].pk, world.activities["a2"].pk
    deal_b1 = world.deals["b1"].pk
    won = Stage.objects.get(name="Won").pk
    md, ma = missing_id(Deal), missing_id(Activity)
    mr, mt, mte = missing_id(Rep), missing_id(Team), missing_id(Territory)
    return [
        (cast.rep_a1.user, "get", "/api/v1/deals/{}/", deal_a2, md, None),
        (cast.rep_a1.user, "get", "/api/v1/deals/{}/history/", deal_a2, md, None),
        (cast.rep_a1.user, "patch", "/api/v1/deals/{}/", deal_a2, md, {"name": "mine"}),
        (cast.rep_a1.user, "post", "/api/v1/deals/{}/move/", deal_a2, md, {"stage": won}),
        (cast.rep_a1.user, "delete", "/api/v1/deals/{}/", deal_a2, md, None),
        (cast.rep_a1.user, "get", "/api/v1/activities/{}/", act_a2, ma, None),
        (cast.rep_a1.user, "patch", "/api/v1/activities/{}/", act_a2, ma, {"notes": "mine"}),
        (cast.rep_a1.user, "delete", "/api/v1/activities/{}/", act_a2, ma, None),
        (cast.manager_a, "get", "/api/v1/deals/{}/", deal_b1, md, None),
        (cast.manager_a, "get", "/api/v1/reps/{}/", cast.rep_b1.pk, mr, None),
        (cast.manager_a, "get", "/api/v1/teams/{}/", cast.team_b.pk, mt, None),
        (cast.manager_a, "get", "/api/v1/territories/{}/", cast.territory_south.pk, mte, None),
        (cast.rep_a1.user, "get", "/api/v1/reps/{}/", cast.rep_a2.pk, mr, None),
        (cast.manager_a, "get", "/api/v1/deals/?owner={}", cast.rep_b1.pk, mr, None),
        (cast.manager_a, "get", "/api/v1/activities/?rep={}", cast.rep_b1.pk, mr, None),
        (cast.manager_a, "get", "/api/v1/reps/?team={}", cast.team_b.pk, mt, None),
        (cast.rep_a1.user, "get", "/api/v1/activities/?deal={}", deal_a2, md, None),
        (cast.manager_a, "get", "/api/v1/metrics/?scope=rep&id={}&period=2026", cast.rep_b1.pk, mr, None),
        (cast.manager_a, "get", "/api/v1/metrics/?scope=team&id={}&period=2026", cast.team_b.pk, mt, None),
        (cast.manager_a, "get", "/api/v1/funnel/?scope=team&id={}&period=2026", cast.team_b.pk, mt, None),
        (cast.rep_a1.user, "get", "/api/v1/funnel/?scope=rep&id={}&period=2026", cast.rep_a2.pk, mr, None),
        (
            cast.manager_a,
            "get",
            "/api/v1/funnel/?scope=territory&id={}&period=2026",
            cast.territory_south.pk,
            mte,
            None,
        ),
    ]


def _body(response) -> str:
    return content(response).decode()


@pytest.mark.usefixtures("relaxed_throttles")
def test_the_api_answers_an_outside_row_as_a_missing_one(world):
    checked = 0
    for user, method, template, outside, missing, body in _api_pairs(world):
        client = token_client(user)
        answers = []
        for ref in (outside, missing):
            response = getattr(client, method)(template.format(ref), body, format="json")
            answers.append((response.status_code, _body(response)))
        assert answers[0][0] == answers[1][0], template
        # A detail is refused (a list answers 200, empty); a version check may come first, the same for both.
        assert answers[0][0] >= 400 or "?" in template, (template, answers[0])
        assert swap_id(answers[0][1], outside, missing, in_query="?" in template) == answers[1][1], template
        assert_reveals_nothing(answers[0][1], world.secrets_b + world.secrets_a2)
        checked += 1
    assert checked == len(_api_pairs(world))
    # Nothing was changed through the outside ids.
    assert Deal.objects.get(pk=world.deals["a2"].pk).name == "Secret deal of a2"
    assert Activity.objects.filter(pk=world.activities["a2"].pk).exists()


def test_the_lists_show_nothing_outside_the_scope(world):
    for user, secrets in (
        (world.cast.manager_a, world.secrets_b),
        (world.cast.rep_a1.user, world.secrets_a2),
    ):
        client = token_client(user)
        for url in ("/api/v1/deals/", "/api/v1/activities/", "/api/v1/reps/", "/api/v1/teams/"):
            response = client.get(url)
            assert response.status_code == 200
            assert_reveals_nothing(_body(response), secrets)
    # The control: the manager's lists do hold their own team's rows.
    assert "Secret deal of a2" in _body(token_client(world.cast.manager_a).get("/api/v1/deals/"))


# --- pages and exports -------------------------------------------------------------------------------


def test_the_pages_answer_an_outside_row_as_a_missing_one(world, client):
    cast = world.cast
    md, ma, mr, mt = missing_id(Deal), missing_id(Activity), missing_id(Rep), missing_id(Team)
    job_b = ImportJob.objects.create(kind="deals", original_filename="b.csv", created_by=cast.manager_b)
    pairs = [
        (cast.rep_a1.user, "/deals/{}/", world.deals["a2"].pk, md),
        (cast.rep_a1.user, "/deals/{}/edit/", world.deals["a2"].pk, md),
        (cast.rep_a1.user, "/deals/{}/move/", world.deals["a2"].pk, md),
        (cast.rep_a1.user, "/deals/{}/delete/", world.deals["a2"].pk, md),
        (cast.rep_a1.user, "/activities/{}/edit/", world.activities["a2"].pk, ma),
        (cast.rep_a1.user, "/activities/{}/delete/", world.activities["a2"].pk, ma),
        (cast.rep_a1.user, "/dashboard/rep/{}/", cast.rep_a2.pk, mr),
        (cast.manager_a, "/deals/{}/", world.deals["b1"].pk, md),
        (cast.manager_a, "/dashboard/rep/{}/", cast.rep_b1.pk, mr),
        (cast.manager_a, "/dashboard/team/{}/", cast.team_b.pk, mt),
        (cast.manager_a, "/imports/{}/", job_b.pk, missing_id(ImportJob)),
        (cast.manager_a, "/imports/{}/status.json", job_b.pk, missing_id(ImportJob)),
        (cast.manager_a, "/deals/?rep={}", cast.rep_b1.pk, mr),
        (cast.manager_a, "/activities/?rep={}", cast.rep_b1.pk, mr),
        (cast.manager_a, "/deals/?team={}", cast.team_b.pk, mt),
    ]
    for user, template, outside, missing in pairs:
        client.force_login(user)
        answers = []
        for ref in (outside, missing):
            response = client.get(template.format(ref))
            answers.append((response.status_code, normalised(_body(response))))
        assert answers[0][0] == answers[1][0], template
        assert swap_id(answers[0][1], outside, missing, in_query="?" in template) == answers[1][1], template
        secrets = world.secrets_b if user == cast.manager_a else world.secrets_a2
        assert_reveals_nothing(answers[0][1], secrets)


def export_text(response, fmt: str) -> str:
    assert response.status_code == 200
    if fmt == "csv":
        return content(response).decode()
    return json.dumps(_xlsx_cells(content(response)), default=str)


def _xlsx_cells(content: bytes) -> list:
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_exports_hold_nothing_outside_the_scope(world, client, fmt):
    cast = world.cast
    mr, mt = missing_id(Rep), missing_id(Team)
    for user, secrets, own in (
        (cast.manager_a, world.secrets_b, "Secret deal of a2"),
        (cast.rep_a1.user, world.secrets_a2, "Secret deal of a1"),
    ):
        client.force_login(user)
        texts = [
            export_text(client.get(f"/deals/export.{fmt}"), fmt),
            export_text(client.get(f"/activities/export.{fmt}"), fmt),
        ]
        for text in texts:
            assert_reveals_nothing(text, secrets)
        deals_text = texts[0]
        assert own in deals_text  # the control: the user's own rows are there
    client.force_login(cast.manager_a)
    for template, outside, missing in (
        ("/deals/export.{fmt}?rep={ref}", cast.rep_b1.pk, mr),
        ("/activities/export.{fmt}?rep={ref}", cast.rep_b1.pk, mr),
        ("/deals/export.{fmt}?team={ref}", cast.team_b.pk, mt),
    ):
        # Both refused alike: the filter names no rep or team the manager may see.
        answers = [client.get(template.format(fmt=fmt, ref=ref)) for ref in (outside, missing)]
        assert answers[0].status_code == answers[1].status_code == 400
        texts = [content(answer).decode() for answer in answers]
        assert texts[0] == texts[1] and "not one of the available choices" in texts[0]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_leaderboard_exports_rank_people_and_hold_no_rows(world, client, fmt):
    """Leaderboards are everyone's (PRODUCT.md): the same board for a rep as for an admin, no deal in it."""
    boards = {}
    for user in (world.cast.rep_a1.user, world.cast.manager_a, world.cast.admin):
        client.force_login(user)
        response = client.get(f"/leaderboards/export.{fmt}?metric=revenue&period=2026")
        assert response.status_code == 200
        cells = (
            content(response).decode()
            if fmt == "csv"
            else json.dumps(_xlsx_cells(content(response)), default=str)
        )
        for secret in ("EXT-", "ACT-", "Secret deal", "private note"):
            assert secret not in cells
        # From the table's header on (above it: when the board was computed, to the millisecond).
        boards[user.username] = cells[cells.index("Rank") :]
    assert boards["rep_a1"] == boards["manager_a"] == boards["admin"]
    client.force_login(world.cast.rep_a1.user)
    answers = [
        client.get(f"/leaderboards/export.{fmt}?metric=revenue&period=2026&scope=team&id={ref}")
        for ref in (missing_id(Team), missing_id(Team))
    ]
    assert answers[0].status_code == answers[1].status_code == 400
    assert content(answers[0]) == content(answers[1])
