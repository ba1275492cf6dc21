"""A manager imports a file in headless chromium: upload, watch the job, read the report.

Celery runs eagerly inside the live server, so the job has finished when the upload's
redirect lands on its page; the polling of a running job is shown with a job whose row
the test moves along itself.
"""

import re

import pytest

from activities.models import Activity, ImportJob
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

JOB_URL = re.compile(r"/imports/(\d+)/$")
HEADER = "rep,type,occurred_at,duration_minutes,outcome"
GOOD_ROWS = [
    "rep_a1,Call,2026-01-05 09:00,15,Booked a demo",
    "rep_a2,Client meeting,2026-01-05 10:30,60,Pilot agreed",
    "Ana One,Email,2026-01-06 08:15,5,",
]


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path):
    settings.SALESTRACK_IMPORT_DIR = str(tmp_path / "imports")
    return tmp_path / "imports"


def csv_payload(rows, name="week.csv"):
    return {"name": name, "mimeType": "text/csv", "buffer": ("\n".join([HEADER, *rows]) + "\n").encode()}


def _upload_as_manager(page, rows, name):
    sign_in(page, "manager_a", PASSWORD)
    page.goto("/imports/")
    expect(page.get_by_role("heading", name="Import a file")).to_be_visible()
    page.get_by_label("What the file holds").select_option(label="Activities")
    page.get_by_label(re.compile(r"^File\b")).set_input_files(csv_payload(rows, name))
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url(JOB_URL)
    return int(JOB_URL.search(page.url).group(1))


def test_a_manager_imports_a_csv_of_activities_and_sees_the_report(page, cast):
    job_pk = _upload_as_manager(page, GOOD_ROWS, "week.csv")

    expect(page.get_by_role("heading", level=1)).to_contain_text("week.csv")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Succeeded")
    expect(page.locator("progress")).to_have_attribute("value", "3")
    expect(page.get_by_role("status").filter(has_text="Import finished.")).to_be_visible()
    expect(page.locator("[data-count=rows]")).to_have_text("3")
    expect(page.locator("[data-count=created]")).to_have_text("3")
    expect(page.locator("[data-count=errors]")).to_have_text("0")
    assert ImportJob.objects.get(pk=job_pk).status == ImportJob.Status.SUCCEEDED
    assert Activity.objects.filter(rep=cast.rep_a1).count() == 2
    assert Activity.objects.filter(rep=cast.rep_a2, outcome="Pilot agreed").count() == 1

    # The job is listed on the imports page.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Imports").click()
    expect(page.get_by_role("link", name="week.csv")).to_be_visible()


def test_a_bad_row_is_listed_and_nothing_is_written(page, cast):
    rows = [*GOOD_ROWS, "rep_a1,Call,2026-01-07 09:00,2000,Too long", "nobody,Call,2026-01-07 10:00,15,"]
    _upload_as_manager(page, rows, "broken.csv")

    expect(page.get_by_role("heading", level=1)).to_contain_text("Failed")
    expect(page.get_by_role("alert")).to_contain_text("The file has 2 errors. Nothing was written.")
    errors = page.get_by_role("table", name="Errors", exact=True)
    expect(errors.locator("tbody tr")).to_have_count(2)
    expect(errors.locator("tbody tr").first).to_contain_text("5")
    expect(errors.locator("tbody tr").first).to_contain_text("2000")
    expect(errors.locator("tbody tr").nth(1)).to_contain_text("nobody")
    expect(page.get_by_role("button", name="Run it for real")).to_have_count(0)
    assert not Activity.objects.exists()


def test_the_job_page_follows_a_running_job_until_it_finishes(page, cast):
    job = ImportJob.objects.create(
        kind="activities",
        original_filename="big.csv",
        status=ImportJob.Status.RUNNING,
        rows_done=1000,
        rows_total=4000,
        created_by=cast.manager_a,
    )
    sign_in(page, "manager_a", PASSWORD)
    page.goto(f"/imports/{job.pk}/")
    bar = page.locator("progress")
    expect(bar).to_have_attribute("max", "4000")
    expect(page.get_by_text("1,000 of 4,000 rows (25 %)")).to_be_visible()

    ImportJob.objects.filter(pk=job.pk).update(rows_done=3000)
    expect(page.get_by_text("3,000 of 4,000 rows (75 %)")).to_be_visible()
    expect(bar).to_have_js_property("value", 3000)

    report = {"rows": 4000, "created": 4000, "updated": 0, "unchanged": 0, "errors": [], "warnings": []}
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.SUCCEEDED, rows_done=4000, created_count=4000, report=report
    )
    expect(page.get_by_role("status").filter(has_text="Import finished.")).to_be_visible()
    expect(page.locator("[data-count=created]")).to_have_text("4,000")
