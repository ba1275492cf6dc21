"""Size limits before the work: an oversize upload is refused while it streams in, a decompression
bomb before openpyxl parses it (the memory of the importing process stays flat), and text fields
(notes, outcome, names) keep their maximum lengths in the forms, the API and the imports.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, FakePayload, encode_multipart
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from activities import rules, services
from activities.imports import ImportFileError, run_import
from activities.imports.readers import open_table
from activities.models import Activity, ImportJob
from tests.api.conftest import activity_type, token_client
from tests.imports.helpers import csv_bytes

pytestmark = pytest.mark.django_db

KIB, MIB = 1024, 1024 * 1024
ROOT = Path(django_settings.BASE_DIR)


class CountingPayload(FakePayload):
    """A request body that counts what the server reads of it."""

    def __init__(self, content: bytes):
        super().__init__(content)
        self.bytes_read = 0

    def read(self, size=-1, /):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size=-1, /):
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


@pytest.fixture
def dirs(settings, tmp_path):
    settings.SALESTRACK_IMPORT_DIR = str(tmp_path / "imports")
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    return tmp_path


def post_streaming(client, body_fields: dict, **headers) -> tuple:
    body = encode_multipart(BOUNDARY, body_fields)
    payload = CountingPayload(body)
    response = client.generic(
        "POST",
        reverse("import_list"),
        data=body,
        content_type=MULTIPART_CONTENT,
        **{"wsgi.input": payload},
        **headers,
    )
    return response, payload.bytes_read, len(body)


def big_csv(size: int) -> SimpleUploadedFile:
    header = b"rep,type,occurred_at,duration_minutes,outcome\n"
    row = b"rep_a1,Call,2026-01-05 09:00,15,Booked a demo\n"
    return SimpleUploadedFile("big.csv", header + row * (size // len(row)), content_type="text/csv")


def nothing_stored(tmp_path) -> bool:
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    return not leftovers and not ImportJob.objects.exists()


class UploadLimitTests:
    def test_a_4_mib_upload_over_a_256_kib_limit_is_refused_before_it_is_read(
        self, cast, client, settings, dirs
    ):
        settings.SALESTRACK_IMPORT_MAX_BYTES = 256 * KIB
        client.force_login(cast.manager_a)
        response, read, sent = post_streaming(client, {"kind": "activities", "file": big_csv(4 * MIB)})
        assert response.status_code == 413
        assert "larger than 256.0\xa0KB" in response.content.decode()
        assert response.context["form"].errors["file"]
        assert read <= 64 * KIB < sent
        assert nothing_stored(dirs)
        print(f"\nupload 4 MiB, limit 256 KiB: 413, {read} of {sent} bytes read")

    def test_a_file_just_over_the_limit_is_stopped_while_it_streams_and_its_partial_copy_removed(
        self, cast, client, settings, dirs
    ):
        settings.SALESTRACK_IMPORT_MAX_BYTES = 256 * KIB
        client.force_login(cast.manager_a)
        # Within what the request may announce (file + mapping), so only the stream can tell.
        response, read, sent = post_streaming(
            client, {"kind": "activities", "file": big_csv(256 * KIB + 200 * KIB)}
        )
        assert response.status_code == 413
        assert read <= 256 * KIB + 2 * 64 * KIB < sent
        assert nothing_stored(dirs)
        print(f"upload 456 KiB, limit 256 KiB: 413 while streaming, {read} of {sent} bytes read")

    def test_a_script_asking_for_json_gets_json_naming_the_field_and_limit(
        self, cast, client, settings, dirs
    ):
        settings.SALESTRACK_IMPORT_MAX_BYTES = 256 * KIB
        client.force_login(cast.manager_a)
        response, _read, _sent = post_streaming(
            client, {"kind": "activities", "file": big_csv(MIB)}, HTTP_ACCEPT="application/json"
        )
        assert response.status_code == 413
        assert response.json() == {
            "file": ["The file is larger than 256.0\xa0KB, the largest file that can be uploaded."]
        }
        assert nothing_stored(dirs)

    def test_a_file_within_the_limit_is_still_imported(self, cast, client, settings, dirs):
        settings.SALESTRACK_IMPORT_MAX_BYTES = 256 * KIB
        client.force_login(cast.manager_a)
        response, read, sent = post_streaming(client, {"kind": "activities", "file": big_csv(200 * KIB)})
        assert response.status_code == 302
        assert read == sent
        assert ImportJob.objects.count() == 1

    def test_an_api_body_over_the_request_limit_answers_413_not_500(self, cast, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1 * MIB
        api = token_client(cast.rep_a1.user)
        body = {"type": activity_type().pk, "duration_minutes": 10, "notes": "x" * (2 * MIB)}
        response = api.post("/api/v1/activities/", body, format="json")
        assert response.status_code == 413, response.content[:300]
        assert "larger than 1.0\xa0MB" in response.json()["detail"]
        assert not Activity.objects.exists()


# --- the decompression bomb ---------------------------------------------------------------------

BOMB_BYTES = 1500 * MIB  # what xl/sharedStrings.xml unpacks to


def small_workbook(path: Path) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["rep", "type", "occurred_at", "duration_minutes", "outcome"])
    sheet.append(["rep_a1", "Call", "2026-01-05 09:00", 15, "Booked a demo"])
    workbook.save(path)
    return path


def bomb_workbook(path: Path) -> Path:
    """A real workbook whose shared strings unpack to BOMB_BYTES, in about 1.5 MB.

    Deflate blocks ended by a full flush do not depend on what came before, so one
    compressed mebibyte of "A" is repeated instead of compressing 1.5 GB in the test.
    """
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
        b"<si><t>"
    )
    tail = b"</t></si></sst>"
    chunk = b"A" * MIB
    count = (BOMB_BYTES - len(head) - len(tail)) // MIB

    def deflated(data: bytes, mode: int) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(mode)

    block = deflated(chunk, zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    stream = deflated(head, zlib.Z_FULL_FLUSH) + block * count + deflated(tail, zlib.Z_FINISH)

    small = small_workbook(path.with_name("small-" + path.name))
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for member in source.infolist():
            if member.filename != "xl/sharedStrings.xml":
                bomb.writestr(member, source.read(member))
        info = zipfile.ZipInfo("xl/sharedStrings.xml", date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.file_size, info.compress_size, info.CRC = len(head) + count * MIB + len(tail), len(stream), crc
        # Written as zipfile.write() would, with the sizes known up front.
        info.header_offset = bomb.fp.tell()
        bomb.fp.write(info.FileHeader(zip64=True))
        bomb.fp.write(stream)
        bomb.filelist.append(info)
        bomb.NameToInfo[info.filename] = info
        bomb.start_dir = bomb.fp.tell()
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    return bomb_workbook(tmp_path_factory.mktemp("bomb") / "bomb.xlsx")


CHILD = """
import resource, sys
import django
django.setup()
from activities.imports import ImportFileError, run_import
from activities.imports.readers import open_table
try:
    with open_table(sys.argv[1], sys.argv[1]) as table:
        rows = sum(1 for _ in table.rows())
        print("read", rows, "rows")
except ImportFileError as exc:
    print("refused:", exc)
print("peak_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def open_in_child(path: Path) -> tuple[str, int]:
    """Open `path` as the import does, in a fresh process: what it said and its peak RSS (KiB)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "salestrack.settings", "SALESTRACK_ENV": "test"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    return "\n".join(lines[:-1]), int(lines[-1].split()[1])


class BombTests:
    def test_the_bomb_is_real(self, bomb):
        assert 1 * MIB < bomb.stat().st_size < 2 * MIB
        with zipfile.ZipFile(bomb) as package:
            assert package.getinfo("xl/sharedStrings.xml").file_size > 1400 * MIB
            with package.open("xl/sharedStrings.xml") as member:
                start = member.read(4 * MIB)  # it does unpack: the first 4 MiB are the string
        assert start.endswith(b"A" * 1000) and b"<sst" in start

    def test_it_is_refused_before_parsing_naming_the_member_and_memory_stays_flat(self, bomb, tmp_path):
        said, peak = open_in_child(bomb)
        baseline_said, baseline = open_in_child(small_workbook(tmp_path / "small.xlsx"))
        assert "refused: xl/sharedStrings.xml unpacks to 1.5\xa0GB" in said
        assert baseline_said == "read 1 rows"
        # Flat: no more than the same process reading a two-row workbook (plus noise).
        assert peak < baseline + 20 * 1024, (peak, baseline)
        print(
            f"\nbomb {bomb.stat().st_size / MIB:.1f} MiB -> {BOMB_BYTES / MIB:.0f} MiB refused; "
            f"peak RSS {peak / 1024:.0f} MiB (two-row workbook: {baseline / 1024:.0f} MiB)"
        )

    def test_the_ratio_alone_refuses_it_too(self, bomb, settings):
        settings.SALESTRACK_XLSX_MAX_MEMBER_BYTES = 4 * 1024 * MIB
        with (
            pytest.raises(
                ImportFileError, match=r"xl/sharedStrings.xml unpacks to \d+ times .* decompression bomb"
            ),
            open_table(str(bomb), "bomb.xlsx"),
        ):
            pass

    def test_the_upload_page_import_reports_it_and_writes_nothing(
        self, bomb, cast, client, dirs, django_capture_on_commit_callbacks
    ):
        client.force_login(cast.manager_a)
        with django_capture_on_commit_callbacks(execute=True), bomb.open("rb") as handle:
            response = client.post(
                reverse("import_list"),
                {"kind": "activities", "file": SimpleUploadedFile("bomb.xlsx", handle.read())},
            )
        job = ImportJob.objects.get()
        assert response.status_code == 302
        assert job.status == ImportJob.Status.ERROR, job.status
        assert "xl/sharedStrings.xml" in job.error and "1.5\xa0GB" in job.error
        assert not Activity.objects.exists()


# --- text lengths -------------------------------------------------------------------------------

LIMIT = rules.NOTES_MAX_LENGTH


class NotesLimitTests:
    def test_the_service_refuses_longer_notes_naming_the_field(self, cast):
        with pytest.raises(ValidationError) as caught:
            services.activity_log(rep=cast.rep_a1, type=activity_type(), notes="n" * (LIMIT + 1))
        assert list(caught.value.message_dict) == ["notes"]
        assert "at most 10000 characters" in caught.value.message_dict["notes"][0]
        services.activity_log(rep=cast.rep_a1, type=activity_type(), notes="n" * LIMIT)
        assert Activity.objects.get().notes == "n" * LIMIT

    def test_the_form_refuses_longer_notes_beside_the_field(self, cast, client):
        client.force_login(cast.rep_a1.user)
        data = {
            "type": activity_type().pk,
            "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "duration_minutes": 10,
            "notes": "n" * (LIMIT + 1),
        }
        response = client.post(reverse("activity_create"), data)
        assert response.status_code == 200
        assert "at most 10000 characters" in " ".join(response.context["form"].errors["notes"])
        assert 'maxlength="10000"' in response.content.decode()
        assert not Activity.objects.exists()

    def test_9_mb_of_notes_through_the_api_is_a_400_naming_notes(self, cast):
        api = token_client(cast.rep_a1.user)
        body = {"type": activity_type().pk, "duration_minutes": 10, "notes": "n" * (9 * MIB)}
        response = api.post("/api/v1/activities/", body, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["notes"]
        assert "no more than 10000 characters" in response.json()["notes"][0]
        assert not Activity.objects.exists()
        deal = services.deal_open(owner=cast.rep_a1, name="Deal", amount=10)
        response = api.patch(f"/api/v1/deals/{deal.pk}/", {"name": "d" * 201}, format="json")
        assert response.status_code == 400 and list(response.json()) == ["name"]

    def test_an_import_row_with_longer_notes_is_an_error_naming_the_column(self, cast):
        header = ["rep", "type", "occurred_at", "duration_minutes", "notes"]
        data = csv_bytes(
            header,
            [
                ["rep_a1", "Call", "2026-01-05 09:00", 15, "n" * LIMIT],
                ["rep_a1", "Call", "2026-01-05 10:00", 15, "n" * (LIMIT + 1)],
            ],
        )
        report = run_import("activities", io.BytesIO(data), filename="notes.csv")
        assert [(error.row, error.column) for error in report.errors] == [(3, "notes")]
        assert "longer than 10000 characters" in report.errors[0].reason
        assert not Activity.objects.exists()
