"""``customer-groups codes generate`` and ``customer-groups codes expire-holds``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from plugin.codes.generation import density_warnings, generate_codes
from plugin.codes.models import Discount
from plugin.codes.redemption import expire_holds
from plugin.db import db, enter_shop, unit_of_work
from plugin.errors import ApiError
from plugin.extension import create_app
from plugin.shops.operations import find_shop


def add_codes_commands(commands: Any) -> None:
    codes_cmd = commands.add_parser("codes", help="discount codes")
    codes_sub = codes_cmd.add_subparsers(dest="codes_command", required=True)
    generate = codes_sub.add_parser("generate", help="add random codes to a discount's pool")
    generate.add_argument("--shop", required=True, help="the shop's domain")
    generate.add_argument("--discount", type=int, required=True, help="the discount id")
    generate.add_argument("--count", type=int, required=True)
    generate.add_argument("--length", type=int, default=8)
    generate.add_argument("--prefix", default="")
    generate.add_argument("--suffix", default="")
    generate.add_argument("--charset", default=None)
    codes_sub.add_parser("expire-holds", help="expire checkout holds past their time")


def progress_bar(done: int, total: int, started: float, width: int = 40) -> None:
    """A plain text progress bar on stderr."""
    filled = width * done // max(total, 1)
    elapsed = time.perf_counter() - started
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} codes {elapsed:5.1f} s"
    )
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run_codes_command(args: argparse.Namespace, app: Any = None) -> int:
    app = app or create_app()
    with app.app_context():
        if args.codes_command == "expire-holds":
            with unit_of_work():
                expired = expire_holds()
            print(f"Expired {expired} holds.")
            return 0
        shop = find_shop(args.shop)
        discount = None
        if shop is not None:
            enter_shop(shop.id)
            discount = db.session.get(Discount, args.discount)
        if discount is None:
            print(f"No discount {args.discount} in shop {args.shop}.", file=sys.stderr)
            return 1
        started = time.perf_counter()
        try:
            warnings = density_warnings(
                shop, args.count, args.length, args.prefix, args.suffix, args.charset
            )
            made = generate_codes(
                shop,
                discount,
                args.count,
                args.length,
                args.prefix,
                args.suffix,
                args.charset,
                progress=lambda done, total: progress_bar(done, total, started),
                after_batch=db.session.commit,  # each batch its own transaction
            )
        except ApiError as error:
            print(f"{error.message} {error.details}", file=sys.stderr)
            return 1
        db.session.commit()
        print(f"Generated {made} codes in {time.perf_counter() - started:.1f} s.")
        for warning in warnings:
            print(f"Warning: {warning}", file=sys.stderr)
    return 0
