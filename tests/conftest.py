"""Session-wide fixtures: a real embedded PostgreSQL and a fresh control database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from llf.local.postgres import EmbeddedPostgres
from tests.support.registry import Registry, Run, sql_runner
from tests.support.standins.s3_server import s3_server

OWN_BASETEMP = pytest.StashKey[Path]()
SESSION_PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """A private temp root per session: pytest's shared numbered folders race between parallel sessions."""
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="llf-pytest-")
        config.stash[OWN_BASETEMP] = Path(config.option.basetemp)
    if os.geteuid() == 0:
        _open_to_kernels(Path(config.option.basetemp))


def _open_to_kernels(basetemp: Path) -> None:
    """Run as root, the runner starts each kernel under its stream's own OS user (llf/runner/kernel_user.py).
    Tests' notebooks write marker files in the test's folders, as a site's notebooks write in folders it opens to
    them: so the session's folders are opened to every user (umask 0, each temp folder 0777). What the platform
    must keep from kernels (state dir, connection files, kernelspec, venv) llf closes itself, whatever the umask."""
    os.umask(0)
    basetemp.mkdir(parents=True, exist_ok=True)
    basetemp.chmod(0o777)
    mktemp = pytest.TempPathFactory.mktemp

    def open_mktemp(self: pytest.TempPathFactory, basename: str, numbered: bool = True) -> Path:
        made = mktemp(self, basename, numbered)
        made.chmod(0o777)
        return made

    pytest.TempPathFactory.mktemp = open_mktemp  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[SESSION_PASSED] = exitstatus == 0


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's temp root (a full run leaves ~3 GB: databases, Airflow homes, lakes) once it passed;
    a failed session keeps it for its logs and says where. pytest prunes only the folders it names itself."""
    own = config.stash.get(OWN_BASETEMP, None)
    if own is None:
        return
    if config.stash.get(SESSION_PASSED, False):
        shutil.rmtree(own, ignore_errors=True)
    else:
        print(f"\nllf: kept this session's files for inspection in {own}")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One PostgreSQL server for the whole session, with the control schema in a template database."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pgdata"))
    server.create_template()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """`host:port` of a moto S3 server shared by the session (tests use distinct buckets)."""
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def control_db_url(postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh control database with the schema applied; also exported as LLF_CONTROL_DB_URL, its notebook
    login's URL as LLF_NOTEBOOK_DB_URL (what the runner hands notebook kernels) and its UI login's as
    LLF_UI_DB_URL (what the control-plane UI reads with)."""
    url = postgres.fresh_database()
    monkeypatch.setenv("LLF_CONTROL_DB_URL", url)
    monkeypatch.setenv("LLF_NOTEBOOK_DB_URL", postgres.notebook_url(url))
    monkeypatch.setenv("LLF_UI_DB_URL", postgres.ui_url(url))
    return url


@pytest.fixture
def notebook_db_url(postgres: EmbeddedPostgres, control_db_url: str) -> str:
    """The test's control database as notebooks reach it: the login in role llf_notebook."""
    return postgres.notebook_url(control_db_url)


@pytest.fixture
def ui_db_url(postgres: EmbeddedPostgres, control_db_url: str) -> str:
    """The test's control database as the control-plane UI reads it: the login in role llf_ui_reader."""
    return postgres.ui_url(control_db_url)


@pytest.fixture
def sql(control_db_url: str) -> Iterator[Run]:
    """Run SQL against the test's control database, committed at once, returning rows when any."""
    with sql_runner(control_db_url) as run:
        yield run


@pytest.fixture
def lake_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder lake exported as LLF_LAKE_URL."""
    folder = tmp_path / "lake"
    folder.mkdir()
    monkeypatch.setenv("LLF_LAKE_URL", folder.as_uri())
    return folder


@pytest.fixture
def notebooks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty notebooks folder exported as LLF_NOTEBOOKS_DIR."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setenv("LLF_NOTEBOOKS_DIR", str(folder))
    return folder


@pytest.fixture
def registry(sql) -> Registry:
    """Register streams, groups, processes and dependencies by SQL INSERT."""
    return Registry(sql)
