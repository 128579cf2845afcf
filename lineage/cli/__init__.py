"""The ``lineage`` command.

Readable tables by default, ``--json`` for scripts; errors are one line on stderr (exit 1),
with tracebacks only under ``-vv``. The store comes from ``--store``, else ``$LINEAGE_STORE``,
else ``./.lineage/metadata.sqlite``. Commands live by topic: :mod:`.store_cmds`,
:mod:`.query_cmds`, :mod:`.experiment_cmds`, :mod:`.serving_cmds`, :mod:`.ui_cmd`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Iterable, NoReturn, Optional

from ..errors import LineageError
from . import experiment_cmds, query_cmds, serving_cmds, store_cmds, ui_cmd

__all__ = ["main", "build_parser"]

#: exit statuses: 0 done, 1 an error (one line on stderr), 2 a command line that does not parse,
#: 130 interrupted
USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line naming where to read more (exit 2), like every
    other error of the command."""

    def error(self, message: str) -> "NoReturn":   # type: ignore[override]
        self.exit(USAGE_ERROR, f"lineage: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: options may stand before or after the command without one hiding the other.
    common.add_argument("--store", default=argparse.SUPPRESS, metavar="URI",
                        help="store URI (default: $LINEAGE_STORE or ./.lineage/metadata.sqlite)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output")
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="log progress (-v) or debug details and tracebacks (-vv)")

    parser = _Parser(
        prog="lineage", parents=[common],
        description="Experiment and artifact lineage for TensorFlow pipelines, on ML Metadata.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    for module in (store_cmds, query_cmds, experiment_cmds, serving_cmds, ui_cmd):
        module.register(sub, common)
    return parser


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("lineage").setLevel(level)


def main(argv: Optional[Iterable[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    for name, default in (("store", None), ("json", False), ("verbose", 0)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if getattr(args, "limit", None) is not None and args.limit <= 0:
        parser.error("--limit must be a positive number")
    _setup_logging(args.verbose)
    try:
        return args.func(args)
    except LineageError as exc:
        if args.verbose >= 2:
            raise
        if args.json:  # scripts get the error as JSON too: {"error": {"type": ..., "message": ...}}
            print(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}), file=sys.stderr)
        else:
            print(f"lineage: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lineage: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:   # not one of ours: still one line, the traceback under -vv
        if args.verbose >= 2:
            raise
        what = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename else str(exc)
        print(f"lineage: error: {type(exc).__name__}: {what.splitlines()[0] if what else ''} "
              f"(-vv shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
