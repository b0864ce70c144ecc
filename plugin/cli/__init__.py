"""The ``customer-groups`` command: serve, worker, demo, db upgrade, token, sign."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from urllib.parse import urlencode, urlsplit

from customer_groups_demo import DemoError, run_demo
from plugin.auth import (
    HOOK_TOPICS,
    WEBHOOKS_PATH,
    curl_command,
    issue_session_token,
    signed_headers,
)
from plugin.cli.codes import add_codes_commands, run_codes_command
from plugin.config import SettingError, environ_settings
from plugin.extension import create_app
from plugin.schema import upgrade_schema
from plugin.server import serve, worker


def _configure_logging() -> None:
    level = environ_settings()["CUSTOMER_GROUPS_LOG_LEVEL"]
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # The request log is for machines: bare JSON, one line per request.
    requests_log = logging.getLogger("customer_groups.requests")
    if not requests_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        requests_log.addHandler(handler)
    requests_log.setLevel(level)
    requests_log.propagate = False


def _require_secret() -> str:
    secret = environ_settings()["CUSTOMER_GROUPS_APP_SECRET"]
    if not secret:
        raise SystemExit(
            "customer-groups: CUSTOMER_GROUPS_APP_SECRET is not set; it is the secret shared "
            "with the marketplace (the demo prints the one it made up)."
        )
    return secret


def db_upgrade() -> None:
    # The schema needs no secret: an operator may migrate before the secret is provisioned.
    app = create_app(
        {"CUSTOMER_GROUPS_ALLOW_MISSING_SECRET": True, "CUSTOMER_GROUPS_RUN_JOBS": False}
    )
    upgrade_schema(app, configure_logging=True)
    print(f"Database is up to date: {app.config['CUSTOMER_GROUPS_DATABASE_URL']}")


def contract_path(url: str) -> str:
    """The endpoint of contract §2 that ``url`` reaches (whatever prefix it has): the path
    a signature covers."""
    path = urlsplit(url).path.rstrip("/")
    for known in (*HOOK_TOPICS, WEBHOOKS_PATH):
        if path.endswith(known):
            return known
    raise SystemExit(
        f"customer-groups sign: {url} reaches none of /webhooks, /hooks/cart/price, "
        "/hooks/checkout/redeem."
    )


def sign_command(shop: str, body_file: str, url: str, topic: str | None) -> str:
    """The curl line for a signed request (valid for 300 s) with the body of ``body_file``:
    contract v2's headers, signed with the host key for the endpoint ``url`` reaches."""
    path = contract_path(url)
    if path not in HOOK_TOPICS and not topic:
        raise SystemExit("customer-groups sign: a webhook needs --topic.")
    with open(body_file, "rb") as handle:
        body = handle.read()
    headers = signed_headers(_require_secret(), shop, body, path=path, topic=topic)
    return curl_command(url, headers, body, body_file)


def mint_token(shop: str, user: str, admin_url: str | None) -> str:
    """A session token (valid 60 s), or the whole admin URL when ``admin_url`` is given."""
    app_id = environ_settings()["CUSTOMER_GROUPS_APP_ID"]
    token = issue_session_token(_require_secret(), app_id, shop, user=user)
    if admin_url is None:
        return token
    return f"{admin_url.rstrip('/')}/admin?{urlencode({'shop': shop, 'id_token': token})}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="customer-groups", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the production server (gunicorn)")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1)))
    serve_cmd.add_argument("--threads", type=int, default=4)

    demo_cmd = commands.add_parser("demo", help="a demo shop with data, on SQLite")
    demo_cmd.add_argument("--host", default="127.0.0.1")
    demo_cmd.add_argument("--port", type=int, default=5000)
    demo_cmd.add_argument("--customers", type=int, default=300)
    demo_cmd.add_argument("--orders", type=int, default=2000)
    demo_cmd.add_argument("--no-serve", action="store_true", help="load the data, then stop")

    token_cmd = commands.add_parser("token", help="mint an admin session token (60 s)")
    token_cmd.add_argument("--shop", required=True)
    token_cmd.add_argument("--user", default="staff")
    token_cmd.add_argument("--admin-url", help="print the admin URL on this server instead")

    sign_cmd = commands.add_parser("sign", help="print a signed curl request (valid 300 s)")
    sign_cmd.add_argument("--shop", required=True)
    sign_cmd.add_argument("--file", required=True, help="the JSON body, sent byte for byte")
    sign_cmd.add_argument("--url", default="http://127.0.0.1:5000/hooks/cart/price")
    sign_cmd.add_argument("--topic", help="a webhook topic (adds X-Topic and X-Event-Id)")

    worker_cmd = commands.add_parser(
        "worker", help="run background jobs here (an RQ worker in queue mode)"
    )
    worker_cmd.add_argument(
        "--with-scheduler",
        action="store_true",
        help="queue mode: also run periodic tasks and requeue lost jobs (run at least one)",
    )
    worker_cmd.add_argument("--burst", action="store_true", help="stop once no job is waiting")

    db_cmd = commands.add_parser("db", help="database schema")
    db_sub = db_cmd.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="create or migrate the schema to the newest revision")
    add_codes_commands(commands)

    args = parser.parse_args(argv)
    try:
        _configure_logging()  # reads the settings: a bad one is refused here, by name
        return _run(args)
    except (RuntimeError, ValueError) as exc:  # configuration refused: say why, no traceback
        if not _is_configuration_error(exc):
            raise
        print(f"customer-groups {args.command}: {exc}", file=sys.stderr)
        return 2


def _is_configuration_error(exc: Exception) -> bool:
    return isinstance(exc, SettingError) or "CUSTOMER_GROUPS_" in str(exc)


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        serve(args.host, args.port, args.workers, args.threads)
    elif args.command == "worker":
        worker(args.burst, args.with_scheduler)
    elif args.command == "demo":
        try:
            run_demo(
                args.host, args.port, args.customers, args.orders, serve_after=not args.no_serve
            )
        except DemoError as exc:
            raise SystemExit(f"customer-groups demo: {exc}") from None
    elif args.command == "token":
        print(mint_token(args.shop, args.user, args.admin_url))
    elif args.command == "sign":
        print(sign_command(args.shop, args.file, args.url, args.topic))
    elif args.command == "db":
        db_upgrade()
    elif args.command == "codes":
        return run_codes_command(args)
    return 0
