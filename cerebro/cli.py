"""The ``cerebro`` command: run the demo, watch and steer searches, write reports.

Every search records its experiments, trials, per-epoch metrics and schedule in its store
(``<store>/cerebro.db``); ``dashboard`` and ``report`` read them from there (or from any
database URL given with ``--db``).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from typing import Optional, Sequence

from cerebro import __version__

EXAMPLES = """examples:
  cerebro demo                                   # a small NAS on MNIST, Spark local mode
  cerebro dashboard --store .demo/store          # http://127.0.0.1:8050 (prints a token URL)
  cerebro dashboard --db postgresql://u@h/cerebro --host 0.0.0.0 --token "$TOKEN"
  cerebro report --store .demo/store --out report.html
  cerebro spark-archive                          # Spark's class archive: a faster driver start
  cerebro <command> --help                       # the options of one command
"""

DESCRIPTION = """Cerebro trains many Keras models at once on Apache Spark by model hopper
parallelism (MOP), with AutoKeras neural architecture search on top. Every search records its
experiments, trials, per-epoch metrics and schedule in its store (STORE/cerebro.db); the
dashboard and report commands read them from there, or from any database given with --db."""

DASHBOARD_HELP = """Serves a web dashboard of the records: experiments with status counts, best
value and duration; trials sortable and filterable by any metric or hyperparameter;
interactive learning curves, parallel coordinates, hyperparameter importance, slice plots and
the model-hopper schedule (Gantt); trial comparison; a page per trial with its Keras summary
and a .keras download; the search space; a warning on a stuck visit; and, on a running
search, buttons to stop or resume a trial or add one. Everything works offline. The pages
and the JSON REST API (under /api; interactive docs at /docs) need the token: the pages take
it once from the URL printed at start-up and keep it in a cookie. It binds 127.0.0.1 unless
told otherwise, and binding elsewhere requires --token."""


def _add_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--store", metavar="PATH",
                     help="a search's store directory (records in PATH/cerebro.db)")
    src.add_argument("--db", metavar="URL",
                     help="a SQLAlchemy database URL, e.g. sqlite:////tmp/x.db or postgresql://…")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cerebro`` and its commands."""
    parser = argparse.ArgumentParser(
        prog="cerebro", description=DESCRIPTION,
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cerebro {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("demo", add_help=False, help="run the walk-through: a small NAS on MNIST "
                   "(Spark local mode, a few minutes); `cerebro demo --help` for its options")

    dash = sub.add_parser("dashboard", help="serve the web dashboard of a store's records",
                          description=DASHBOARD_HELP, epilog=EXAMPLES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_source(dash)
    dash.add_argument("--host", default="127.0.0.1",
                      help="interface to bind (default 127.0.0.1: this machine only)")
    dash.add_argument("--port", type=_port, default=8050, help="port (default 8050)")
    dash.add_argument("--experiment", metavar="NAME_OR_ID",
                      help="print the URL of this experiment's page (its project name or id)")
    dash.add_argument("--stuck-factor", type=_positive, default=5.0, metavar="X",
                      help="flag a visit in flight after X times its model's usual visit time "
                           "(default 5)")
    dash.add_argument("--stuck-min-s", type=_positive, default=5.0, metavar="S",
                      help="...and after at least S seconds (default 5)")
    dash.add_argument("--token", default=os.environ.get("CEREBRO_DASHBOARD_TOKEN"),
                      help="access token (default: $CEREBRO_DASHBOARD_TOKEN, else a random one "
                           "is made and printed; required for a non-loopback --host)")

    rep = sub.add_parser("report", help="write a self-contained HTML report of the records",
                         description="Writes one HTML file with the dashboard's views of every "
                         "experiment (or of one): trials, interactive charts, schedule, search "
                         "space, trial pages. The charting library and the data are inlined, so "
                         "the file needs nothing else to open.", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_source(rep)
    rep.add_argument("--out", default="report.html", help="the file to write (default report.html)")
    rep.add_argument("--experiment", metavar="NAME_OR_ID",
                     help="only this experiment: its project name or id (default: all)")
    arc = sub.add_parser("spark-archive", help="build the Spark driver's class archive "
                         "(~30 s once; local_session() and java_options() then map it)",
                         description="Builds the class-data-sharing archive that makes the "
                         "Spark driver JVM start faster (cerebro.backend.session).")
    arc.add_argument("--cache-dir", help="default: $CEREBRO_CACHE_DIR or ~/.cache/cerebro")
    arc.add_argument("--force", action="store_true", help="rebuild even if it exists")
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {port}")
    return port


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


class UserError(Exception):
    """A mistake on the command line: printed as one line, exit status 2."""


def _spark_archive(args: argparse.Namespace) -> int:
    from cerebro.backend.session import build_archive

    path = build_archive(args.cache_dir, force=args.force)
    print(f"Spark class archive: {path}" if path else "no Spark class archive built (see above)")
    return 0 if path else 1


def _open_records(args: argparse.Namespace):
    """The records named on the command line, checked before anything is created or served.

    Raises:
        UserError: No records there, or a database that is not Cerebro's records.
    """
    from sqlalchemy import inspect

    from cerebro.records import RecordsDB
    from cerebro.records.db import records_url

    url = args.db if args.db else records_url(args.store)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not os.path.exists(path):
            hint = "run a search with this store first" if args.store else "check the path"
            raise UserError(f"no records at {path}; {hint} (or give --db URL)")
    probe = RecordsDB(url, migrate=False)
    try:
        tables = set(inspect(probe.engine).get_table_names())
    finally:
        probe.close()
    if "experiments" not in tables:
        raise UserError(f"{probe!r} holds no Cerebro records" + (
            f" (it has tables {sorted(tables)[:5]})" if tables else " (it is empty)"))
    return RecordsDB(url)


def _experiment_id(db, ref: Optional[str]) -> Optional[int]:
    from cerebro.records.queries import NotFound, resolve_experiment

    if ref is None:
        return None
    try:
        return resolve_experiment(db, ref)
    except NotFound as e:
        lines = [f"no experiment named {ref!r} (nor with that id) in {db!r}"]
        lines += (["experiments recorded there (id, name, status):"]
                  + [f"  {i}  {n}  ({st})" for i, n, st in e.choices[:30]]
                  if e.choices else ["no experiments are recorded there yet"])
        raise UserError("\n".join(lines)) from None


def _dashboard(args: argparse.Namespace) -> int:
    from cerebro.dashboard import bind, is_loopback, serve

    if not is_loopback(args.host) and not args.token:
        raise UserError(f"binding to {args.host} exposes the dashboard to the network; "
                        "give --token (or set CEREBRO_DASHBOARD_TOKEN)")
    db = _open_records(args)
    eid = _experiment_id(db, args.experiment)
    sock = bind(args.host, args.port)  # a taken port is reported before any URL
    token = args.token or secrets.token_urlsafe(24)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    shown = f"[{shown}]" if ":" in shown else shown
    path = f"/experiments/{eid}" if eid else "/"
    print(f"Cerebro dashboard: http://{shown}:{sock.getsockname()[1]}{path}?token={token}",
          flush=True)
    serve(db, host=args.host, port=args.port, token=token, sock=sock, store=args.store,
          stuck_factor=args.stuck_factor, stuck_min_s=args.stuck_min_s)
    return 0


def _report(args: argparse.Namespace) -> int:
    from cerebro.report import write_report

    db = _open_records(args)
    try:
        eid = _experiment_id(db, args.experiment)
    finally:
        db.close()
    path = write_report(db.url, args.out, experiment=str(eid) if eid else None)
    print(f"report written to {path}")
    return 0


def _quiet_third_parties() -> None:
    for name in ("alembic", "py4j", "uvicorn.access", "matplotlib", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``cerebro`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    _quiet_third_parties()
    if args.command == "demo":
        from cerebro import demo

        return demo.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    commands = {"dashboard": _dashboard, "report": _report, "spark-archive": _spark_archive}
    if args.command not in commands:
        parser.print_help()
        return 0
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - the user's mistakes end in one line, not a trace
        message = _user_message(e)
        if message is None:
            raise
        print(f"cerebro {args.command}: {message}", file=sys.stderr)
        return 2


def _user_message(e: Exception) -> Optional[str]:
    """One line for an error a user can fix (bad URL, taken port, unreadable file...)."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from cerebro.dashboard import PortInUse
    from cerebro.records.queries import NotFound

    if isinstance(e, (UserError, PortInUse, NotFound, ValueError)):
        return str(e)
    if isinstance(e, ArgumentError):
        return f"not a database URL: {e}"
    if isinstance(e, NoSuchModuleError):
        return f"no driver for that database URL ({e}); e.g. pip install 'psycopg[binary]'"
    if isinstance(e, OperationalError):
        return f"cannot open the database: {str(e.orig).strip() or e}"
    if isinstance(e, OSError):
        return f"{e.strerror or e}: {e.filename}" if e.filename else str(e)
    return None


if __name__ == "__main__":
    sys.exit(main())
