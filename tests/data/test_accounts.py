"""Accounts: argon2 hashes, roles and permissions, grid areas, names, lockout that survives a
restart, password changes that end sessions."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from data.accounts import (
    PERMISSIONS,
    ROLES,
    LoginLocked,
    LoginPolicy,
    User,
    add_user,
    get_user,
    has_accounts,
    list_users,
    logins_path,
    remove_user,
    session_token,
    set_password,
    users_path,
    verify,
)
from data.workspace import Config, Workspace

ROOT = Path(__file__).resolve().parents[2]
FAST = LoginPolicy(max_failures=3, window_s=60, lockout_s=60, delay_s=0.0)
PW = "correct horse 1"


@pytest.fixture
def ws(tmp_path) -> Workspace:
    """A workspace with two area layers (a 社区 and its two 网格)."""
    w = Workspace.create(tmp_path / "w", Config(name="测试市", crs="EPSG:32648"))
    community = gpd.GeoDataFrame({"area_id": ["C01"], "name": ["一社区"]},
                                 geometry=[box(0, 0, 200, 100)], crs="EPSG:32648")
    grid = gpd.GeoDataFrame({"area_id": ["C01G1", "C01G2"], "parent_id": ["C01", "C01"]},
                            geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs="EPSG:32648")
    community.to_parquet(w.area_path("community"))
    grid.to_parquet(w.area_path("grid"))
    return w


def test_password_is_stored_as_argon2id_hash_only(ws):
    add_user(ws, "张三", "analyst", password=PW)
    text = users_path(ws).read_text(encoding="utf-8")
    rec = json.loads(text)["users"]["张三"]
    assert rec["hash"].startswith("$argon2id$")
    assert PW not in text
    assert stat.S_IMODE(users_path(ws).stat().st_mode) == 0o600
    assert "hash" not in list_users(ws).columns
    assert list_users(ws)["name"].tolist() == ["张三"]


def test_verify_right_wrong_and_unknown(ws):
    add_user(ws, "li", "leader", password=PW)
    assert verify(ws, "li", PW, policy=FAST) == User("li", "leader", None)
    assert verify(ws, "li", PW + "x", policy=FAST) is None
    assert verify(ws, "nobody", PW, policy=FAST) is None
    assert verify(ws, "li", "", policy=FAST) is None


@pytest.mark.parametrize("role", ROLES)
def test_role_permissions(role):
    user = User("u", role, "C01" if role == "grid" else None)
    assert user.can_upload == (role == "analyst")
    assert user.can_manage_users == (role == "admin")
    assert user.can_export  # every role exports what it sees (grid: its own areas)
    assert user.can("view")
    assert user.full_scope == (role != "grid")
    assert not user.can("no_such_permission")
    assert set(PERMISSIONS[role]) >= {"view", "export"}


def test_leader_cannot_upload_or_manage_users():
    leader = User("l", "leader")
    assert not leader.can_upload and not leader.can_manage_users


def test_grid_user_needs_an_existing_area(ws):
    with pytest.raises(ValueError, match="--area"):
        add_user(ws, "g", "grid", password=PW)
    with pytest.raises(ValueError, match="C99.*community, grid"):
        add_user(ws, "g", "grid", password=PW, area_id="C99")
    assert add_user(ws, "g", "grid", password=PW, area_id="C01G2") == User("g", "grid", "C01G2")
    assert get_user(ws, "g").area_id == "C01G2"
    with pytest.raises(ValueError, match="only grid users"):
        add_user(ws, "a", "analyst", password=PW, area_id="C01")


@pytest.mark.parametrize("name", ["", "a\x00b", "tab\tname", "line\nbreak", "x" * 65, " padded",
                                  "rtl\u202eoverride"])
def test_bad_names_are_refused(ws, name):
    with pytest.raises(ValueError, match="user name"):
        add_user(ws, name, "analyst", password=PW)
    assert not has_accounts(ws)


def test_bad_role_duplicate_and_short_password(ws):
    with pytest.raises(ValueError, match="--role"):
        add_user(ws, "a", "superuser", password=PW)
    with pytest.raises(ValueError, match="at least 8"):
        add_user(ws, "a", "analyst", password="short")
    add_user(ws, "a", "analyst", password=PW)
    with pytest.raises(ValueError, match="exists"):
        add_user(ws, "a", "leader", password=PW)
    with pytest.raises(ValueError, match="no such user"):
        remove_user(ws, "b")
    with pytest.raises(ValueError, match="no such user"):
        set_password(ws, "b", PW)


def test_has_accounts_follows_adds_and_removes(ws):
    assert not has_accounts(ws)
    add_user(ws, "a", "admin", password=PW)
    assert has_accounts(ws)
    remove_user(ws, "a")
    assert not has_accounts(ws)
    assert verify(ws, "a", PW, policy=FAST) is None


def test_lockout_after_repeated_failures_refuses_the_right_password(ws):
    add_user(ws, "a", "analyst", password=PW)
    for _ in range(FAST.max_failures):
        assert verify(ws, "a", "wrong password", policy=FAST) is None
    with pytest.raises(LoginLocked, match="locked"):
        verify(ws, "a", PW, policy=FAST)
    # other names are not affected
    add_user(ws, "b", "analyst", password=PW)
    assert verify(ws, "b", PW, policy=FAST) is not None


def test_a_guesser_cannot_lock_a_colleague_out_from_another_address(ws):
    add_user(ws, "leader", "leader", password=PW)
    for _ in range(FAST.max_failures):
        assert verify(ws, "leader", "wrong password", policy=FAST, client="10.0.0.66") is None
    with pytest.raises(LoginLocked):
        verify(ws, "leader", PW, policy=FAST, client="10.0.0.66")
    # the leader's own PC still signs in
    assert verify(ws, "leader", PW, policy=FAST, client="10.0.0.7") == User("leader", "leader", None)


def test_a_guess_spread_over_many_addresses_locks_the_name_everywhere(ws):
    add_user(ws, "leader", "leader", password=PW)
    policy = LoginPolicy(max_failures=3, max_failures_name=6, window_s=60, lockout_s=60, delay_s=0.0)
    for i in range(6):  # two failures from each of three addresses: none reaches its own limit
        verify(ws, "leader", "wrong password", policy=policy, client=f"10.0.0.{i // 2}")
    with pytest.raises(LoginLocked):
        verify(ws, "leader", PW, policy=policy, client="10.0.0.7")


def test_a_new_password_clears_every_lockout_of_the_name(ws):
    add_user(ws, "a", "analyst", password=PW)
    for client in ("10.0.0.1", "10.0.0.2"):
        for _ in range(FAST.max_failures):
            verify(ws, "a", "wrong password", policy=FAST, client=client)
    set_password(ws, "a", PW + "-new")
    assert verify(ws, "a", PW + "-new", policy=FAST, client="10.0.0.1") is not None
    assert verify(ws, "a", PW + "-new", policy=FAST, client="10.0.0.2") is not None


def test_lockout_survives_a_restart(ws):
    add_user(ws, "a", "analyst", password=PW)
    for _ in range(FAST.max_failures):
        verify(ws, "a", "wrong password", policy=FAST)
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from data.accounts import verify, LoginLocked\nfrom data.workspace import Workspace\n"
            f"try:\n    verify(Workspace({str(ws.path)!r}), 'a', {PW!r})\n    print('open')\n"
            "except LoginLocked:\n    print('locked')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "locked", out.stderr


def test_old_failures_expire(ws):
    add_user(ws, "a", "analyst", password=PW)
    old = time.time() - FAST.window_s - 5  # two failures from before the window
    logins_path(ws).write_text(json.dumps({"names": {"a": {"failures": [old, old + 1]}}}), encoding="utf-8")
    verify(ws, "a", "wrong password", policy=FAST)
    assert verify(ws, "a", PW, policy=FAST) is not None  # 1 failure in the window: not locked


def test_lockout_ends(ws):
    add_user(ws, "a", "analyst", password=PW)
    brief = LoginPolicy(max_failures=2, window_s=60, lockout_s=1.0, delay_s=0.0)
    verify(ws, "a", "wrong password", policy=brief)
    verify(ws, "a", "wrong password", policy=brief)
    with pytest.raises(LoginLocked):
        verify(ws, "a", PW, policy=brief)
    time.sleep(1.1)
    assert verify(ws, "a", PW, policy=brief) is not None


def test_failures_are_slowed_down(ws):
    add_user(ws, "a", "analyst", password=PW)
    slow = LoginPolicy(max_failures=10, delay_s=0.1, max_delay_s=0.15)
    t0 = time.perf_counter()
    verify(ws, "a", "wrong password", policy=slow)  # waits 0.1 s
    verify(ws, "a", "wrong password", policy=slow)  # waits min(0.2, 0.15) s
    assert time.perf_counter() - t0 >= 0.25


def test_unknown_names_are_counted_and_the_state_file_stays_small(ws):
    policy = LoginPolicy(max_failures=2, window_s=0.2, lockout_s=0.2, delay_s=0.0)
    for i in range(6):
        verify(ws, f"guess{i}", "wrong password", policy=policy)
    time.sleep(0.25)
    verify(ws, "last", "wrong password", policy=policy)
    names = json.loads(logins_path(ws).read_text(encoding="utf-8"))["names"]
    # stale entries are dropped: only the name's total and its count from this client remain
    assert sorted(names) == ["last", "last\x00local"]


def test_set_password_changes_hash_session_and_clears_lockout(ws):
    add_user(ws, "a", "analyst", password=PW)
    token = session_token(ws, "a")
    for _ in range(FAST.max_failures):
        verify(ws, "a", "wrong password", policy=FAST)
    set_password(ws, "a", "another pass 2")
    assert session_token(ws, "a") != token
    assert verify(ws, "a", PW, policy=FAST) is None
    assert verify(ws, "a", "another pass 2", policy=FAST) == User("a", "analyst", None)


def test_concurrent_adds_keep_every_user(ws):
    errors = []

    def add(i):
        try:
            add_user(ws, f"user{i}", "analyst", password=PW)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sorted(list_users(ws)["name"]) == [f"user{i}" for i in range(6)]
