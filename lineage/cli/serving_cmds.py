"""Serving commands: ``rollback``, ``promote``, ``unpin`` (recorded changes of what serves),
``serve`` (the local TF-Serving-compatible model server) and ``watch`` (record what a server
serves)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..errors import InvalidInput, LineageError
from ..uris import ENV_STORE, parse_store_uri
from .output import Lineage, emit, table

__all__ = ["register"]


def _serving_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    return {"config_path": args.config, "server": args.server, "rest": args.rest, "timeout": args.timeout}


def cmd_rollback(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store)
    res = lin.rollback(args.model, to=args.to, previous=args.previous, last_good=args.last_good,
                       force=args.force, **_serving_kwargs(args))
    if not res.changed:
        emit(args, dataclasses_asdict(res), f"{args.model}: version {res.version} is already serving"
             + (" (the newest version passing every check)" if args.last_good else ", pinned") + "; nothing changed")
        return 0
    text = (f"{args.model}: now serving version {res.version} (was {res.previous}); pinned, label stable -> "
            f"{res.version}; took {res.seconds:.2f}s" + (" (forced)" if res.forced else "")
            + (f"; recorded as e{res.execution.id}" if res.execution else ""))
    emit(args, dataclasses_asdict(res), text)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store)
    res = lin.promote(args.model, version=args.version, label=args.label, force=args.force, **_serving_kwargs(args))
    emit(args, dataclasses_asdict(res), f"{args.model}: label {args.label} -> version {res.version}"
          + (f"; recorded as e{res.execution.id}" if res.execution else ""))
    return 0


def cmd_unpin(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store)
    res = lin.unpin(args.model, force=args.force, **_serving_kwargs(args))
    emit(args, dataclasses_asdict(res), f"{args.model}: serving the latest version ({res.version}) again"
          + (f"; recorded as e{res.execution.id}" if res.execution else ""))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from ..components.push import push_saved_model

    lin = Lineage.open(args.store)
    if args.reason and not args.force:
        raise LineageError("--reason goes with --force (it says why the gate was overridden)")
    pushed = push_saved_model(lin, args.model_dir, model_name=args.model, blessing=args.blessing,
                              version=args.version, force=args.force, reason=args.reason or "",
                              serving_root=args.serving_root, config_path=args.config,
                              move_endpoint=args.move_endpoint)
    version = pushed.properties["pushed_version"]
    emit(args, {"model_name": args.model, "version": version, "pushed": pushed.ref, "uri": pushed.uri,
                "forced": bool(args.force)},
         f"{args.model}: pushed version {version} ({pushed.ref}) to {pushed.uri}" + (" (forced)" if args.force else ""))
    return 0


def dataclasses_asdict(res: Any) -> Dict[str, Any]:
    return {"model_name": res.model_name, "version": res.version, "previous": res.previous,
            "execution": res.execution.ref if res.execution else None, "seconds": round(res.seconds, 3),
            "forced": getattr(res, "forced", False), "changed": res.changed}


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serving.server import ServingError, serve_forever  # TensorFlow: only when a server starts

    from ..serving.config import default_config_path

    config = args.config or str(default_config_path(parse_store_uri(args.store).artifact_root))
    if not Path(config).exists():
        raise LineageError(f"no model config at {config}: push a model first (the push step writes "
                           f"it), or pass --config with a TF Serving model config file")
    remote = _remote_servers(args.remote)   # a bad --remote is refused before anything starts
    try:
        _serve(serve_forever, config, args, remote)
    except OSError as exc:  # a port in use, an address not on this machine
        print(f"lineage: error: cannot serve on {args.host} (gRPC {args.grpc_port}, REST {args.rest_port}): "
              f"{exc.strerror or exc}; choose other ports (--grpc-port / --rest-port, 0 picks a free one)",
              file=sys.stderr, flush=True)
        os._exit(1)  # TensorFlow is loaded: leave without its teardown (tensorflow/tensorflow#59242)
    except ServingError as exc:  # a config TF Serving would refuse (duplicate names, relative paths...)
        print(f"lineage: error: {config}: {exc}", file=sys.stderr, flush=True)
        os._exit(1)
    return 0


def _serve(serve_forever: Any, config: str, args: argparse.Namespace, remote: Dict[str, str]) -> None:
    serve_forever(config, args.grpc_port, args.rest_port, host=args.host, poll_seconds=args.poll,
                  batch_size=args.batch_size, batch_timeout_ms=args.batch_timeout_ms, record_to=_record_to(args),
                  grpc_channel_arguments=args.grpc_channel_arguments, grpc_socket_path=args.grpc_socket_path,
                  monitoring_config_file=args.monitoring_config_file, prediction_log_queue=args.prediction_log_queue,
                  prediction_log_max_bytes=args.prediction_log_max_bytes,
                  prediction_log_max_seconds=args.prediction_log_max_seconds,
                  remote_servers=remote)


def _remote_servers(items: Sequence[str]) -> Dict[str, str]:
    """``--remote MODEL=HOST:PORT`` (repeatable): where heads call a module model, overriding
    what they declare."""
    from ..serving.remote import parse_target

    out: Dict[str, str] = {}
    for item in items or ():
        model, sep, target = item.partition("=")
        if not sep or not model:
            raise LineageError(f"--remote {item!r} is not MODEL=HOST:PORT (a module model and its server)")
        try:
            out[model] = parse_target(target, f"--remote {model}")
        except InvalidInput as exc:
            raise LineageError(str(exc)) from None
    return out


def _record_to(args: argparse.Namespace) -> Optional[str]:
    """The store the server records its version states in: the one named (--store,
    LINEAGE_STORE), else the default store if it exists; None with --no-record."""
    if args.no_record:
        return None
    named = args.store or os.environ.get(ENV_STORE)
    if named:
        return named
    default = parse_store_uri(None)
    return default.redacted() if default.path is not None and default.path.exists() else None


def cmd_ingest_logs(args: argparse.Namespace) -> int:
    from ..serving.server.predlog import ingest  # TensorFlow Serving's protos: only here

    lin = Lineage.open(args.store)
    done = ingest(lin.store, args.model, args.directory)
    emit(args, [{"path": p, "result": r} for p, r in done],
         "\n".join(f"{p}: {r}" for p, r in done) or f"no *.tfrecord files under {args.directory}")
    return 0


def cmd_predictions(args: argparse.Namespace) -> int:
    lin = Lineage.open(args.store, readonly=True)
    files = lin.prediction_logs(args.model, since=args.since, until=args.until, version=args.version)
    traffic = lin.predictions(args.model, since=args.since, until=args.until, version=args.version)
    rows = [{"version": t.version, "files": t.files, "sampled": t.sampled, "estimated": round(t.estimated),
             "first": _when(t.first), "last": _when(t.last), "dropped": t.dropped} for t in traffic]
    text = table(rows, ["version", "files", "sampled", "estimated", "first", "last", "dropped"]) if rows else \
        f"no logged predictions of {args.model} (a logging_config in its model config makes the server log them)"
    shown: List[str] = []
    if args.skew:
        report = lin.serving_skew(args.model, version=args.version, since=args.since, until=args.until)
        rows = [{**r, "distance": "" if r["distance"] is None else f"{r['distance']:.4f}",
                 "skewed": {True: "SKEWED", False: "", None: ""}[r["skewed"]]} for r in report["features"]]
        text += (f"\n\ntraining/serving skew of {args.model}:{report['version']} ({report['files']} log files; training "
                 f"statistics " + (f"a{report['training_statistics']}" if report["training_statistics"] else "not found")
                 + ")\n" + table(rows, ["feature", "type", "training", "serving", "measure", "distance", "skewed"]))
    if args.show:
        from ..serving.server.predlog import read_records  # TensorFlow Serving's protos: only here
        from google.protobuf import text_format

        for a in reversed(files):
            for rec in read_records(str(a.path), args.show - len(shown)):
                if args.version is None or rec.log_metadata.model_spec.version.value == args.version:
                    shown.append(text_format.MessageToString(rec, as_utf8=True))
            if len(shown) >= args.show:
                break
        text += "\n\n" + "\n".join(f"--- logged request {i + 1}\n{t}" for i, t in enumerate(shown))
    emit(args, {"versions": [t.to_dict() for t in traffic], "files": [a.uri for a in files], "shown": shown,
                **({"skew": lin.serving_skew(args.model, version=args.version, since=args.since, until=args.until)}
                   if args.skew else {})}, text)
    return 0


def _when(t: Optional[float]) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if t else ""


def cmd_watch(args: argparse.Namespace) -> int:
    from ..serving.client import ServerUnreachable, ServingClient
    from ..serving.observe import Lease, watch

    lin = Lineage.open(args.store)
    models = args.model or [c.name for c in lin.contexts_of_type("ServingEndpoint")]
    if not models:
        raise LineageError(f"no model to watch: nothing was pushed to {lin.uri}; name one with --model")
    client = ServingClient(args.server, None, timeout=10.0)

    def said(model: str, version: int, state: str, error: str) -> None:
        print(f"{model} version {version}: {state}" + (f" ({error})" if error else ""), flush=True)

    if not args.once:   # a one-shot poll says only what changed (or its one-line error)
        print(f"watching {', '.join(models)} on {args.server} every {args.interval:g}s; recording to {lin.uri} "
              f"(SIGTERM or Ctrl-C stops)", file=sys.stderr, flush=True)
    # each answered poll renews this watcher's lease: what it recorded holds for 3 intervals after
    lease = Lease(args.server, "watch", heartbeat=args.interval)
    begun = False
    stop = _stop_on_signals()
    try:
        while not stop.is_set():
            try:
                if not begun:
                    client.status(models[0])   # is anybody there? (before the lease starts)
                    lease.begin(lin.store)
                    begun = True
                watch(lin.store, client, models, server=args.server, rounds=1, on_change=said, lease=lease)
            except ServerUnreachable as exc:
                if args.once:
                    raise
                print(f"lineage: {exc}; trying again in {args.interval:g}s", file=sys.stderr, flush=True)
            if args.once:
                return 0
            stop.wait(args.interval)
        return 0
    finally:
        if begun:
            lease.end(lin.store)
        client.close()
        lin.close()


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM, SIGINT or SIGHUP (a second one exits at once), so a long-running
    command stops as a supervisor asks and records its own end."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            os._exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    return stop




def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535; 0 picks a free one)")
    return port


def _positive(text: str) -> float:
    value = _not_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add these commands to the ``lineage`` parser."""
    serving = argparse.ArgumentParser(add_help=False)
    serving.add_argument("--config", default=None, metavar="FILE",
                         help="TF Serving model config (default: <store home>/serving/models.config)")
    serving.add_argument("--server", default="127.0.0.1:8500", metavar="HOST:PORT", help="gRPC ModelService")
    serving.add_argument("--rest", default="http://127.0.0.1:8501", metavar="URL", help="REST API (status fallback)")
    serving.add_argument("--timeout", type=_positive, default=60.0, help="seconds to wait for AVAILABLE (60)")

    p = sub.add_parser("rollback", parents=[common, serving],
                       help="pin a served model to a checked earlier version (recorded)")
    p.add_argument("model")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--to", type=int, metavar="N")
    g.add_argument("--previous", action="store_true", help="the version that served before this one")
    g.add_argument("--last-good", action="store_true", help="the newest version passing every check")
    p.add_argument("--force", action="store_true", help="override the blessing and taint checks (recorded)")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("promote", parents=[common, serving], help="point a version label at a version (recorded)")
    p.add_argument("model")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--label", default="canary", help="canary (default) or stable")
    p.add_argument("--force", action="store_true", help="override the blessing and taint checks (recorded)")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("unpin", parents=[common, serving], help="serve the latest version again (recorded)")
    p.add_argument("model")
    p.add_argument("--force", action="store_true", help="override the blessing and taint checks (recorded)")
    p.set_defaults(func=cmd_unpin)

    p = sub.add_parser("push", parents=[common],
                       help="push a SavedModel you trained as the next version of a served model (recorded, gated)")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="the SavedModel folder (saved_model.pb in it)")
    p.add_argument("--model", required=True, metavar="NAME", help="the served model's name")
    p.add_argument("--version", type=int, default=None, metavar="N", help="the version number (default: the next)")
    p.add_argument("--move-endpoint", action="store_true",
                   help="serve the model from this serving root from now on (recorded); refused without it "
                        "when the store records another")
    p.add_argument("--blessing", default=None, metavar="aN",
                   help="the ModelBlessing that clears it (default: the newest one an evaluation of it made)")
    p.add_argument("--force", action="store_true", help="push without a blessing or with tainted data (recorded)")
    p.add_argument("--reason", default=None, help="with --force: why (recorded)")
    p.add_argument("--serving-root", default=None, metavar="DIR",
                   help="where version folders go (default: <store home>/serving, LINEAGE_SERVING_ROOT)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="TF Serving model config (default: <store home>/serving/models.config)")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("serve", parents=[common],
                       help="the local TF-Serving-compatible server (gRPC + REST) for the model config")
    p.add_argument("--config", default=None, metavar="FILE")
    p.add_argument("--grpc-port", type=_port, default=8500, help="0 picks a free port")
    p.add_argument("--rest-port", type=_port, default=8501, help="0 picks a free port")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.add_argument("--poll", type=_not_negative, default=1.0, metavar="SECONDS",
                   help="config file poll interval; 0: no polling (reload through ModelService)")
    p.add_argument("--batch-size", type=int, default=0, metavar="ROWS",
                   help="batch concurrent predict requests up to this many rows (default 0: off)")
    p.add_argument("--batch-timeout-ms", type=float, default=2.0, metavar="MS",
                   help="how long a request waits for others to batch with (2)")
    p.add_argument("--grpc-channel-arguments", default="", metavar="K=V,...",
                   help="gRPC server arguments, as TF Serving's --grpc_channel_arguments")
    p.add_argument("--grpc-socket-path", default="", metavar="PATH", help="also serve gRPC on this Unix socket")
    p.add_argument("--monitoring-config-file", default=None, metavar="FILE",
                   help="TF Serving's MonitoringConfig: prometheus_config { enable: true } serves metrics over REST")
    p.add_argument("--prediction-log-queue", type=int, default=10_000, metavar="N",
                   help="sampled requests waiting to be logged, at most (a full queue drops, counted)")
    p.add_argument("--prediction-log-max-bytes", type=int, default=64 << 20, metavar="BYTES",
                   help="close a request log file at this size (64 MiB)")
    p.add_argument("--prediction-log-max-seconds", type=float, default=300.0, metavar="SECONDS",
                   help="close a request log file after this long (300)")
    p.add_argument("--remote", action="append", default=[], metavar="MODEL=HOST:PORT",
                   help="heads call module model MODEL on HOST:PORT, not where they declare (repeatable)")
    p.add_argument("--no-record", action="store_true",
                   help="do not record version states in the store (recorded by default when the store exists)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("predictions", parents=[common],
                       help="the logged requests of a served model: per version and period (--show N prints some)")
    p.add_argument("model")
    p.add_argument("--since", default=None, metavar="WHEN")
    p.add_argument("--until", default=None, metavar="WHEN")
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--show", type=int, default=0, metavar="N", help="print N logged requests and answers, newest files first")
    p.add_argument("--skew", action="store_true",
                   help="the logged inputs beside the training data's statistics, feature by feature")
    p.set_defaults(func=cmd_predictions)

    p = sub.add_parser("ingest-logs", parents=[common],
                       help="record the request log files (PredictionLog TFRecords) a TF Serving fleet wrote for MODEL")
    p.add_argument("model")
    p.add_argument("directory")
    p.set_defaults(func=cmd_ingest_logs)

    p = sub.add_parser("watch", parents=[common],
                       help="record what a TF Serving server serves: polls GetModelStatus, records each change")
    p.add_argument("--server", required=True, metavar="HOST:PORT", help="the server's gRPC ModelService")
    p.add_argument("--model", action="append", metavar="NAME",
                   help="a model to watch (repeatable; default: every model pushed in the store)")
    p.add_argument("--interval", type=_positive, default=5.0, metavar="SECONDS", help="between polls (5)")
    p.add_argument("--once", action="store_true", help="poll once, record, exit")
    p.set_defaults(func=cmd_watch)
