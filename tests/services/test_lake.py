"""The lake interface on both backends: a real folder, and the `minio` SDK against moto's S3 on a socket."""

from __future__ import annotations

import errno
import io
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import httpx
import pandas as pd
import pytest

from llf.exceptions import ConfigurationError
from llf.services.lake import Lake, LakePathError, open_lake
from llf.services.lake.base import LakeWriteError
from llf.services.lake.runs import confined_key
from llf.services.lake.s3 import PART_BYTES

_buckets = itertools.count()


@pytest.fixture(params=["folder", "minio"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "folder":
        return open_lake((tmp_path / "lake").as_uri())
    request.getfixturevalue("minio_env")
    return open_lake(f"s3://lake-{next(_buckets)}/prefix")


def test_given_each_kind_of_data_when_put_then_get_returns_its_bytes(lake: Lake, tmp_path: Path) -> None:
    local = tmp_path / "local.txt"
    local.write_bytes(b"from a path")
    frame = pd.DataFrame({"sku": ["a", "b"], "score": [1, 2]})

    lake.put("in/bytes.bin", b"\x00\x01")
    lake.put("in/text.txt", "héllo")
    lake.put("in/path.txt", local)
    lake.put("in/file.bin", io.BytesIO(b"from a file"))
    lake.put("in/frame.csv", frame)

    assert lake.get("in/bytes.bin") == b"\x00\x01"
    assert lake.get("in/text.txt") == "héllo".encode()
    assert lake.get("in/path.txt") == b"from a path"
    assert lake.get("in/file.bin") == b"from a file"
    assert pd.read_csv(io.BytesIO(lake.get("in/frame.csv"))).equals(frame)


def test_given_objects_when_listed_by_prefix_then_only_matching_keys_sorted(lake: Lake) -> None:
    keys = ["runs/s1/p1/a.ipynb", "runs/s1/p1/a.html", "runs/s1/p2/b.ipynb", "other.txt"]
    for key in keys:
        lake.put(key, key)

    assert lake.list("runs/s1/p1/") == ["runs/s1/p1/a.html", "runs/s1/p1/a.ipynb"]
    assert lake.list("runs/s1/p") == ["runs/s1/p1/a.html", "runs/s1/p1/a.ipynb", "runs/s1/p2/b.ipynb"]
    assert lake.list() == sorted(keys)
    assert lake.list("nothing/") == []


def test_given_a_put_when_exists_is_asked_then_only_stored_keys_exist(lake: Lake) -> None:
    location = lake.put("a/b.txt", "x")

    assert lake.exists("a/b.txt")
    assert not lake.exists("a/missing.txt")
    assert location.endswith("a/b.txt")
    with pytest.raises(FileNotFoundError, match="a/missing.txt"):
        lake.get("a/missing.txt")


@pytest.mark.parametrize("bad", ["/etc/passwd", "../escape.txt", "runs/../../escape.txt", ""])
def test_given_a_path_outside_the_lake_when_put_then_it_is_refused(lake: Lake, bad: str) -> None:
    with pytest.raises(LakePathError):
        lake.put(bad, "x")


@pytest.mark.parametrize("bad", ["runs/a\x00.html", "runs/\x00/../../x", "runs/a\nb.txt", "runs/a\rb.txt",
                                 "runs/a\tb.txt", "runs/a\x7fb.txt", "runs/a\x85b.txt", "\x00"])
def test_given_a_key_with_a_nul_or_other_control_character_when_used_then_every_operation_refuses_it_by_name(
    lake: Lake, bad: str
) -> None:
    operations = [lambda: lake.put(bad, "x"), lambda: lake.get(bad), lambda: lake.stream(bad), lambda: lake.exists(bad),
                  lambda: lake.stored_key(bad), lambda: lake.location(bad), lambda: lake.list(bad),
                  lambda: confined_key(bad)]

    for operation in operations:
        with pytest.raises(LakePathError, match="control character"):
            operation()
    assert lake.list() == []
    assert lake.key_of(lake.location("runs/") + bad.removeprefix("runs/")) is None


def test_given_a_folder_lake_when_url_then_a_file_uri_of_the_stored_file(tmp_path: Path) -> None:
    lake = open_lake((tmp_path / "lake").as_uri())
    lake.put("r/out.html", "<p>hi</p>")

    assert Path(lake.url("r/out.html").removeprefix("file://")).read_text() == "<p>hi</p>"


def test_given_a_minio_lake_when_url_then_a_presigned_link_downloads_the_object(minio_env: str) -> None:
    lake = open_lake("s3://presigned/p")
    lake.put("r/out.html", "<p>hi</p>")

    response = httpx.get(lake.url("r/out.html"))

    assert response.status_code == 200
    assert response.text == "<p>hi</p>"


def test_given_a_minio_lake_when_put_then_the_bucket_is_created_and_the_location_is_an_s3_url(
    minio_env: str,
) -> None:
    assert open_lake("s3://fresh-bucket/runs").put("x.txt", "x") == "s3://fresh-bucket/runs/x.txt"


def test_given_no_url_when_opened_then_llf_lake_url_is_used(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LLF_LAKE_URL", (tmp_path / "from-env").as_uri())

    open_lake().put("a.txt", "x")

    assert (tmp_path / "from-env" / "a.txt").read_text() == "x"


def test_given_an_uncreatable_folder_when_opened_then_the_error_names_llf_lake_url(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    with pytest.raises(ConfigurationError, match="LLF_LAKE_URL"):
        open_lake((blocker / "lake").as_uri())


def test_given_an_unknown_scheme_when_opened_then_the_error_names_llf_lake_url() -> None:
    with pytest.raises(ConfigurationError, match="LLF_LAKE_URL"):
        open_lake("ftp://somewhere/lake")


def test_given_s3_without_endpoint_when_opened_then_the_error_names_llf_minio_endpoint(monkeypatch) -> None:
    monkeypatch.delenv("LLF_MINIO_ENDPOINT", raising=False)

    with pytest.raises(ConfigurationError, match="LLF_MINIO_ENDPOINT"):
        open_lake("s3://bucket/prefix")


def test_given_wrong_credentials_when_put_then_the_error_names_the_key_settings(
    minio_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.settings

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto now checks every key

    with pytest.raises(ConfigurationError, match="LLF_MINIO_ACCESS_KEY and LLF_MINIO_SECRET_KEY"):
        open_lake("s3://guarded/p").put("x.txt", "x")


class BreakingStream(io.RawIOBase):
    """A binary stream that delivers `good` bytes, then fails as a full disk would: a source dying midway."""

    def __init__(self, good: int) -> None:
        self.left = good
        self.delivered = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self.left:
            raise OSError(errno.ENOSPC, "No space left on device")
        count = self.left if size < 0 else min(size, self.left)
        self.left -= count
        self.delivered += count
        return b"x" * count


def _stored_files(root: Path) -> list[str]:
    """Every file under the folder, temporary ones included (list() hides those)."""
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def _open_uploads(lake) -> list[dict]:
    """Multipart uploads still open in the lake's bucket, asked through boto3 (a second, independent client)."""
    client = boto3.client("s3", endpoint_url=f"http://{lake.endpoint}", aws_access_key_id="testing",
                          aws_secret_access_key="testing-secret", region_name="us-east-1")
    return client.list_multipart_uploads(Bucket=lake.bucket).get("Uploads", [])


def test_given_data_that_breaks_after_a_full_part_when_put_then_nothing_is_stored_and_the_error_names_the_path(
    lake: Lake,
) -> None:
    stream = BreakingStream(good=PART_BYTES + 1024 * 1024)  # MinIO: one part uploaded before the failure

    with pytest.raises(LakeWriteError, match=r"'out/big\.bin'.*nothing was stored.*No space left") as raised:
        lake.put("out/big.bin", stream)

    assert stream.delivered > PART_BYTES  # the failure came midway, after data had been written
    folder = hasattr(lake, "root")
    assert str(lake.root / "out/big.bin" if folder else f"s3://{lake.bucket}/prefix/out/big.bin") in str(raised.value)
    assert not lake.exists("out/big.bin") and lake.list() == []
    if folder:
        assert _stored_files(lake.root) == []  # no partial file and no temporary file
    else:
        assert _open_uploads(lake) == []  # the multipart upload was aborted: no parts left behind


def test_given_a_stored_object_when_an_overwrite_fails_midway_then_the_old_content_stays(lake: Lake) -> None:
    lake.put("report.csv", "old,content\n")

    with pytest.raises(LakeWriteError, match="report.csv"):
        lake.put("report.csv", BreakingStream(good=1000))

    assert lake.get("report.csv") == b"old,content\n"
    if hasattr(lake, "root"):
        assert _stored_files(lake.root) == ["report.csv"]


def test_given_a_file_size_limit_when_a_folder_put_hits_it_midway_then_no_partial_or_temporary_file_remains(
    tmp_path: Path,
) -> None:
    """A real write failure from the kernel (EFBIG past RLIMIT_FSIZE, as a full disk fails a write midway),
    in a child process so the limit binds nothing else; root is bound by it too."""
    root = tmp_path / "lake"
    script = textwrap.dedent(f"""
        import resource
        from llf.services.lake import open_lake
        lake = open_lake({root.as_uri()!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, resource.RLIM_INFINITY))
        try:
            lake.put("runs/big.bin", b"x" * (3 * 1024 * 1024))
        except Exception as error:
            print(type(error).__name__, error)
    """)

    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)

    assert child.stdout.startswith("LakeWriteError Writing 'runs/big.bin' to the lake"), child.stdout + child.stderr
    assert "nothing was stored" in child.stdout and str(root) in child.stdout
    assert _stored_files(root) == []


def test_given_a_folder_where_the_object_should_go_when_put_then_the_rename_fails_and_no_temporary_file_remains(
    tmp_path: Path,
) -> None:
    lake = open_lake((tmp_path / "lake").as_uri())
    lake.put("a/inside.txt", "x")  # "a" is now a folder: a file cannot replace it

    with pytest.raises(LakeWriteError, match=r"'a'.*nothing was stored"):
        lake.put("a", "y" * 10_000)

    assert _stored_files(tmp_path / "lake") == ["a/inside.txt"]


def test_given_an_unsupported_type_when_put_then_it_is_refused_before_anything_is_written(lake: Lake) -> None:
    with pytest.raises(TypeError, match="Cannot store a dict"):
        lake.put("x.json", {"not": "bytes"})

    assert lake.list() == []


def test_given_a_put_then_its_location_is_the_lakes_own_and_reads_back_as_its_key(lake: Lake) -> None:
    location = lake.put("runs/s/p/2026-01-01/r1/p.ipynb", b"{}")

    assert location == lake.location("runs/s/p/2026-01-01/r1/p.ipynb")
    assert lake.key_of(location) == "runs/s/p/2026-01-01/r1/p.ipynb"
    assert lake.location("runs/s/p/2026-01-01/r1/").endswith("/r1/")
    assert lake.key_of(lake.location("runs/s/p/2026-01-01/r1/")) == "runs/s/p/2026-01-01/r1"


@pytest.mark.parametrize("foreign", ["file:///elsewhere/runs/x.ipynb", "s3://other-bucket/prefix/runs/x.ipynb",
                                     "", "runs/x.ipynb"])
def test_given_a_location_of_another_lake_then_it_has_no_key_here(lake: Lake, foreign: str) -> None:
    assert lake.key_of(foreign) is None


def test_given_a_location_climbing_out_with_dots_then_it_has_no_key(lake: Lake) -> None:
    assert lake.key_of(lake.location("runs/") + "../../etc/passwd") is None


def test_given_a_folder_lake_link_leading_out_then_its_stored_key_is_refused(tmp_path: Path) -> None:
    lake = open_lake((tmp_path / "lake").as_uri())
    (tmp_path / "secret.txt").write_text("not lake data")
    lake.put("runs/a/real.txt", b"x")
    (tmp_path / "lake" / "runs" / "a" / "out.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "lake" / "runs" / "a" / "inside.txt").symlink_to(tmp_path / "lake" / "runs" / "a" / "real.txt")

    assert lake.stored_key("runs/a/inside.txt") == "runs/a/real.txt"
    with pytest.raises(LakePathError):
        lake.stored_key("runs/a/out.txt")
