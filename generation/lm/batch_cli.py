"""`selfinstruct batch status RUN_DIR` and `selfinstruct batch cancel RUN_DIR`: the batches a run
has sent (from its ledger, batches.jsonl), as the Batch API reports them now, and what they cost.

RUN_DIR is a run's folder, or a command's --out file (its ledger is in OUT.batch/ beside it).
"""
from __future__ import annotations

import argparse
import json

from ..errors import InputError
from .batch_ledger import TERMINAL, Ledger, ledger_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="batch mode (--batch-api): the batches a run sent, their state and cost; cancel them",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = p.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)
    for name, helptext, func in (("status", "jobs, counts and cost so far", _status),
                                 ("cancel", "cancel every batch of the run still in progress", _cancel)):
        c = cmds.add_parser(name, help=helptext)
        c.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (or a command's --out file)")
        c.add_argument("--base-url", default=None,
                       help="the Batch API's server (default: the one the run used, else $OPENAI_BASE_URL)")
        c.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY); never logged or written")
        c.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        c.set_defaults(func=func)


def _ledger(args: argparse.Namespace) -> Ledger:
    path = ledger_path(args.run_dir)
    if not path.exists():
        raise InputError("no batches here (batch mode writes batches.jsonl)", file=path.parent, field="RUN_DIR")
    return Ledger.open(path.parent, create=False)


def _client(args: argparse.Namespace, ledger: Ledger):
    from .batch_backend import open_client

    recorded = next((e.get("base_url") for e in ledger.of_kind("submitted") if e.get("base_url")), None)
    base_url = args.base_url or (recorded if recorded and "***" not in recorded else None)
    return open_client(base_url, args.api_key)


def _rows(args: argparse.Namespace) -> tuple[Ledger, list[dict], object]:
    ledger = _ledger(args)
    submitted = ledger.of_kind("submitted")
    client = _client(args, ledger) if submitted else None
    rows = []
    for e in submitted:
        done = ledger.done(e["batch_id"])
        row = {"batch_id": e["batch_id"], "endpoint": e["endpoint"], "requests": len(e["custom_ids"]),
               "estimate_usd": e.get("estimate_usd"), "cost_usd": done["cost_usd"] if done else None}
        try:
            b = client.batches.retrieve(e["batch_id"])
            counts = b.request_counts
            row.update(status=b.status, completed=counts.completed if counts else 0,
                       failed=counts.failed if counts else 0)
        except Exception as exc:  # one unreachable batch must not hide the others
            row.update(status=f"unknown ({type(exc).__name__})", completed=None, failed=None)
        rows.append(row)
    return ledger, rows, client


def _status(args: argparse.Namespace) -> int:
    ledger, rows, _ = _rows(args)
    written = ledger.of_kind("written")
    spent = sum(r["cost_usd"] or 0.0 for r in rows)
    outstanding = sum(r["estimate_usd"] or 0.0 for r in rows if r["cost_usd"] is None)
    if args.json:
        print(json.dumps({"batches": rows, "request_files": [{"file": w["file"], "requests": len(w["custom_ids"])}
                                                              for w in written],
                          "cost_usd": round(spent, 6), "outstanding_upper_bound_usd": round(outstanding, 6)}))
        return 0
    for r in rows:
        cost = f"${r['cost_usd']:.4f}" if r["cost_usd"] is not None else f"<= ${r['estimate_usd'] or 0:.4f}"
        print(f"{r['batch_id']}  {r['status']:<12} {r['completed']}/{r['requests']} done, {r['failed']} failed  "
              f"{r['endpoint']}  {cost}")
    for w in written:
        print(f"request file {w['file']}  {len(w['custom_ids'])} requests (offline)")
    print(f"{len(rows)} batch(es); spent ${spent:.4f} at batch prices; up to ${outstanding:.4f} more in flight")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    ledger, rows, client = _rows(args)
    cancelled = 0
    for r in rows:
        if r["status"] not in TERMINAL and not r["status"].startswith("unknown"):
            client.batches.cancel(r["batch_id"])
            cancelled += 1
            print(f"cancelled {r['batch_id']}")
    print(f"{cancelled} batch(es) cancelled; {len(rows) - cancelled} already finished. Rerunning the command "
          "resubmits a cancelled batch's unanswered requests once.")
    return 0
