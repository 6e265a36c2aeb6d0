"""The `appliance` command line: serve, tokens, backup, check, admin password reset.
Every subcommand takes the same `--config` and `--data-dir` options."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance.catalogs import from_environment
from appliance.config import Settings, load_settings
from appliance.errors import ApplianceError, ConfigError

log = logging.getLogger("appliance")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML settings file (or APPLIANCE_CONFIG)")
    parser.add_argument("--data-dir", help="data folder (or APPLIANCE_DATA_DIR)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance",
                                     description="On-premises EV charging site controller.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the appliance (OCPP, pages, API) on one port")
    _common(serve)
    serve.add_argument("--host", help="listen address")
    serve.add_argument("--port", type=int, help="listen port")
    serve.add_argument("--tls-port", type=int, help="TLS listen port (0: none)")
    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token; printed once")
    _common(create)
    create.add_argument("--name", required=True)
    create.add_argument("--role", choices=("admin", "desk"), default="admin")
    create.add_argument("--site", type=int, default=None,
                        help="a token of one site only (its id); default: the installation")
    listing = token_sub.add_parser("list", help="list tokens")
    _common(listing)
    revoke = token_sub.add_parser("revoke", help="revoke a token by name")
    _common(revoke)
    revoke.add_argument("name")
    backup = sub.add_parser("backup", help="online backup of the live database to FILE")
    _common(backup)
    backup.add_argument("file")
    restore = sub.add_parser("restore", help="put a backup back (the service must be stopped)")
    _common(restore)
    restore.add_argument("file")
    check = sub.add_parser("check", help="integrity, schema version and ledger agreement")
    _common(check)
    to_pg = sub.add_parser("migrate-to-postgresql",
                           help="copy this box's SQLite data into an empty PostgreSQL database "
                                "and verify it (the service must be stopped)")
    _common(to_pg)
    to_pg.add_argument("url", help="postgresql://user:password@host:port/dbname")
    report = sub.add_parser("report", help="run the nightly report for a day by hand")
    _common(report)
    report.add_argument("--date", help="local day YYYY-MM-DD (default: yesterday)")
    report.add_argument("--no-mail", action="store_true", help="do not mail the report")
    reader = sub.add_parser("reader-check", help="list desk readers and print the next tap")
    _common(reader)
    reader.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a tap")
    admin = sub.add_parser("admin", help="staff logins")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    reset = admin_sub.add_parser("reset-password", help="set a new password; printed once")
    _common(reset)
    reset.add_argument("--username", default="admin")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, overrides={
        "data_dir": args.data_dir, "host": getattr(args, "host", None),
        "port": getattr(args, "port", None), "tls_port": getattr(args, "tls_port", None)})


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # our jobs log what they do


def _with_db(settings: Settings, fn: Callable[..., Any], *args: Any) -> Any:
    from appliance.app import open_database
    from appliance.db.maintenance import startup_lock

    database = open_database(settings)
    try:
        with startup_lock(database):  # processes starting together make the first admin once
            return database.run_sync(fn, *args)
    finally:
        database.db.close()


def cmd_serve(settings: Settings) -> int:
    from appliance.db.restore import data_dir_lock

    with data_dir_lock(settings.data_path):  # one server per data dir, and restore waits
        return _serve(settings)


def _serve(settings: Settings) -> int:
    from aiohttp import web

    from appliance import collector
    from appliance.app import create_app
    from appliance.people.staff import bootstrap_admin

    password = _with_db(settings, bootstrap_admin, settings.admin_password or None)
    if password:
        _ = from_environment().gettext  # the installer's shell language
        print(_("Created the first staff login: user 'admin', password %(password)s")
              % {"password": password}, flush=True)
        print(_("Write it down: it is not shown again."), flush=True)
    tls = f", wss://HOST:{settings.tls_port}/ocpp/<id>" if settings.tls_port else ""
    print(f"Serving on {settings.public_url} (OCPP at ws://HOST:{settings.port}/ocpp/<id>{tls})",
          flush=True)
    try:  # uvloop's event loop carries the chargers' sockets at a fraction of the CPU
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - a platform without uvloop runs on asyncio's loop
        pass
    app = create_app(settings)
    app.cleanup_ctx.append(collector.tuned)  # the serving process only, see appliance.collector
    try:
        asyncio.run(_run(app, settings))
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    return 0


async def _run(app: Any, settings: Settings) -> None:
    """What `web.run_app` does, with two sites on the one application: the plain port and the
    TLS port (its context exists only once the app's cleanup contexts have run)."""
    from aiohttp import web

    from appliance import notify
    from appliance.app import server_options, start_tls_site

    runner = web.AppRunner(app, handle_signals=True, access_log=None, shutdown_timeout=5,
                           **server_options(settings))
    await runner.setup()
    try:
        # backlog: a power cut brings every charger back at once: queue them
        await web.TCPSite(runner, settings.host, settings.port, backlog=4096).start()
        if settings.tls_port:
            await start_tls_site(runner, settings, settings.host, settings.tls_port)
        notify.listening(app)
        await asyncio.Event().wait()  # until SIGTERM/SIGINT (GracefulExit)
    finally:
        await runner.cleanup()


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.people import tokens

    if args.token_command == "create":
        token = "apl_" + secrets.token_urlsafe(32)
        _with_db(settings, tokens.create_token, args.name, args.role, token, args.site)
        print(token)
    elif args.token_command == "list":
        for row in _with_db(settings, tokens.list_tokens):
            print("\t".join(str(v) for v in row))
    else:
        _with_db(settings, tokens.revoke_token, args.name)
        print(f"revoked {args.name}")
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.app import open_database
    from appliance.db.maintenance import backup
    from appliance.pki import store

    database = open_database(settings)
    target = backup(database, Path(args.file))
    print(f"backed up to {target}")
    # The site CA goes with it: chargers and browsers trust it, a new one would strand them.
    pki = store.archive(settings.data_path / "pki", store.archive_path(target))
    if pki is not None:
        print(f"the site CA (with its key: keep it as safe as the box) to {pki}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.app import open_database
    from appliance.db.maintenance import MIGRATIONS_DIR
    from appliance.db.restore import data_dir_lock, restore_sqlite

    if not settings.db_url.startswith("sqlite:///"):
        print("appliance: on PostgreSQL, restore with pg_restore into an empty database",
              file=sys.stderr)
        return 2
    known = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9]*.py"))
    with data_dir_lock(settings.data_path):
        kept = restore_sqlite(Path(args.file), Path(settings.db_url[len("sqlite:///"):]), known)
        open_database(settings).db.close()  # migrates the restored database to this version
        print(f"restored {args.file}"
              + (f"; the replaced database is kept as {kept}" if kept else ""))
        _restore_pki(Path(args.file), settings)
    return 0


def _restore_pki(backup_file: Path, settings: Settings) -> None:
    """The site CA archived beside the backup, put back (the box's own is kept aside)."""
    from appliance.pki import store

    source = store.archive_path(backup_file)
    if not source.is_file():
        print(f"no site CA beside the backup ({source.name}): this box keeps its own CA")
        return
    try:
        kept = store.unpack(source, settings.data_path / "pki")
    except (ValueError, OSError, tarfile.TarError) as err:
        raise ConfigError(f"the site CA was not restored: {err}") from err
    print(f"restored the site CA from {source}"
          + (f"; this box's own is kept as {kept}" if kept else ""))


def cmd_check(settings: Settings) -> int:
    from appliance.app import check_all, open_database

    database = open_database(settings)
    try:
        report = check_all(database)
    finally:
        database.db.close()  # a PostgreSQL server would otherwise see it dropped, not closed
    print("\n".join(report.lines))
    return 0 if report.ok else 1


def cmd_reader_check(args: argparse.Namespace, settings: Settings) -> int:
    """For installers: which readers are there, and what id tag does a card give."""
    import asyncio

    from appliance.rfid_reader.service import ReaderSettings, reader_check

    _ = from_environment().gettext  # the installer's shell language
    result = asyncio.run(reader_check(ReaderSettings.from_prefixed(settings), args.timeout,
                                      report=print))
    print(_("readers: %(names)s") % {"names": ", ".join(result.readers) or _("none")})
    if result.read is None:
        print(_("no card was tapped in %(seconds)s s") % {"seconds": f"{args.timeout:g}"})
        return 1
    print(_("UID %(uid)s -> id tag %(tag)s (reader %(reader)s)")
          % {"uid": result.read.uid, "tag": result.read.id_tag, "reader": result.read.reader})
    return 0


def cmd_migrate_to_postgresql(args: argparse.Namespace, settings: Settings) -> int:
    """The command: refuse while the service runs (its data dir is locked), copy, verify."""
    import peewee

    from appliance.app import open_database
    from appliance.billing.check import check_ledger
    from appliance.db.copy import copy_data, verify
    from appliance.db.database import Database
    from appliance.db.restore import data_dir_lock
    from appliance.errors import DatabaseError

    with data_dir_lock(settings.data_path):
        source = open_database(settings)  # brings the box's own schema up to date first
        target = Database(args.url)
        try:
            copied = copy_data(source, target)
            result = verify(source, target, [check_ledger])
        except peewee.PeeweeException as err:
            raise DatabaseError(f"the copy failed and the target is unchanged: {err}") from err
        finally:
            source.db.close()
            target.db.close()
    print("\n".join(result.lines))
    if not result.ok:
        print("appliance: the copy does not match; keep running on SQLite", flush=True)
        return 1
    print(f"copied {sum(copied.values())} rows in {len(copied)} tables. Next: set "
          "database_url to the new URL in the settings and restart the service.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
        _setup_logging(settings.log_level)
        if args.command == "serve":
            return cmd_serve(settings)
        if args.command == "token":
            return cmd_token(args, settings)
        if args.command == "backup":
            return cmd_backup(args, settings)
        if args.command == "check":
            return cmd_check(settings)
        if args.command == "restore":
            return cmd_restore(args, settings)
        if args.command == "migrate-to-postgresql":
            return cmd_migrate_to_postgresql(args, settings)
        if args.command == "report":
            from appliance.reports.cli_report import cmd_report

            return cmd_report(args, settings)
        if args.command == "reader-check":
            return cmd_reader_check(args, settings)
        if args.command == "admin":
            from appliance.people.staff import reset_password

            password = _with_db(settings, reset_password, args.username, None)
            print(f"new password for {args.username}: {password}")
            return 0
    except ApplianceError as err:
        print(f"appliance: {err.message}", file=sys.stderr)
        return 2
    return 1
