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

DASHBOARD_HELP = """Serves a web dashboard of the records: experiments, trials sortable by any
metric or hyperparameter, learning curves, the model-hopper schedule (Gantt) and the best
model; and, on a running search, buttons to stop or resume a trial or add one. The pages and
a JSON REST API (under /api; spec at /openapi.json) need the token as a bearer header; the
pages take it once from the URL printed at start-up. It binds 127.0.0.1 unless told
otherwise, and binding elsewhere requires --token."""


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
    dash.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    dash.add_argument("--token", default=os.environ.get("CEREBRO_DASHBOARD_TOKEN"),
                      help="access token (default: $CEREBRO_DASHBOARD_TOKEN, else a random one "
                           "is made and printed; required for a non-loopback --host)")

    rep = sub.add_parser("report", help="write a self-contained HTML report of the records",
                         description="Writes one HTML file with every experiment's trials, "
                         "learning curves and schedule; charts are embedded PNGs, so the file "
                         "needs nothing else to open.", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_source(rep)
    rep.add_argument("--out", default="report.html", help="the file to write (default report.html)")
    rep.add_argument("--experiment", metavar="ID_OR_NAME",
                     help="only this experiment (default: all)")
    arc = sub.add_parser("spark-archive", help="build the Spark driver's class archive "
                         "(~30 s once; local_session() and java_options() then map it)",
                         description="Builds the class-data-sharing archive that makes the "
                         "Spark driver JVM start faster (cerebro.backend.session).")
    arc.add_argument("--cache-dir", help="default: $CEREBRO_CACHE_DIR or ~/.cache/cerebro")
    arc.add_argument("--force", action="store_true", help="rebuild even if it exists")
    return parser


def _spark_archive(args: argparse.Namespace) -> int:
    from cerebro.backend.session import build_archive

    path = build_archive(args.cache_dir, force=args.force)
    print(f"Spark class archive: {path}" if path else "no Spark class archive built (see above)")
    return 0 if path else 1


def _target(args: argparse.Namespace) -> str:
    """The records location named on the command line; exits if a store has none."""
    if args.db:
        return args.db
    from cerebro.records.db import records_url

    url = records_url(args.store)
    path = url.split(":///", 1)[1]
    if not os.path.exists(path):
        raise SystemExit(f"cerebro: no records at {path}; run a search with this store first "
                         "(or give --db URL)")
    return url


def _dashboard(args: argparse.Namespace) -> int:
    from cerebro.dashboard import is_loopback, serve

    if not is_loopback(args.host) and not args.token:
        print(f"cerebro: binding to {args.host} exposes the dashboard to the network; "
              "give --token (or set CEREBRO_DASHBOARD_TOKEN)", file=sys.stderr)
        return 2
    token = args.token or secrets.token_urlsafe(24)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(f"Cerebro dashboard: http://{shown}:{args.port}/?token={token}", flush=True)
    serve(_target(args), host=args.host, port=args.port, token=token)
    return 0


def _report(args: argparse.Namespace) -> int:
    from cerebro.report import write_report

    path = write_report(_target(args), args.out, experiment=args.experiment)
    print(f"report written to {path}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``cerebro`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    if args.command == "demo":
        from cerebro import demo

        return demo.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "dashboard":
        return _dashboard(args)
    if args.command == "report":
        return _report(args)
    if args.command == "spark-archive":
        return _spark_archive(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
