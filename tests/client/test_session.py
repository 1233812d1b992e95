"""Login on the tablet: online first, then offline unlock with the password or a PIN; token
handling; logout never discards unsynced work silently."""

from __future__ import annotations

import json

import pytest

from kivy_client.session import check_verifier, make_verifier
from sync_protocol.errors import ErrorCode, RuhuError
from tests.conftest import PASSWORD, VILLAGE_A1

from .util import household


def _offline(dev):
    dev.wire.fail(lambda r: True, "network")


def test_verifier_never_holds_the_password():
    v = make_verifier("secret-123")
    assert "secret-123" not in v and v.startswith("scrypt$")
    assert check_verifier(v, "secret-123") and not check_verifier(v, "secret-124")
    assert make_verifier("secret-123") != v  # salted
    assert not check_verifier("garbage", "x") and not check_verifier(None, "x")


def test_first_login_online_then_offline_unlock(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="王村干")
    dev = make_device("cadre", "tab-a", login=False)
    # never logged in on this tablet and no network: a clear refusal
    _offline(dev)
    with pytest.raises(RuhuError) as err:
        dev.session.login("cadre", PASSWORD)
    assert err.value.code == ErrorCode.client_offline_unknown_user
    dev.wire.faults.clear()
    account = dev.session.login("cadre", PASSWORD)
    assert account.name == "王村干" and account.scopes == [VILLAGE_A1] and account.token_valid
    assert dev.store.current_user_id == account.user_id
    raw = dev.store.query("SELECT * FROM accounts")[0]
    assert PASSWORD not in json.dumps(dict(raw))
    with pytest.raises(RuhuError) as err:
        dev.session.login("cadre", "wrong-password")
    assert err.value.code == ErrorCode.auth_invalid_credentials
    dev.session.set_pin("2468")
    with pytest.raises(RuhuError) as err:
        dev.session.set_pin("12")
    assert err.value.code == ErrorCode.client_pin_invalid

    # the app restarts without signal: unlock offline with the password or the PIN
    dev.restart()
    _offline(dev)
    dev.session.account = None
    assert dev.session.login("cadre", PASSWORD).user_id == account.user_id
    assert dev.session.online is False
    assert dev.session.unlock("cadre", pin="2468").user_id == account.user_id
    with pytest.raises(RuhuError) as err:
        dev.session.unlock("cadre", pin="0000")
    assert err.value.code == ErrorCode.auth_invalid_credentials
    with pytest.raises(RuhuError):
        dev.session.unlock("cadre", password="nope")
    assert [a.username for a in dev.session.known_users()] == ["cadre"]
    # work recorded offline is pushed once the network is back
    dev.store.create_household(household())
    dev.wire.faults.clear()
    assert dev.sync().pushed == {"applied": 1}


def test_token_refresh_and_401(make_user, make_device):
    from kivy_client.sync import NeedsLogin

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    first = dev.session.token
    dev.session.invalidate_token()
    assert dev.session.token is None and dev.session.needs_online_login
    dev.store.create_household(household())
    with pytest.raises(NeedsLogin):
        dev.sync()
    assert dev.store.pending_count() == 1  # nothing lost
    dev.session.refresh(PASSWORD)
    assert dev.session.token and not dev.session.needs_online_login
    assert first
    assert dev.sync().pushed == {"applied": 1}


def test_logout_with_unsynced_work_warns_and_exports(make_user, make_device, tmp_path):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    make_user("other", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    hid = dev.store.create_household(household())
    result = dev.session.logout()
    assert not result.logged_out and result.pending == 1 and "未上传" in result.warning
    assert dev.session.account is not None and dev.store.pending_count() == 1
    # another user cannot sign in over this user's unsynced work
    with pytest.raises(RuhuError) as err:
        dev.session.login("other", PASSWORD)
    assert err.value.code == ErrorCode.client_unsynced_work
    dev.session.login("cadre", PASSWORD)
    result = dev.session.logout(force=True, export_dir=tmp_path)
    assert result.logged_out and result.exported_to is not None
    exported = json.loads(result.exported_to.read_text(encoding="utf-8"))
    assert exported["changes"][0]["record_id"] == hid
    assert dev.session.token is None


def test_logout_when_synced_keeps_data_for_next_unlock(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    make_user("other", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    hid = dev.store.create_household(household())
    dev.sync()
    assert dev.session.logout().logged_out
    assert dev.store.get("household", hid) is not None
    # a different user signs in: the previous user's records are not shown to them
    dev.session.login("other", PASSWORD)
    dev.sync()
    assert [r.id for r in dev.store.roster()] == [hid]  # same village: pulled again
    assert dev.store.get_meta("data_owner") == dev.session.account.user_id
    assert {a.username for a in dev.session.known_users()} == {"cadre", "other"}


def test_disabled_user_loses_offline_unlock(db, make_user, make_device):
    import sqlalchemy as sa

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE app_user SET disabled = true WHERE username = 'cadre'"))
    with pytest.raises(RuhuError) as err:
        dev.session.login("cadre", PASSWORD)
    assert err.value.code == ErrorCode.auth_user_disabled and "停用" in err.value.message
    _offline(dev)
    with pytest.raises(RuhuError) as err:
        dev.session.unlock("cadre", password=PASSWORD)
    assert err.value.code == ErrorCode.client_offline_unknown_user


def test_login_without_the_server_says_offline_mode(make_user, make_device, client):
    from kivy_client.ui.presenters import Presenters

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")  # logged in online once
    dev.session.logout()
    presenters = Presenters(dev.store, str(client.base_url), transport=dev.wire)
    assert presenters.login.login(str(client.base_url), "cadre", PASSWORD) is None
    assert presenters.login.offline_notice == ""  # the server answered
    presenters.login.logout()
    dev.wire.fail(lambda r: True, "network")
    assert presenters.login.login(str(client.base_url), "cadre", PASSWORD) is None
    assert presenters.login.offline_notice.startswith("离线模式")
