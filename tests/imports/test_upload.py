"""The import pages: who may import what, the upload form's errors, a job's page and status.

Celery runs eagerly in-process here: the upload's task runs when the job's row is
committed (django_capture_on_commit_callbacks), so the job has finished when the
test opens its page.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from activities.models import Activity, Deal, ImportJob

pytestmark = pytest.mark.django_db

# The engine's own column names for activities (no mapping needed).
HEADER = "rep,type,occurred_at,duration_minutes,outcome"


def activities_csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


GOOD_ROWS = (
    "rep_a1,Call,2026-01-05 09:00,15,Booked a demo",
    "rep_a2,Email,2026-01-05 10:30,10,",
)
BAD_ROW = "rep_a1,Call,2026-01-06 09:00,5000,Way too long"


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path):
    settings.SALESTRACK_IMPORT_DIR = str(tmp_path / "imports")
    return tmp_path / "imports"


def csv_file(content: bytes, name: str = "activities.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def upload(client, capture, *, kind="activities", content=None, name="activities.csv", **extra):
    data = {"kind": kind, "file": csv_file(content or activities_csv(*GOOD_ROWS), name), **extra}
    with capture(execute=True):
        return client.post(reverse("import_list"), data)


def job_of(response) -> ImportJob:
    assert response.status_code == 302, response.content.decode()[:2000]
    pk = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    return ImportJob.objects.get(pk=pk)


class TestAccess:
    def test_signed_out_visitors_are_sent_to_sign_in(self, client, cast):
        for url in (reverse("import_list"), "/imports/1/", "/imports/1/status.json"):
            response = client.get(url)
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login"))

    def test_a_rep_is_refused(self, client, cast, django_capture_on_commit_callbacks):
        client.force_login(cast.rep_a1.user)
        assert client.get(reverse("import_list")).status_code == 403
        response = upload(client, django_capture_on_commit_callbacks)
        assert response.status_code == 403
        assert not ImportJob.objects.exists()

    def test_a_manager_may_import_activities_deals_and_their_history_only(self, client, cast):
        client.force_login(cast.manager_a)
        form = client.get(reverse("import_list")).context["form"]
        assert [value for value, _label in form.fields["kind"].choices] == [
            "deals",
            "stage_history",
            "activities",
        ]

    @pytest.mark.parametrize("kind", ["quotas", "projections", "reps", "products", "accounts"])
    def test_a_manager_cannot_import_what_admins_own(
        self, client, cast, kind, django_capture_on_commit_callbacks
    ):
        client.force_login(cast.manager_a)
        response = upload(client, django_capture_on_commit_callbacks, kind=kind)
        assert response.status_code == 200
        assert "kind" in response.context["form"].errors
        assert not ImportJob.objects.exists()

    def test_a_manager_cannot_import_activities_of_another_teams_rep(
        self, client, cast, django_capture_on_commit_callbacks
    ):
        content = activities_csv(*GOOD_ROWS, "rep_b1,Call,2026-01-05 11:00,15,")
        client.force_login(cast.manager_a)
        job = job_of(upload(client, django_capture_on_commit_callbacks, content=content))
        job.refresh_from_db()
        assert job.status == ImportJob.Status.FAILED
        assert [(error["row"], error["column"]) for error in job.report["errors"]] == [(4, "rep")]
        assert not Activity.objects.exists()

    def test_a_manager_cannot_import_deals_of_another_teams_rep(
        self, client, cast, django_capture_on_commit_callbacks
    ):
        content = b"external_id,name,owner,amount,stage,opened_on\n"
        content += b"D1,Fleet,rep_a1,1000,Lead,2026-01-05\nD2,Other team,rep_b1,900,Lead,2026-01-05\n"
        client.force_login(cast.manager_a)
        job = job_of(upload(client, django_capture_on_commit_callbacks, kind="deals", content=content))
        job.refresh_from_db()
        assert job.status == ImportJob.Status.FAILED
        assert [(error["row"], error["column"]) for error in job.report["errors"]] == [(3, "owner")]
        assert not Deal.objects.exists()

    def test_an_admin_may_import_every_kind(self, client, cast):
        client.force_login(cast.admin)
        form = client.get(reverse("import_list")).context["form"]
        assert [value for value, _label in form.fields["kind"].choices] == [
            "reps",
            "products",
            "accounts",
            "deals",
            "stage_history",
            "activities",
            "quotas",
            "projections",
        ]

    def test_a_job_is_not_found_for_another_manager(self, client, cast, django_capture_on_commit_callbacks):
        client.force_login(cast.manager_a)
        job = job_of(upload(client, django_capture_on_commit_callbacks, dry_run="on"))
        client.force_login(cast.manager_b)
        assert client.get(reverse("import_detail", args=[job.pk])).status_code == 404
        assert client.get(reverse("import_status", args=[job.pk])).status_code == 404
        assert client.post(reverse("import_run_for_real", args=[job.pk])).status_code == 404
        assert job not in client.get(reverse("import_list")).context["jobs"]

    def test_an_admin_sees_every_job(self, client, cast, django_capture_on_commit_callbacks):
        client.force_login(cast.manager_a)
        job = job_of(upload(client, django_capture_on_commit_callbacks, dry_run="on"))
        client.force_login(cast.admin)
        assert client.get(reverse("import_detail", args=[job.pk])).status_code == 200
        assert job in client.get(reverse("import_list")).context["jobs"]


class TestUploadForm:
    @pytest.fixture(autouse=True)
    def signed_in(self, client, cast):
        client.force_login(cast.manager_a)

    def errors_of(self, response, field):
        assert response.status_code == 200
        assert not ImportJob.objects.exists()
        return " ".join(response.context["form"].errors[field])

    def test_it_rejects_a_file_that_is_neither_csv_nor_xlsx(self, client, django_capture_on_commit_callbacks):
        response = upload(client, django_capture_on_commit_callbacks, name="activities.txt")
        assert "Only .csv and .xlsx files" in self.errors_of(response, "file")

    def test_it_rejects_a_file_over_the_size_limit(
        self, client, settings, django_capture_on_commit_callbacks
    ):
        settings.SALESTRACK_IMPORT_MAX_BYTES = 50
        response = upload(client, django_capture_on_commit_callbacks)
        # Refused while streaming (activities.imports.uploads): 413, and the file never stored.
        assert response.status_code == 413
        assert not ImportJob.objects.exists()
        assert "larger than 50\xa0bytes" in " ".join(response.context["form"].errors["file"])
        assert "Nothing was saved" in response.content.decode()

    def test_it_rejects_a_mapping_that_is_not_json(self, client, django_capture_on_commit_callbacks):
        mapping = SimpleUploadedFile("mapping.json", b'{"columns": {"Rep": "rep",}', "application/json")
        response = upload(client, django_capture_on_commit_callbacks, mapping=mapping)
        assert "not valid JSON" in self.errors_of(response, "mapping")

    def test_it_rejects_a_mapping_that_is_not_an_object(self, client, django_capture_on_commit_callbacks):
        mapping = SimpleUploadedFile("mapping.json", b'["rep"]', "application/json")
        response = upload(client, django_capture_on_commit_callbacks, mapping=mapping)
        assert "must be a JSON object" in self.errors_of(response, "mapping")

    def test_a_valid_mapping_is_kept_on_the_job(self, client, django_capture_on_commit_callbacks):
        mapping = {"columns": {"Who": "rep"}}
        content = activities_csv(*GOOD_ROWS).replace(b"rep,", b"Who,", 1)
        response = upload(
            client,
            django_capture_on_commit_callbacks,
            content=content,
            mapping=SimpleUploadedFile("m.json", json.dumps(mapping).encode(), "application/json"),
        )
        job = job_of(response)
        assert job.mapping == mapping
        assert job.status == ImportJob.Status.SUCCEEDED, job.error


class TestJobPage:
    @pytest.fixture(autouse=True)
    def signed_in(self, client, cast):
        client.force_login(cast.manager_a)

    def test_an_upload_imports_the_file_and_the_job_page_shows_the_report(
        self, client, cast, import_dir, django_capture_on_commit_callbacks
    ):
        job = job_of(upload(client, django_capture_on_commit_callbacks))
        job.refresh_from_db()
        assert job.status == ImportJob.Status.SUCCEEDED, job.error
        assert job.created_by == cast.manager_a
        assert (job.created_count, job.rows_done, job.rows_total) == (2, 2, 2)
        assert Activity.objects.filter(rep__in=[cast.rep_a1, cast.rep_a2]).count() == 2
        assert not list(import_dir.iterdir()), "the file of a finished real run is removed"

        page = client.get(reverse("import_detail", args=[job.pk])).content.decode()
        assert "Import finished." in page
        assert 'data-count="created">2<' in page
        assert "<progress" in page
        assert "Nothing was written" not in page

    def test_the_status_json_tells_the_progress(self, client, cast):
        job = ImportJob.objects.create(
            kind="activities",
            original_filename="a.csv",
            status=ImportJob.Status.RUNNING,
            rows_done=2500,
            rows_total=10_000,
            created_by=cast.manager_a,
        )
        data = client.get(reverse("import_status", args=[job.pk])).json()
        assert data["status"] == "running"
        assert data["finished"] is False
        assert (data["rows_done"], data["rows_total"], data["percent"]) == (2500, 10_000, 25)
        assert data["progress_text"] == "2,500 of 10,000 rows (25 %)"

        ImportJob.objects.filter(pk=job.pk).update(rows_done=1, rows_total=1)
        assert (
            client.get(reverse("import_status", args=[job.pk])).json()["progress_text"]
            == "1 of 1 row (100 %)"
        )

        ImportJob.objects.filter(pk=job.pk).update(rows_total=None)
        data = client.get(reverse("import_status", args=[job.pk])).json()
        assert data["percent"] is None, "an unknown total gives an indeterminate bar"
        page = client.get(reverse("import_detail", args=[job.pk])).content.decode()
        assert 'src="/static/js/imports.js"' in page
        progress_tag = page.split("<progress", 1)[1].split(">", 1)[0]
        assert "max=" not in progress_tag and "value=" not in progress_tag

    def test_a_file_with_a_bad_row_lists_it_and_writes_nothing(
        self, client, cast, import_dir, django_capture_on_commit_callbacks
    ):
        content = activities_csv(*GOOD_ROWS, BAD_ROW)
        job = job_of(upload(client, django_capture_on_commit_callbacks, content=content))
        job.refresh_from_db()
        assert job.status == ImportJob.Status.FAILED
        assert job.error_count == 1
        assert not Activity.objects.exists()
        page = client.get(reverse("import_detail", args=[job.pk])).content.decode()
        assert "Nothing was written" in page
        assert "duration" in page and "5000" in page
        assert ">4<" in page, "the error names the spreadsheet row (the header is row 1)"
        assert "Run it for real" not in page

    def test_a_dry_run_writes_nothing_then_run_it_for_real_writes(
        self, client, cast, import_dir, django_capture_on_commit_callbacks
    ):
        dry = job_of(upload(client, django_capture_on_commit_callbacks, dry_run="on"))
        dry.refresh_from_db()
        assert dry.dry_run and dry.status == ImportJob.Status.SUCCEEDED, dry.error
        assert dry.created_count == 2
        assert not Activity.objects.exists()
        assert (import_dir / dry.stored_file).exists(), "a dry run keeps its file for the real run"
        page = client.get(reverse("import_detail", args=[dry.pk])).content.decode()
        assert "Nothing was written" in page
        assert "Run it for real" in page

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("import_run_for_real", args=[dry.pk]))
        real = job_of(response)
        assert real.pk != dry.pk
        real.refresh_from_db()
        assert (real.dry_run, real.from_dry_run, real.status) == (False, dry, ImportJob.Status.SUCCEEDED)
        assert Activity.objects.count() == 2
        assert not list(import_dir.iterdir()), "the real run removed the file"

        # Once run for real, the dry run offers no second run.
        page = client.get(reverse("import_detail", args=[dry.pk])).content.decode()
        assert "Run it for real" not in page
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("import_run_for_real", args=[dry.pk]))
        assert ImportJob.objects.count() == 2
        assert Activity.objects.count() == 2


def test_the_admin_lists_import_jobs_read_only_and_links_the_upload_page(client, cast):
    ImportJob.objects.create(kind="deals", original_filename="deals.csv", created_by=cast.manager_a)
    client.force_login(cast.admin)
    page = client.get(reverse("admin:activities_importjob_changelist")).content.decode()
    assert "deals.csv" in page
    assert reverse("import_list") in page and "Import a file" in page
    assert client.get(reverse("admin:activities_importjob_add")).status_code == 403


def test_the_kinds_of_job_are_the_engines_kinds():
    from activities.imports import KINDS

    assert tuple(ImportJob.Kind.values) == tuple(KINDS)
