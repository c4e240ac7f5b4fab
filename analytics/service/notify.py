"""Push new red (and, if configured, orange) warnings to group robots: 企业微信, 钉钉, plain JSON.

After every refresh of a workspace (``pingan ingest``, ``pingan watch``, an upload in the app)
:func:`notify_warnings` takes the board's 红橙预警清单 of the latest complete period — the finest
admin level, the same table the board shows (:meth:`Service.alerts`) — and, for each webhook of
``[notify]`` in ``config.toml``, POSTs one message listing the areas at that webhook's levels
that it has not been sent yet: path (区 › 街道 › 社区 › 网格), observed and expected counts, the
reason in Chinese.

At most once per webhook, area, level and period: ``W/notify/sent.jsonl`` records what each
webhook received, one line per area, appended (one ``write`` + fsync) **after** the POST
succeeded. The choice is *at least once*: a crash between a successful POST and that line sends
the message again on the next refresh (once); nothing is ever lost, and a webhook that failed
gets the areas at the next refresh. The log is not a workspace transaction on purpose: a new
workspace version would drop every cached board for a line of bookkeeping. Notifiers of one
workspace (a watcher, the app, a manual ``pingan notify``) take ``W/notify/.lock`` in turn.

Every attempt is a line of ``W/notify/notify.log`` (time, webhook with its token masked, status,
error); each message sent or given up is also a line of the audit log. 5xx answers, timeouts and
refused connections are retried ``retries`` times with exponential backoff (``backoff`` ×
1, 2, 4 … seconds); a dead webhook is logged, never fatal.

Formats (the bodies the robots' documentation asks for):

- ``wecom``: ``{"msgtype": "markdown", "markdown": {"content": …}}``;
- ``dingtalk``: ``{"msgtype": "markdown", "markdown": {"title": …, "text": …}}``; with a
  ``secret`` the URL gets ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret,
  ``"{timestamp}\\n{secret}"``)), URL-encoded (钉钉 "加签");
- ``json``: ``{"source": "pingan", "city", "period", "freq", "title", "areas": [{area_id, path,
  level, level_zh, observed, expected, p_exceed, reason_zh, reason_en}, …]}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from analytics.present.i18n import t
from data.config import check_notify
from data.workspace import Workspace

__all__ = ["NotifyResult", "notify_warnings", "notify_in_background", "send_test", "pending_alerts", "message_body",
           "dingtalk_sign", "mask_webhook", "notify_dir", "read_sent", "MAX_AREAS"]

#: Areas listed in one message (the rest are counted; robots cap a message at 4–20 kB).
MAX_AREAS = 20
_SENSITIVE_QUERY = ("key", "access_token", "token", "sign", "secret", "signature", "auth")


@dataclass
class NotifyResult:
    """What one :func:`notify_warnings` run did.

    Attributes
    ----------
    period : Timestamp or None
        The period judged (the latest complete one).
    messages : list of dict
        Per webhook with something to say: ``webhook`` (masked), ``format``, ``areas`` (ids),
        ``ok``, ``attempts``, ``status``, ``error``, ``body`` (what was, or would be, sent).
    note : str
        Why nothing was judged (no webhooks, no area layers …), else ``""``.
    """

    period: pd.Timestamp | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def summary(self) -> str:
        """One line per message, for the command line."""
        if self.note:
            return f"推送 notify: {self.note}"
        if not self.messages:
            return f"推送 notify: 无新预警 nothing new for {self.period:%Y-%m-%d}"
        lines = []
        for m in self.messages:
            state = "ok" if m["ok"] else ("dry-run" if m.get("dry_run") else f"FAILED ({m['error']})")
            lines.append(f"推送 notify: {m['webhook']} [{m['format']}] {len(m['areas'])} areas, "
                         f"{m['attempts']} attempt(s): {state}")
        return "\n".join(lines)


def notify_dir(ws: Workspace) -> Path:
    """``W/notify/``: the sent-log, the attempt log and the notifiers' lock."""
    return ws.path / "notify"


def notify_warnings(ws: Workspace, *, dry_run: bool = False, period=None,
                    sleep: Callable[[float], None] = time.sleep) -> NotifyResult:
    """Send every webhook the red/orange areas it has not received for the latest complete period.

    Parameters
    ----------
    ws : Workspace
        The workspace (its ``[notify]`` settings).
    dry_run : bool
        Build the messages, send nothing, record nothing.
    period : optional
        The period to judge (default: the latest complete one).
    sleep : callable
        Waits between retries (tests pass a recorder).

    Returns
    -------
    NotifyResult
        Never raises for a webhook that fails: it is logged and reported.
    """
    settings = check_notify(ws.config.notify)
    if not settings["webhooks"]:
        return NotifyResult(note="no webhooks in config.toml [notify]")
    if not ws.exists() or not ws.layers():
        return NotifyResult(note="no area layers to judge yet")
    from filelock import FileLock

    folder = notify_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".lock")):
        try:
            alerts, p = pending_alerts(ws, period)
        except (ValueError, KeyError, IndexError) as exc:  # e.g. no complete period yet
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return NotifyResult(note=f"nothing to judge yet ({why})")
        result = NotifyResult(period=p)
        sent = read_sent(ws)
        city = ws.config.name
        for hook in settings["webhooks"]:
            key = _hook_key(hook["url"])
            rows = alerts[alerts["level"].astype(str).isin(hook["levels"])]
            done = {(a, lv) for h, a, lv, per in sent if h == key and per == f"{p:%Y-%m-%d}"}
            rows = rows[[(a, lv) not in done for a, lv in zip(rows["area_id"].astype(str), rows["level"].astype(str))]]
            if not len(rows):
                continue
            body = message_body(hook["format"], rows, city=city, period=p)
            msg = {"webhook": mask_webhook(hook["url"]), "format": hook["format"],
                   "areas": rows["area_id"].astype(str).tolist(), "body": body, "ok": False,
                   "attempts": 0, "status": None, "error": "", "dry_run": dry_run}
            if not dry_run:
                msg.update(_post(ws, hook, body, settings, sleep, areas=len(rows), period=p))
                if msg["ok"]:
                    _append_sent(ws, key, rows, p)
                _audit(ws, msg)
            result.messages.append(msg)
    return result


def notify_in_background(ws: Workspace) -> threading.Thread | None:
    """:func:`notify_warnings` in a thread (an upload in the app must not wait for robots);
    None when ``[notify]`` has no webhooks. A failure is written to ``W/notify/notify.log``."""
    if not check_notify(ws.config.notify)["webhooks"]:
        return None

    def run() -> None:
        try:
            notify_warnings(ws)
        except (ValueError, OSError, KeyError) as exc:  # never lose it silently
            notify_dir(ws).mkdir(parents=True, exist_ok=True)
            _append_line(notify_dir(ws) / "notify.log", {
                "time": datetime.now().astimezone().isoformat(timespec="milliseconds"),
                "ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]})

    # not a daemon: a worker process (a background job) joins it before exiting, so a push
    # started there is finished, not cut off
    thread = threading.Thread(target=run, name="pingan-notify", daemon=False)
    thread.start()
    return thread


def send_test(ws: Workspace, *, sleep: Callable[[float], None] = time.sleep) -> NotifyResult:
    """POST a short test message to every webhook (``pingan notify --test``); nothing is recorded
    as sent, every attempt is logged."""
    settings = check_notify(ws.config.notify)
    result = NotifyResult()
    if not settings["webhooks"]:
        result.note = "no webhooks in config.toml [notify]"
        return result
    notify_dir(ws).mkdir(parents=True, exist_ok=True)
    for hook in settings["webhooks"]:
        text = t("notify.test", "zh", city=ws.config.name)
        body = _wrap(hook["format"], text, text, {"source": "pingan", "test": True, "city": ws.config.name,
                                                  "title": text, "areas": []})
        msg = {"webhook": mask_webhook(hook["url"]), "format": hook["format"], "areas": [], "body": body}
        msg.update(_post(ws, hook, body, settings, sleep, areas=0, period=None))
        _audit(ws, msg)
        result.messages.append(msg)
    return result


def pending_alerts(ws: Workspace, period=None) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The red and orange areas of the board's 清单 for ``period`` (default: the latest complete
    one), whole city, worst first, and that period."""
    from analytics.service import Service

    svc = Service(ws)
    p = pd.Timestamp(period) if period is not None else svc.latest_period("W")
    alerts = svc.alerts(str(p.date()), "W")
    return alerts, p


def message_body(fmt: str, rows: pd.DataFrame, *, city: str, period: pd.Timestamp) -> dict[str, Any]:
    """The JSON body of one message listing ``rows`` (alerts) in format ``fmt``."""
    levels = [lv for lv in ("red", "orange") if (rows["level"].astype(str) == lv).any()]
    title = t("notify.title", "zh", city=city, n=len(rows), period=f"{period:%Y-%m-%d}",
              levels="、".join(t(f"level.{lv}", "zh") for lv in levels))
    lines = []
    for r in rows.head(MAX_AREAS).itertuples(index=False):
        lines.append("- " + t("notify.area", "zh", path=r.path, level=t(f"level.{r.level}", "zh"),
                              observed=int(r.observed), expected=f"{float(r.expected):.1f}", reason=r.reason_zh))
    if len(rows) > MAX_AREAS:
        lines.append(t("notify.more", "zh", n=len(rows) - MAX_AREAS))
    text = "\n".join(lines)
    payload = {
        "source": "pingan", "city": city, "period": f"{period:%Y-%m-%d}", "freq": "W", "title": title,
        "areas": [{"area_id": str(r.area_id), "path": str(r.path), "level": str(r.level),
                   "level_zh": t(f"level.{r.level}", "zh"), "observed": int(r.observed),
                   "expected": round(float(r.expected), 3), "p_exceed": float(r.p_exceed),
                   "reason_zh": str(r.reason_zh), "reason_en": str(r.reason_en)}
                  for r in rows.itertuples(index=False)],
    }
    return _wrap(fmt, title, text, payload)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), not yet URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def mask_webhook(url: str) -> str:
    """``url`` with its secrets hidden: query values of key/access_token/… and long path tokens.

    Examples
    --------
    >>> mask_webhook("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx")
    'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a***'
    """
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    path = "/".join(s[:4] + "***" if len(s) >= 20 and s.replace("-", "").replace("_", "").isalnum() else s
                    for s in parts.path.split("/"))
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    masked = "&".join(f"{k}={v[:4]}***" if k.lower() in _SENSITIVE_QUERY or len(v) >= 20 else f"{k}={v}"
                      for k, v in query)
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, masked, ""))


def read_sent(ws: Workspace) -> set[tuple[str, str, str, str]]:
    """``(webhook key, area_id, level, period)`` of every message a webhook received."""
    path = notify_dir(ws) / "sent.jsonl"
    out: set[tuple[str, str, str, str]] = set()
    if not path.exists():
        return out
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:  # a torn last line: that area is sent again (once)
                continue
            out.add((e["hook"], e["area_id"], e["level"], e["period"]))
    return out


# -- sending ------------------------------------------------------------------------------
def _wrap(fmt: str, title: str, text: str, payload: dict) -> dict[str, Any]:
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": f"**{title}**\n{text}".strip()}}
    if fmt == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": f"#### {title}\n{text}".strip()}}
    return payload


def _post(ws: Workspace, hook: dict, body: dict, settings: dict, sleep, *, areas: int,
          period: pd.Timestamp | None) -> dict[str, Any]:
    """POST ``body`` with retries; every attempt logged. Returns ok/attempts/status/error."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    tries = settings["retries"] + 1
    status, error = None, ""
    for attempt in range(1, tries + 1):
        url = hook["url"]
        if hook["format"] == "dingtalk" and hook.get("secret"):
            ts = int(time.time() * 1000)
            sign = urllib.parse.quote_plus(dingtalk_sign(hook["secret"], ts))
            url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={sign}"
        retry = False
        try:
            req = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
            with urllib.request.urlopen(req, timeout=settings["timeout"]) as resp:  # noqa: S310 (http(s) checked)
                status = resp.status
                answer = resp.read(65536).decode("utf-8", errors="replace")
            error = _robot_error(answer)
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
            retry = exc.code >= 500 or exc.code == 429
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            status, error = None, str(getattr(exc, "reason", exc))[:200]
            retry = True
        ok = status is not None and 200 <= status < 300 and not error
        _log_attempt(ws, hook, attempt=attempt, status=status, ok=ok, error=error, areas=areas, period=period)
        if ok or not retry or attempt == tries:
            return {"ok": ok, "attempts": attempt, "status": status, "error": error}
        sleep(settings["backoff"] * 2 ** (attempt - 1))
    return {"ok": False, "attempts": tries, "status": status, "error": error}  # pragma: no cover


def _robot_error(answer: str) -> str:
    """The robot's own error (``errcode`` ≠ 0 in a 200 answer of 企业微信/钉钉), else ``""``."""
    try:
        parsed = json.loads(answer)
    except json.JSONDecodeError:
        return ""
    if isinstance(parsed, dict) and parsed.get("errcode") not in (None, 0, "0"):
        return f"errcode {parsed.get('errcode')}: {str(parsed.get('errmsg', ''))[:200]}"
    return ""


def _hook_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _append_line(path: Path, entry: dict) -> None:
    """One JSON line, one ``write`` on an O_APPEND file, fsync'ed (as the audit log)."""
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _append_sent(ws: Workspace, key: str, rows: pd.DataFrame, period: pd.Timestamp) -> None:
    now = datetime.now().astimezone().isoformat(timespec="seconds")
    path = notify_dir(ws) / "sent.jsonl"
    lines = "".join(json.dumps({"time": now, "hook": key, "area_id": str(a), "level": str(lv),
                                "period": f"{period:%Y-%m-%d}"}, ensure_ascii=False) + "\n"
                    for a, lv in zip(rows["area_id"], rows["level"]))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:  # one write: the areas of one message are recorded together
        os.write(fd, lines.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _log_attempt(ws: Workspace, hook: dict, *, attempt: int, status, ok: bool, error: str, areas: int,
                 period: pd.Timestamp | None) -> None:
    _append_line(notify_dir(ws) / "notify.log", {
        "time": datetime.now().astimezone().isoformat(timespec="milliseconds"),
        "webhook": mask_webhook(hook["url"]), "format": hook["format"], "attempt": attempt,
        "status": status, "ok": ok, "error": error, "areas": areas,
        "period": None if period is None else f"{period:%Y-%m-%d}"})


def _audit(ws: Workspace, msg: dict) -> None:
    from data.audit import record

    state = "sent" if msg["ok"] else f"failed after {msg['attempts']} attempt(s): {msg['error']}"
    record(ws, "notify", user="pingan", detail=f"{msg['webhook']} [{msg['format']}] "
           f"{len(msg['areas'])} areas {state}")
