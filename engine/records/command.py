"""`engine calls list|show ID|export [ID...]`: the recorded calls, as text, JSON, JSON lines or CSV.

list    the calls, newest first (`--format json`: an array of summaries)
show    one call (an id or a unique prefix of one): its timeline, or its whole record as JSON
export  whole records of every call (or of the ids given): JSON, one per line, or CSV metrics
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from . import _views
from ._store import DEFAULT_DB, ENV_VAR, CallStore, StoreError, open_store, store_url

FORMATS = ("text", "json", "jsonl", "csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `calls` subcommands and their options, on `parser`."""
    db_help = f"the call store: a SQLite file or a postgresql:// URL (default: ${ENV_VAR}, else {DEFAULT_DB})"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help=db_help)
    common.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    commands = parser.add_subparsers(dest="calls_command", metavar="{list,show,export}", required=True)
    listing = commands.add_parser("list", parents=[common], help="the recorded calls, newest first")
    listing.add_argument("--limit", type=_positive, default=None, help="at most this many calls")
    show = commands.add_parser("show", parents=[common], help="one call: its timeline or its whole record")
    show.add_argument("id", help="a call id, or a prefix matching one call")
    export = commands.add_parser("export", parents=[common], help="whole records of every call (or of those named)")
    export.add_argument("ids", nargs="*", metavar="ID", help="calls to export (default: all)")


def main(args: argparse.Namespace) -> int:
    """Run `engine calls ...`; 0 on success, 1 when a call is not found, 2 when the store fails."""
    url = store_url(args.db)
    if not url.startswith(("postgresql://", "postgres://")) and not Path(url.removeprefix("sqlite://")).exists():
        return _nothing_recorded(url, args)  # reading creates nothing
    try:
        store = open_store(url)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with store:
            return _COMMANDS[args.calls_command](store, args)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `engine calls list | head`
        return 0


def _nothing_recorded(url: str, args: argparse.Namespace) -> int:
    print(f"no calls recorded: there is no call store at {url}", file=sys.stderr)
    if args.calls_command == "show":
        return 1
    if args.calls_command == "export" and args.ids:
        return 1
    if args.format == "json":
        _write("[]")
    return 0


def _list(store: CallStore, args: argparse.Namespace) -> int:
    calls = [_views.summary(call) for call in _read(store, store.calls, args.limit)]
    if args.format == "text":
        rows = [
            [c["id"], c["started_at"] or "", _duration(c["duration_s"]), c["frontend"], c["caller"] or "-",
             " > ".join(c["agents"]) or "-", c["end_reason"] or "(running or lost)"]
            for c in calls
        ]  # fmt: skip
        _table(["id", "started", "duration", "frontend", "caller", "agents", "end"], rows)
        if not calls:
            print(f"no calls recorded in {store.description}", file=sys.stderr)
    else:
        _emit(args.format, calls, csv_rows=[{**c, "agents": " > ".join(c["agents"])} for c in calls])
    return 0


def _show(store: CallStore, args: argparse.Namespace) -> int:
    doc = _document(store, args.id)
    if doc is None:
        print(f"error: no call {args.id!r} in {store.description} (or the prefix matches several)", file=sys.stderr)
        return 1
    if args.format == "json":
        _write(json.dumps(doc, indent=2, ensure_ascii=False))
    elif args.format == "text":
        _write(_text(doc))
    else:
        _emit(args.format, _views.timeline(doc), csv_rows=_views.timeline(doc))
    return 0


def _export(store: CallStore, args: argparse.Namespace) -> int:
    ids = args.ids or [call["id"] for call in reversed(_read(store, store.calls, None))]
    docs = []
    for call_id in ids:
        doc = _document(store, call_id)
        if doc is None:
            print(f"error: no call {call_id!r} in {store.description}", file=sys.stderr)
            return 1
        docs.append(doc)
    if args.format == "text":
        _write("\n\n".join(_text(doc) for doc in docs))
    else:
        _emit(args.format, docs, csv_rows=[_views.metrics(doc) for doc in docs])
    return 0


_COMMANDS = {"list": _list, "show": _show, "export": _export}


# --- reading -----------------------------------------------------------------------------------------


def _read(store: CallStore, read: Any, *args: Any) -> Any:
    try:
        return read(*args)
    except Exception as exc:  # the driver's own errors: a damaged file, a dropped connection
        raise StoreError(f"reading the call store {store.description} failed: {exc}") from exc


def _document(store: CallStore, call_id: str) -> dict[str, Any] | None:
    found = _read(store, store.find, call_id)
    record = _read(store, store.call, found) if found else None
    return _views.document(record) if record else None


# --- writing -----------------------------------------------------------------------------------------


def _emit(fmt: str, items: list[dict[str, Any]], *, csv_rows: list[dict[str, Any]]) -> None:
    if fmt == "json":
        _write(json.dumps(items, indent=2, ensure_ascii=False))
    elif fmt == "jsonl":
        _write("\n".join(json.dumps(item, ensure_ascii=False) for item in items))
    else:
        buffer = io.StringIO()
        columns = list(csv_rows[0]) if csv_rows else []
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows)
        sys.stdout.write(buffer.getvalue())


def _write(text: str) -> None:
    if text:
        sys.stdout.write(text + "\n")


def _text(doc: dict[str, Any]) -> str:
    lines = [
        f"call {doc['id']}  ({doc['frontend']}, caller {doc['caller'] or '-'})",
        f"graph {doc['graph']}  sha256 {doc['graph_hash'][:12]}",
        f"started {doc['started_at']}  ended {doc['ended_at'] or '-'}  ({doc['end_reason'] or 'no end recorded'})",
        f"agents {' > '.join(doc['agents']) or '-'}",
    ]
    usage, latency = doc["usage"], doc["latency"]
    lines.append(f"tokens {usage['input_tokens']} in, {usage['output_tokens']} out")
    if latency["median_ms"] is not None:
        lines.append(f"latency median {latency['median_ms']} ms, max {latency['max_ms']} ms")
    if doc["dropped"]:
        lines.append(f"warning: {doc['dropped']} events were not recorded")
    lines.append("")
    for entry in _views.timeline(doc):
        agent = f" [{entry['agent']}]" if entry["agent"] else ""
        lines.append(f"{entry['seq']:>5}  {entry['kind']:<18}{agent} {entry['text']}")
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
