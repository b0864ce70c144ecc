"""Configuration from the environment (contract §1): typed like the defaults, bad values
refused with a message that names the variable."""

from __future__ import annotations

import pytest

from plugin.cli import main
from plugin.config import from_environ


def test_environment_values_take_the_type_of_their_default():
    found = from_environ(
        {
            "CUSTOMER_GROUPS_TOKEN_LEEWAY": "5",
            "CUSTOMER_GROUPS_JOB_POLL_SECONDS": "0.5",
            "CUSTOMER_GROUPS_ALLOW_MISSING_SECRET": "0",
            "CUSTOMER_GROUPS_RUN_JOBS": "off",
            "CUSTOMER_GROUPS_ADMIN_ORIGINS": "https://admin.example",
            "CUSTOMER_GROUPS_TEST_DATABASE_URL": "ignored",
            "OTHER": "ignored",
        }
    )
    assert found == {
        "CUSTOMER_GROUPS_TOKEN_LEEWAY": 5,
        "CUSTOMER_GROUPS_JOB_POLL_SECONDS": 0.5,
        "CUSTOMER_GROUPS_ALLOW_MISSING_SECRET": False,
        "CUSTOMER_GROUPS_RUN_JOBS": False,
        "CUSTOMER_GROUPS_ADMIN_ORIGINS": "https://admin.example",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [("CUSTOMER_GROUPS_TOKEN_LEEWAY", "ten"), ("CUSTOMER_GROUPS_ALLOW_MISSING_SECRET", "maybe")],
)
def test_a_bad_value_is_refused_by_name(key, value):
    with pytest.raises(ValueError, match=key):
        from_environ({key: value})


def test_db_upgrade_needs_no_secret_and_bad_settings_are_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CUSTOMER_GROUPS_APP_SECRET", raising=False)
    monkeypatch.setenv("CUSTOMER_GROUPS_DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite")
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "db.sqlite").exists()

    monkeypatch.setenv("CUSTOMER_GROUPS_TOKEN_LEEWAY", "ten")
    assert main(["db", "upgrade"]) == 2
    assert "CUSTOMER_GROUPS_TOKEN_LEEWAY must be a number" in capsys.readouterr().err
