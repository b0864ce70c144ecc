"""Configuration (contract §1): one table of typed settings (``plugin.config.SETTINGS``).

Values from the environment and values set in code are both parsed against it and a bad
one is refused by name; unknown names are warned about; nothing else writes a default; the
README's table is generated from it (``python -m tests.test_config`` rewrites it).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask

from plugin.cli import main
from plugin.config import SETTINGS, SettingError, apply, checked, from_environ
from plugin.extension import CustomerGroups
from tests.conftest import SECRET, make_app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN = "<!-- settings: generated from plugin/config.py SETTINGS by tests/test_config.py -->"
END = "<!-- /settings -->"


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


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS", "abc", "an integer from 1 to 1000"),
        ("CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS", "2.5", "an integer"),
        ("CUSTOMER_GROUPS_JOB_THREADS", "0", "from 1 to 64"),
        ("CUSTOMER_GROUPS_JOB_POLL_SECONDS", "nan", "a number from 0.05 to 3600"),
        ("CUSTOMER_GROUPS_OUTBOX_TIMEOUT", "inf", "a number"),
        ("CUSTOMER_GROUPS_JOB_QUEUE", "kafka", "'embedded' or 'rq'"),
        ("CUSTOMER_GROUPS_LOG_LEVEL", "LOUD", "'INFO'"),
        ("CUSTOMER_GROUPS_APP_ID", " ", "not empty"),
        ("CUSTOMER_GROUPS_ADMIN_ORIGINS", "https://a.example; script-src *", "without ';'"),
        ("CUSTOMER_GROUPS_CHECKOUT_PRICER", "module:function", "set in code"),
    ],
)
def test_every_kind_of_bad_value_is_refused_by_name(key, value, says):
    with pytest.raises(SettingError) as refused:
        from_environ({key: value})
    assert list(refused.value.problems) == [key]
    assert str(refused.value).startswith(f"{key} must be ")
    assert says in str(refused.value)
    assert repr(value) in str(refused.value)


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(SettingError) as refused:
        from_environ(
            {
                "CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS": "abc",
                "CUSTOMER_GROUPS_JOB_QUEUE": "kafka",
                "CUSTOMER_GROUPS_JOB_THREADS": "4",
            }
        )
    assert set(refused.value.problems) == {
        "CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS",
        "CUSTOMER_GROUPS_JOB_QUEUE",
    }


def test_text_is_read_leniently_where_it_is_unambiguous():
    found = from_environ(
        {
            "CUSTOMER_GROUPS_JOB_QUEUE": " RQ ",
            "CUSTOMER_GROUPS_LOG_LEVEL": "warning",
            "CUSTOMER_GROUPS_REDIS_URL": "",
            "CUSTOMER_GROUPS_RUN_JOBS": "YES",
            "CUSTOMER_GROUPS_OUTBOX_BATCH": " 250 ",
        }
    )
    assert found == {
        "CUSTOMER_GROUPS_JOB_QUEUE": "rq",
        "CUSTOMER_GROUPS_LOG_LEVEL": "WARNING",
        "CUSTOMER_GROUPS_REDIS_URL": None,
        "CUSTOMER_GROUPS_RUN_JOBS": True,
        "CUSTOMER_GROUPS_OUTBOX_BATCH": 250,
    }


def test_an_unknown_name_is_warned_about_with_the_nearest_setting(caplog):
    with caplog.at_level(logging.WARNING, logger="plugin.config"):
        found = from_environ({"CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPT": "3"})
    assert found == {}
    assert "CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPT is not a setting" in caplog.text
    assert "did you mean CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS?" in caplog.text


def test_a_secret_is_never_repeated_in_a_refusal():
    with pytest.raises(SettingError) as refused:
        checked({"CUSTOMER_GROUPS_APP_SECRET": b"s3cr3t-bytes"})
    assert "s3cr3t" not in str(refused.value)
    assert "CUSTOMER_GROUPS_APP_SECRET must be text" in str(refused.value)


def test_values_set_in_code_are_checked_when_the_extension_is_installed(tmp_path):
    with pytest.raises(SettingError, match="CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS must be"):
        make_app(tmp_path, CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS="abc")
    with pytest.raises(SettingError, match="CUSTOMER_GROUPS_JOB_THREADS must be"):
        make_app(tmp_path, CUSTOMER_GROUPS_JOB_THREADS=0)
    with pytest.raises(SettingError, match="CUSTOMER_GROUPS_TOKEN_LEEWAY must be"):
        make_app(tmp_path, CUSTOMER_GROUPS_TOKEN_LEEWAY=True)
    with pytest.raises(SettingError, match="CUSTOMER_GROUPS_CHECKOUT_PRICER must be"):
        make_app(tmp_path, CUSTOMER_GROUPS_CHECKOUT_PRICER="not callable")


def test_a_host_app_gets_every_setting_typed(tmp_path):
    host = Flask("host")
    host.config.update(
        TESTING=True,
        CUSTOMER_GROUPS_APP_SECRET=SECRET,
        CUSTOMER_GROUPS_DATABASE_URL=f"sqlite:///{tmp_path}/ours.sqlite",
        # A host may copy the environment's text: it is read as the environment's.
        CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS="7",
        CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS="off",
        CUSTOMER_GROUPS_JOB_LEASE_SECONDS=30,
    )
    CustomerGroups(host)
    config = host.config
    assert config["CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS"] == 7
    assert config["CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS"] is False
    assert config["CUSTOMER_GROUPS_JOB_LEASE_SECONDS"] == 30.0
    assert isinstance(config["CUSTOMER_GROUPS_JOB_LEASE_SECONDS"], float)
    for setting in SETTINGS:  # every other setting is there, with its default
        if setting.name not in (
            "CUSTOMER_GROUPS_APP_SECRET",
            "CUSTOMER_GROUPS_DATABASE_URL",
            "CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS",
            "CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS",
            "CUSTOMER_GROUPS_JOB_LEASE_SECONDS",
        ):
            assert config[setting.name] == setting.default, setting.name


def test_an_unknown_key_in_code_is_warned_about(caplog):
    config = {"CUSTOMER_GROUPS_SEGMENT_SYNC_LIMT": 5, "CUSTOMER_GROUPS_TEST_THING": 1}
    with caplog.at_level(logging.WARNING, logger="plugin.config"):
        apply(config)
    assert "CUSTOMER_GROUPS_SEGMENT_SYNC_LIMT is not a setting" in caplog.text
    assert "did you mean CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT?" in caplog.text
    assert "TEST_THING" not in caplog.text
    assert config["CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT"] == 50_000


def test_every_default_is_within_its_own_bounds():
    for setting in SETTINGS:
        assert setting.check(setting.default) == setting.default, setting.name
        assert setting.meaning and "\n" not in setting.meaning and "|" not in setting.meaning


# --- No default written anywhere else ------------------------------------------------------

_SOURCES = ["plugin", "hooks", "admin_ui", "customer_groups_demo", "bench"]
_NAME = re.compile(r"CUSTOMER_GROUPS_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)")
#: ``config.get("CUSTOMER_GROUPS_…", default)``, ``os.environ.get(NAME_KEY, default)``…
_DEFAULTED = re.compile(
    r"""(?:config|environ)\.get\(\s*(?:f?["']CUSTOMER_GROUPS_[^"']*["']|[A-Z_]+_(?:KEY|SETTING))"""
    r"""\s*,|setdefault\(\s*f?["']CUSTOMER_GROUPS_"""
)


def _source_files():
    for folder in _SOURCES:
        if (ROOT / folder).exists():
            yield from sorted((ROOT / folder).rglob("*.py"))


def test_the_code_names_only_settings_of_the_table():
    known = {s.name for s in SETTINGS}
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in _source_files()
        if path.name != "config.py"
        for name in _NAME.findall(path.read_text())
        if name not in known and not name.startswith("CUSTOMER_GROUPS_TEST_")
    }
    assert not unknown, sorted(unknown)


def test_no_reader_writes_a_default_of_its_own():
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in _source_files()
        for match in _DEFAULTED.finditer(path.read_text())
    ]
    assert not found, found


# --- The README's table --------------------------------------------------------------------


def settings_table() -> str:
    """The README's configuration table, from ``SETTINGS``."""
    rows = [
        "| variable | meaning | accepts | default |",
        "|---|---|---|---|",
    ]
    for setting in SETTINGS:
        rows.append(
            f"| `{setting.name}` | {setting.meaning} | {setting.shown_accepts()} "
            f"| {setting.shown()} |"
        )
    return "\n".join(rows)


def _block_bounds(text: str) -> tuple[int, int]:
    start = text.index(BEGIN) + len(BEGIN)
    return start, text.index(END, start)


def _readme_block(text: str) -> str:
    start, end = _block_bounds(text)
    return text[start:end].strip("\n")


def test_the_readme_lists_every_setting_as_the_table_says():
    assert _readme_block(README.read_text()) == settings_table(), (
        "The README's configuration table is not SETTINGS': run "
        "`.venv/bin/python -m tests.test_config` to rewrite it."
    )


def test_db_upgrade_needs_no_secret_and_bad_settings_are_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CUSTOMER_GROUPS_APP_SECRET", raising=False)
    monkeypatch.setenv("CUSTOMER_GROUPS_DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite")
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "db.sqlite").exists()

    monkeypatch.setenv("CUSTOMER_GROUPS_TOKEN_LEEWAY", "ten")
    assert main(["db", "upgrade"]) == 2
    assert "CUSTOMER_GROUPS_TOKEN_LEEWAY must be a number" in capsys.readouterr().err


def test_a_bad_log_level_is_a_message_too(monkeypatch, capsys):
    monkeypatch.setenv("CUSTOMER_GROUPS_LOG_LEVEL", "LOUD")
    assert main(["db", "upgrade"]) == 2
    assert "CUSTOMER_GROUPS_LOG_LEVEL must be 'DEBUG' or" in capsys.readouterr().err


if __name__ == "__main__":  # rewrite the README's table: .venv/bin/python -m tests.test_config
    text = README.read_text()
    start, end = _block_bounds(text)
    README.write_text(f"{text[:start]}\n{settings_table()}\n{text[end:]}")
    print("README.md: configuration table rewritten from plugin/config.py")
