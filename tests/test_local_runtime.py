"""The local runtime's work folder cannot be taken over by another local user."""

from __future__ import annotations

import os

import pytest

from vaporforge.errors import RuntimeFailure
from worker.runtimes.local import LocalRuntime

NOBODY = 65534


def test_a_fresh_work_folder_is_private(tmp_path):
    LocalRuntime(str(tmp_path / "work"))
    assert (tmp_path / "work").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("how", ["other owner", "group writable", "world writable", "symlink"])
def test_a_work_folder_someone_else_could_swap_is_refused(tmp_path, how):
    """Defect 7: a pre-existing /tmp/vaporforge owned by someone else was used, and
    its owner could replace a session's HOME with a link to receive the
    credentials file."""
    work = tmp_path / "work"
    if how == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        work.symlink_to(tmp_path / "elsewhere")
    else:
        work.mkdir(mode=0o700)
    if how == "other owner":
        os.chown(work, NOBODY, NOBODY)
    elif how == "group writable":
        work.chmod(0o770)
    elif how == "world writable":
        work.chmod(0o1777)
    with pytest.raises(RuntimeFailure):
        LocalRuntime(str(work))


def test_the_default_work_folder_is_the_service_users_own():
    from vaporforge.settings import Settings
    assert Settings.from_env({"XDG_RUNTIME_DIR": "/run/user/1000"}).work_dir == \
        "/run/user/1000/vaporforge"
    assert Settings.from_env({}).work_dir == f"/tmp/vaporforge-{os.geteuid()}"
