"""On an s3:// lake a notebook kernel holds its stream's own temporary key, never llf's (issue 26, exploit 3): a
real run (runner, papermill, a real kernel, the session's PostgreSQL, the S3 stand-in on a socket enforcing the
key's session policy as MinIO does) writes its own part of the lake through nb.lake(), and hostile code using the
kernel's variables with the raw SDK cannot touch another stream's objects or the run outputs; each run ends with
its true status."""

from __future__ import annotations

from itertools import count

import pytest

from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from llf.services.lake import open_lake
from tests.runner.conftest import BUSINESS_DATE, last_message, run_context, statuses
from tests.support.notebooks import write_notebook

_buckets = count()

RAW_CLIENT = """
import io, os
from minio import Minio
client = Minio(os.environ['LLF_MINIO_ENDPOINT'], access_key=os.environ['LLF_MINIO_ACCESS_KEY'],
               secret_key=os.environ['LLF_MINIO_SECRET_KEY'], session_token=os.environ['LLF_MINIO_SESSION_TOKEN'],
               secure=False, region='us-east-1')
bucket = os.environ['LLF_LAKE_URL'][len('s3://'):].split('/')[0]
"""


@pytest.fixture
def s3_lake(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The worker's lake: a fresh bucket on the stand-in, opened with llf's key; stream `other` has data in it."""
    url = f"s3://runs-{next(_buckets)}/lake"
    monkeypatch.setenv("LLF_LAKE_URL", url)
    monkeypatch.setenv("LLF_MINIO_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("LLF_MINIO_ACCESS_KEY", "llf-worker")
    monkeypatch.setenv("LLF_MINIO_SECRET_KEY", "llf-worker-secret")
    open_lake(url).put("streams/other/ledger.csv", "other's ledger")
    return url


def test_given_an_s3_lake_when_a_notebook_writes_through_nb_lake_then_it_lands_in_its_stream_part(
    registry, stream, notebooks_dir, sql, s3_lake
):
    # given a notebook that checks it does not hold llf's key, then writes through the SDK
    write_notebook(notebooks_dir / "own.ipynb",
                   "import os\nfrom llf import notebook as nb\n"
                   "assert os.environ['LLF_MINIO_ACCESS_KEY'] != 'llf-worker'\n"
                   "assert os.environ['LLF_MINIO_SECRET_KEY'] != 'llf-worker-secret'\n"
                   "nb.lake().put('scores/today.csv', 'id,score\\n1,0.9\\n')\n"
                   "assert nb.lake().get('scores/today.csv').startswith(b'id,score')")
    registry.process(stream["group"], "own", notebook="own.ipynb")
    # when it runs
    run_process(run_context("own"))
    # then it succeeded, its object is in stream s's part, and the run output was stored with llf's key
    assert statuses(sql, "own") == ["SUCCESS"]
    platform = open_lake(s3_lake)
    assert platform.get("streams/s/scores/today.csv") == b"id,score\n1,0.9\n"
    assert any(key.endswith("own.ipynb") for key in platform.list(f"runs/s/own/{BUSINESS_DATE}/"))


@pytest.mark.parametrize("hostile", [
    "client.put_object(bucket, 'lake/streams/other/ledger.csv', io.BytesIO(b'planted'), 7)",
    "client.get_object(bucket, 'lake/streams/other/ledger.csv').read()",
    "list(client.list_objects(bucket, prefix='lake/runs/', recursive=True))",
    "client.remove_object(bucket, 'lake/streams/other/ledger.csv')",
])
def test_given_an_s3_lake_when_a_notebook_reaches_for_another_stream_then_minio_refuses_and_the_run_fails(
    registry, stream, notebooks_dir, sql, s3_lake, hostile
):
    # given a notebook that uses the kernel's key raw, outside its stream's part
    write_notebook(notebooks_dir / "grab.ipynb", RAW_CLIENT + hostile)
    registry.process(stream["group"], "grab", notebook="grab.ipynb")
    # when it runs
    with pytest.raises(ProcessFailed, match="AccessDenied"):
        run_process(run_context("grab"))
    # then the run ends FAILED with the refusal, and the other stream's object is as it was
    assert statuses(sql, "grab") == ["FAILED"]
    assert "AccessDenied" in last_message(sql, "grab")
    assert open_lake(s3_lake).get("streams/other/ledger.csv") == b"other's ledger"


def test_given_stream_keys_off_when_a_notebook_runs_then_it_holds_llfs_key_as_the_setting_says(
    registry, stream, notebooks_dir, sql, s3_lake, monkeypatch
):
    monkeypatch.setenv("LLF_LAKE_STREAM_KEYS", "off")
    write_notebook(notebooks_dir / "shared.ipynb",
                   "import os\nassert os.environ['LLF_MINIO_ACCESS_KEY'] == 'llf-worker'\n"
                   "assert 'LLF_MINIO_SESSION_TOKEN' not in os.environ")
    registry.process(stream["group"], "shared", notebook="shared.ipynb")
    run_process(run_context("shared"))
    assert statuses(sql, "shared") == ["SUCCESS"]


def test_given_minio_refusing_to_mint_when_a_notebook_would_run_then_it_fails_with_the_sentence_and_no_kernel(
    registry, stream, notebooks_dir, sql, s3_lake, monkeypatch
):
    # given MinIO gone between the bucket and the key (nothing listens on the discard port)
    monkeypatch.setenv("LLF_MINIO_ENDPOINT", "127.0.0.1:9")
    write_notebook(notebooks_dir / "never.ipynb", "raise SystemExit('the kernel must not start')")
    registry.process(stream["group"], "never", notebook="never.ipynb")
    with pytest.raises(ProcessFailed):
        run_process(run_context("never"))
    assert statuses(sql, "never") == ["FAILED"]
    message = last_message(sql, "never")
    assert "MinIO" in message and "LLF_MINIO_ENDPOINT" in message, message
    assert "llf-worker-secret" not in message
