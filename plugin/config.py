"""Configuration (contract §1): every ``CUSTOMER_GROUPS_*`` setting, typed, in one table.

``SETTINGS`` is the only place a setting's type, bounds, default and meaning are written:
the environment is parsed against it (``from_environ``), values an app sets in code are
checked against it when the extension is installed (``apply``), and the README's
configuration table is generated from it (``tests/test_config.py``). After
``CustomerGroups(app)``, ``app.config`` holds every setting, typed and within bounds, and
code reads them as ``config["CUSTOMER_GROUPS_…"]``, never with a default of its own.

A bad value is refused with a ``SettingError`` that names the setting. A
``CUSTOMER_GROUPS_*`` name that is not in the table is logged as a warning and ignored,
not refused: the environment of a rolling deploy is shared by the old and the new
release, so a setting one of them does not know must not stop it from starting (the
warning suggests the nearest known name, which catches typos).
``CUSTOMER_GROUPS_TEST_*`` belongs to the test suite and is not read here.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

PREFIX = "CUSTOMER_GROUPS_"
#: Variables of the test suite (``CUSTOMER_GROUPS_TEST_DATABASE_URL``…), never settings.
TEST_PREFIX = PREFIX + "TEST_"

Kind = Literal["int", "float", "bool", "str", "choice", "words", "callable"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class SettingError(ValueError):
    """Settings refused: ``problems`` maps each setting's name to why (the message names it)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__(" ".join(self.problems.values()))


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its name, type, default, bounds and a one-line meaning."""

    name: str
    kind: Kind
    default: Any
    meaning: str
    #: None is a value (read from an empty variable); the default may then be None.
    optional: bool = False
    #: Inclusive bounds of a number.
    minimum: float | None = None
    maximum: float | None = None
    #: The values of a ``choice`` (read case-insensitively, kept as written here).
    choices: tuple[str, ...] = ()
    #: Whether a ``str`` may be empty.
    blank: bool = True
    #: How the README shows the default, when the value alone does not say it.
    shown_default: str | None = None
    #: Never echoed in a refusal (a secret, a URL that may hold a password).
    secret: bool = False

    @property
    def environment(self) -> bool:
        """Whether the environment can set it (a callable is set in code only)."""
        return self.kind != "callable"

    def parse(self, text: str) -> Any:
        """The value of an environment variable's text; ``SettingError`` if it is bad."""
        if not self.environment:
            raise self.refused("can only be set in code", text)
        stripped = text.strip()
        if self.optional and not stripped and self.kind != "bool":
            return None
        if self.kind == "int":
            try:
                return self._bounded(int(stripped), text)
            except ValueError:
                raise self.refused(self.accepts(), text) from None
        if self.kind == "float":
            try:
                number = float(stripped)
            except ValueError:
                raise self.refused(self.accepts(), text) from None
            return self._bounded(number, text)
        if self.kind == "bool":
            word = stripped.lower()
            if word not in _TRUE | _FALSE:
                raise self.refused(self.accepts(), text)
            return word in _TRUE
        if self.kind == "choice":
            for choice in self.choices:
                if choice.lower() == stripped.lower():
                    return choice
            raise self.refused(self.accepts(), text)
        return self.check(text)

    def check(self, value: Any) -> Any:
        """A value set in code, as the setting's type: typed values are checked, text is read
        like the environment's (a host may copy it from there); ``SettingError`` if bad."""
        if value is None:
            if self.optional:
                return None
            raise self.refused(self.accepts(), value)
        if isinstance(value, str) and self.kind in ("int", "float", "bool", "choice"):
            return self.parse(value)
        if self.kind == "bool":
            if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
                return bool(value)
        elif self.kind in ("int", "float"):
            if isinstance(value, int | float) and not isinstance(value, bool):
                if self.kind == "int" and isinstance(value, float):
                    if not value.is_integer():
                        raise self.refused(self.accepts(), value)
                    value = int(value)
                return self._bounded(int(value) if self.kind == "int" else float(value), value)
        elif self.kind == "str":
            if isinstance(value, str):
                if not self.blank and not value.strip():
                    raise self.refused(self.accepts(), value)
                if not _is_utf8(value):  # e.g. undecodable bytes in the environment
                    raise self.refused(self.accepts(), value)
                return value
        elif self.kind == "words":
            words = value.replace(",", " ").split() if isinstance(value, str) else value
            if isinstance(words, list | tuple) and all(isinstance(w, str) for w in words):
                if any(";" in w or not w.isprintable() for w in words):
                    raise self.refused(self.accepts(), value)
                return value if isinstance(value, str) else list(value)
        elif self.kind == "callable":
            if callable(value):
                return value
        raise self.refused(self.accepts(), value)

    def _bounded(self, number: float, original: Any) -> Any:
        if not math.isfinite(number):
            raise self.refused(self.accepts(), original)
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise self.refused(self.accepts(), original)
        return number

    def accepts(self) -> str:
        """What the setting accepts, in a refusal's words."""
        if self.kind in ("int", "float"):
            noun = "a number, an integer" if self.kind == "int" else "a number"
            bounds = self._bounds(" from {} to {}", " of at least {}", " of at most {}")
            text = noun + bounds
        elif self.kind == "bool":
            text = "on or off (1/0, true/false, yes/no)"
        elif self.kind == "choice":
            text = " or ".join(f"'{c}'" for c in self.choices)
        elif self.kind == "words":
            text = "words separated by commas or spaces, without ';'"
        elif self.kind == "callable":
            text = "a callable, set in code"
        else:
            text = "text" if self.blank else "text, not empty"
        return f"{text}, or unset" if self.optional else text

    def shown_accepts(self) -> str:
        """What the setting accepts, in the README's words."""
        if self.kind in ("int", "float"):
            noun = "integer" if self.kind == "int" else "number"
            text = noun + self._bounds(" {}–{}", " ≥ {}", " ≤ {}")
        elif self.kind == "bool":
            text = "on/off"
        elif self.kind == "choice":
            text = ", ".join(f"`{c}`" for c in self.choices)
        elif self.kind == "words":
            text = "list (commas or spaces)"
        elif self.kind == "callable":
            text = "callable (code only)"
        else:
            text = "text" if self.blank else "text, not empty"
        return f"{text}, or unset" if self.optional and self.kind != "callable" else text

    def _bounds(self, both: str, low_only: str, high_only: str) -> str:
        low, high = (_number(b) for b in (self.minimum, self.maximum))
        if low is not None and high is not None:
            return both.format(low, high)
        if low is not None:
            return low_only.format(low)
        if high is not None:
            return high_only.format(high)
        return ""

    def refused(self, accepts: str, value: Any) -> SettingError:
        if self.secret:
            shown = f"a value of type {type(value).__name__}"
        else:
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return SettingError({self.name: f"{self.name} must be {accepts}, not {shown}."})

    def shown(self) -> str:
        """The default as the README shows it."""
        if self.shown_default is not None:
            return self.shown_default
        if self.default is None or self.default == "":
            return "none"
        if self.kind == "bool":
            return "on" if self.default else "off"
        if isinstance(self.default, float):
            return f"`{_number(self.default)}`"
        return f"`{self.default}`"


def _number(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


DAY = 86_400

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "CUSTOMER_GROUPS_APP_ID",
        "str",
        "customer-groups",
        "the app's id in the marketplace; `aud` of session tokens",
        blank=False,
    ),
    Setting(
        "CUSTOMER_GROUPS_APP_SECRET",
        "str",
        None,
        "shared with the marketplace; the keys that sign requests both ways are derived from "
        "it, and it signs session tokens",
        optional=True,
        secret=True,
        shown_default="none: `serve` refuses to start without it; the demo makes one up and "
        "prints it",
    ),
    Setting(
        "CUSTOMER_GROUPS_APP_SECRET_PREVIOUS",
        "str",
        None,
        "during a rotation, the old secret: still accepted on requests from the host and on "
        "session tokens, never used to sign (events are signed with both)",
        optional=True,
        secret=True,
    ),
    Setting(
        "CUSTOMER_GROUPS_ALLOW_MISSING_SECRET",
        "bool",
        False,
        "let the app start without a secret (demo, tools); signed requests are then refused",
    ),
    Setting(
        "CUSTOMER_GROUPS_DATABASE_URL",
        "str",
        None,
        "SQLAlchemy URL (`postgresql://…` is run with psycopg 3)",
        optional=True,
        secret=True,
        shown_default="a SQLite file in the instance folder",
    ),
    Setting(
        "CUSTOMER_GROUPS_LOG_LEVEL",
        "choice",
        "INFO",
        "log level of the `customer-groups` command",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    ),
    Setting(
        "CUSTOMER_GROUPS_ADMIN_ORIGINS",
        "words",
        "",
        "origins allowed to frame the admin UI (comma or space separated)",
    ),
    Setting(
        "CUSTOMER_GROUPS_ADMIN_SESSION_MAX_AGE",
        "int",
        3600,
        "seconds the embedded admin page's session lives without a page view (each page renews it)",
        minimum=1,
        maximum=7 * DAY,
    ),
    Setting(
        "CUSTOMER_GROUPS_HOST_ADMIN_URL",
        "str",
        None,
        "the page of the host's admin that opens Customer Groups: the admin's \"open it "
        'again" page (a missing or expired session) links to it; the demo sets its own '
        "stand-in, `/demo/admin`",
        optional=True,
        shown_default="none: that page names the menu entry instead",
    ),
    Setting(
        "CUSTOMER_GROUPS_SIGNATURE_TOLERANCE",
        "int",
        300,
        "seconds a signed request's timestamp may be away from now",
        minimum=1,
        maximum=DAY,
    ),
    Setting(
        "CUSTOMER_GROUPS_MAX_BODY_BYTES",
        "int",
        1024 * 1024,
        "largest signed request body accepted (413 past it)",
        minimum=1,
        maximum=1 << 30,
    ),
    Setting(
        "CUSTOMER_GROUPS_TOKEN_LEEWAY",
        "int",
        10,
        "clock skew allowed on session tokens, in seconds",
        minimum=0,
        maximum=3600,
    ),
    Setting(
        "CUSTOMER_GROUPS_TOKEN_MAX_AGE",
        "int",
        60,
        "longest session-token lifetime accepted, in seconds",
        minimum=1,
        maximum=DAY,
    ),
    Setting(
        "CUSTOMER_GROUPS_REDEMPTION_HOLD_DAYS",
        "int",
        7,
        "days a code redeemed at checkout stays held without `order/paid`",
        minimum=1,
        maximum=3650,
    ),
    Setting(
        "CUSTOMER_GROUPS_CHECKOUT_PRICER",
        "callable",
        None,
        "in code only: the callable `price(shop, body, codes)` the redeem hook prices with "
        "(hosts, tests)",
        optional=True,
        shown_default="the pricing hook's own",
    ),
    Setting(
        "CUSTOMER_GROUPS_CODE_ATTEMPT_LIMIT",
        "int",
        10,
        "brute-force guard at both hooks: this many distinct unknown codes from one cart, "
        "customer or client address (`client_ip`, an IPv6 address as its /64) within the "
        "window block every code typed from there, real ones included (`too_many_attempts`)",
        minimum=1,
        maximum=1000,  # 2 ** (count - slow after) stays a float
    ),
    Setting(
        "CUSTOMER_GROUPS_CODE_ATTEMPT_WINDOW",
        "float",
        600.0,
        "the brute-force guard's window, in seconds (attempts are kept a day)",
        minimum=1,
        maximum=DAY,
    ),
    Setting(
        "CUSTOMER_GROUPS_CODE_BLOCK_SECONDS",
        "float",
        900.0,
        "how long a cart, customer or address past the attempt limit stays blocked",
        minimum=1,
        maximum=30 * DAY,
    ),
    Setting(
        "CUSTOMER_GROUPS_CODE_SLOW_AFTER",
        "int",
        5,
        "from this many distinct unknown codes on, answers are held back",
        minimum=1,
        maximum=1000,  # 2 ** (count - slow after) stays a float
    ),
    Setting(
        "CUSTOMER_GROUPS_CODE_SLOW_DOWN_FIRST",
        "float",
        0.25,
        "the first hold-back in seconds, doubling with each further unknown code",
        minimum=0,
        maximum=1.5,
    ),
    Setting(
        "CUSTOMER_GROUPS_CODE_SLOW_DOWN_MAX",
        "float",
        1.0,
        "the longest hold-back in seconds (the hooks answer within 2 s)",
        minimum=0,
        maximum=1.5,
    ),
    Setting(
        "CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS",
        "int",
        50,
        "event delivery: attempts before an event is `dead` (then `POST "
        '/api/events/{id}/retry`, or `POST /api/events/retry {"status": "dead"}` for all)',
        minimum=1,
        maximum=1000,
    ),
    Setting(
        "CUSTOMER_GROUPS_OUTBOX_BACKOFF_BASE",
        "float",
        2.0,
        "seconds before an event's second attempt, doubling each time (about 40 h in all)",
        minimum=0.1,
        maximum=DAY,
    ),
    Setting(
        "CUSTOMER_GROUPS_OUTBOX_BACKOFF_MAX",
        "float",
        3600.0,
        "the longest wait between two attempts of an event, in seconds; also caps `Retry-After`",
        minimum=1,
        maximum=7 * DAY,
    ),
    Setting(
        "CUSTOMER_GROUPS_OUTBOX_TIMEOUT",
        "float",
        10.0,
        "seconds one event POST waits to connect, then for each read",
        minimum=0.1,
        maximum=300,
    ),
    Setting(
        "CUSTOMER_GROUPS_OUTBOX_LEASE",
        "float",
        60.0,
        "seconds a claimed batch of events stays one delivery's before another may take it",
        minimum=1,
        maximum=DAY,
    ),
    Setting(
        "CUSTOMER_GROUPS_OUTBOX_BATCH",
        "int",
        100,
        "events claimed at a time",
        minimum=1,
        maximum=10_000,
    ),
    Setting(
        "CUSTOMER_GROUPS_OUTBOX_RETENTION_DAYS",
        "float",
        30.0,
        "days delivered and skipped events are kept for the merchant to look at",
        minimum=0,
        maximum=3650,
    ),
    Setting(
        "CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS",
        "bool",
        False,
        "let outgoing requests (an audience destination's `base_url`, a shop's `events_url`) "
        "go to plain http or a private/local host (tests, a proxy inside your network); "
        "otherwise https only, to a host whose every address is global, checked when each "
        "connection is opened (`plugin/outgoing.py`); redirects are never followed either way",
    ),
    Setting(
        "CUSTOMER_GROUPS_AUDIENCE_INLINE_LIMIT",
        "int",
        5000,
        "members up to which `POST /api/audiences/{id}/run` syncs in the request; larger "
        "audiences run as a job",
        minimum=0,
    ),
    Setting(
        "CUSTOMER_GROUPS_KLAVIYO_REVISION",
        "str",
        "2026-10-15",
        "the `revision` header of Klaviyo calls (default: what the current `klaviyo-api` SDK, "
        "25, sends); Klaviyo retires revisions on a schedule",
        blank=False,
    ),
    Setting(
        "CUSTOMER_GROUPS_META_API_VERSION",
        "str",
        "v26.0",
        "the Graph API version of Meta calls (default: the current `facebook-business` SDK's, "
        "26); Meta retires versions on a schedule",
        blank=False,
    ),
    Setting(
        "CUSTOMER_GROUPS_ATTENTIVE_API_VERSION",
        "str",
        "v1",
        "the version in the path of Attentive calls",
        blank=False,
    ),
    Setting(
        "CUSTOMER_GROUPS_RUN_JOBS",
        "bool",
        None,
        "whether `serve` runs background jobs in its worker processes (`0` to leave them to "
        "`customer-groups worker`)",
        optional=True,
        shown_default="on (off under `TESTING`)",
    ),
    Setting(
        "CUSTOMER_GROUPS_JOB_QUEUE",
        "choice",
        "embedded",
        "`embedded` (jobs from the database, in the server) or `rq` (RQ on Redis, see below)",
        choices=("embedded", "rq"),
    ),
    Setting(
        "CUSTOMER_GROUPS_REDIS_URL",
        "str",
        None,
        "the Redis of RQ, e.g. `redis://host:6379/0` (queue mode)",
        optional=True,
        secret=True,
    ),
    Setting(
        "CUSTOMER_GROUPS_JOB_THREADS",
        "int",
        2,
        "job threads of each runner process",
        minimum=1,
        maximum=64,
    ),
    Setting(
        "CUSTOMER_GROUPS_JOB_POLL_SECONDS",
        "float",
        1.0,
        "how often a runner looks for jobs and due periodic tasks",
        minimum=0.05,
        maximum=3600,
    ),
    Setting(
        "CUSTOMER_GROUPS_JOB_LEASE_SECONDS",
        "float",
        60.0,
        "how long a running job may go without a heartbeat before it is taken for dead and "
        "run again; on SQLite it must outlast a job's longest transaction",
        minimum=1,
        maximum=DAY,
    ),
    Setting(
        "CUSTOMER_GROUPS_JOB_MAX_ATTEMPTS",
        "int",
        5,
        "attempts of a job (crashes and errors) before it fails",
        minimum=1,
        maximum=1000,
    ),
    Setting(
        "CUSTOMER_GROUPS_JOB_RETENTION_DAYS",
        "float",
        30.0,
        "days a finished job (succeeded or failed) is kept for `GET /api/jobs` before the "
        "hourly `jobs.prune` forgets it",
        minimum=0,
        maximum=3650,
    ),
    Setting(
        "CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT",
        "int",
        50_000,
        "customers in a shop above which a new or changed segment is recomputed by a job "
        '(`segments.recompute`) instead of in the request; the segment answers `"recomputing": '
        "true` meanwhile",
        minimum=0,
    ),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}


def _ours(name: str) -> bool:
    return name.startswith(PREFIX) and not name.startswith(TEST_PREFIX)


def _warn_unknown(name: str, where: str) -> None:
    """Log a name of ours that no setting has, with the nearest known one."""
    near = difflib.get_close_matches(name, BY_NAME, n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    log.warning("%s is not a setting%s; its %s value is ignored.", name, hint, where)


def from_environ(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every ``CUSTOMER_GROUPS_*`` variable that is set, parsed against ``SETTINGS``.

    Raises ``SettingError`` naming each bad one; unknown names are warned about, not read.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, text in environ.items():
        if not _ours(name):
            continue
        setting = BY_NAME.get(name)
        if setting is None:
            _warn_unknown(name, "environment")
            continue
        try:
            found[name] = setting.parse(text)
        except SettingError as exc:
            problems.update(exc.problems)
    if problems:
        raise SettingError(problems)
    return found


def environ_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every setting as the environment gives it: the defaults, then what is set (tools that
    read settings without an app, such as the ``customer-groups`` command's logging)."""
    return {**DEFAULTS, **from_environ(environ)}


def checked(config: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of ``config`` (defaults where absent), typed and within bounds.

    Raises ``SettingError`` naming each bad value."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for setting in SETTINGS:
        try:
            values[setting.name] = setting.check(config.get(setting.name, setting.default))
        except SettingError as exc:
            problems.update(exc.problems)
    if problems:
        raise SettingError(problems)
    return values


def apply(config: MutableMapping[str, Any]) -> None:
    """Fill in the defaults and check every setting of an app's config (``CustomerGroups``
    calls it): values set in code are refused by name like the environment's, and text is
    stored typed. Unknown ``CUSTOMER_GROUPS_*`` keys are warned about."""
    for name in list(config):
        if _ours(name) and name not in BY_NAME:
            _warn_unknown(name, "app.config")
    config.update(checked(config))


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def app_secrets(config: Mapping[str, Any]) -> list[str]:
    """The secrets whose keys are accepted: the current one, then the previous one (during a
    rotation). Only the first ever signs; without a current secret, none is accepted (the
    previous one alone never authenticates or signs anything)."""
    current = config.get("CUSTOMER_GROUPS_APP_SECRET")
    if not current:
        return []
    previous = config.get("CUSTOMER_GROUPS_APP_SECRET_PREVIOUS")
    return [current, previous] if previous else [current]


def admin_origins(value: str | list[str] | None) -> list[str]:
    """Split the allowed framing origins (comma or space separated)."""
    if not value:
        return []
    if isinstance(value, list):
        return value
    return [part for part in value.replace(",", " ").split() if part]
