#!/usr/bin/env python3
"""An example partner client for the Jilin telemedicine portal's API (issue 14).

What a hospital's IT vendor writes to connect its systems, end to end, with nothing registered by
hand: it runs one whole remote consultation over HTTP, as three partner applications (OAuth2 client
credentials) would in real life:

* the inviting hospital's HIS (农安县人民医院, demo client ``demo-nongan-his``) registers a patient
  and an admission, drafts the request, records the informed consent, names the attending
  physician, uploads the records and sends the request; it subscribes a webhook to a small receiver
  it runs itself on 127.0.0.1, and learns of the acceptance from the signed push;
* the invited hospital's consultation centre (吉林大学第一医院, ``demo-jdyy-coordination``) finds the
  request in its inbox, accepts it, assigns the expert, schedules and starts the session;
* the expert's signing workstation (``demo-jdyy-expert``) signs the opinion — only the assigned
  expert may sign (rule JL-C6), so it is an application of its own, acting as him;
* the HIS then closes the case and reads the charge.

Standard library only (Python 3.11+). Every POST carries an ``Idempotency-Key`` (a retry after a
network error cannot act twice), every change of state an ``If-Match`` with the case's ``ETag``
(a stale view is refused with 412 instead of overwriting someone's work), lists are read page by
page following ``next`` (the invited side keeps its copy of the case list in cursor pages). Each step is printed.

Run it against ``manage.py rundemo`` (see examples/README.md)::

    python examples/partner_client.py --base-url http://127.0.0.1:8000

Credentials come from the arguments or the environment (``TELEMED_CLIENT_ID``, ``TELEMED_CLIENT_SECRET``,
``TELEMED_INVITED_CLIENT_ID`` …); the defaults are the demonstration clients that ``seed_demo`` prints.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Receivers refuse a push whose X-Telemed-Timestamp is further than this from their clock (replay window).
REPLAY_WINDOW_SECONDS = 300
HTTP_TIMEOUT_SECONDS = 30


def say(step: str, detail: str = "") -> None:
    """Print one step of the run."""
    print(f"==> {step}" + (f": {detail}" if detail else ""), flush=True)


def now_iso(offset: dt.timedelta = dt.timedelta()) -> str:
    """An ISO 8601 time with its offset, as the API wants every time."""
    return (dt.datetime.now(dt.UTC) + offset).isoformat()


# --- Talking to the API ---------------------------------------------------------------------------


class ApiError(Exception):
    """The portal refused a call: HTTP status and the portal's stable error ``code``."""

    def __init__(self, status: int, body: dict | str):
        self.status = status
        self.body = body
        self.code = body.get("code") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status} {self.code or ''}: {message}")


@dataclass
class Answer:
    status: int
    headers: object  # the response's headers (case-insensitive .get)
    body: dict | list | str | None


@dataclass
class PartnerApp:
    """One partner application: its credentials, its current token, and its calls."""

    base_url: str
    client_id: str
    client_secret: str
    label: str
    token: str = ""
    token_expires: float = 0.0
    retries: int = 3

    def __post_init__(self):
        require_http(self.base_url)

    # Tokens ---------------------------------------------------------------------------------------

    def authenticate(self) -> None:
        """OAuth2 client credentials: the id and secret (HTTP Basic) buy a Bearer token.

        No Idempotency-Key here: a token is a credential and must never be kept to be replayed."""
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - base_url is http(s), checked in __post_init__
            self.base_url + "/api/v1/oauth/token/", method="POST",
            data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"},
        )
        answer = self._send(request)
        self.token = answer.body["access_token"]
        self.token_expires = time.monotonic() + int(answer.body["expires_in"]) - 60  # renew a minute early
        say(f"{self.label}: token", f"scopes {answer.body.get('scope', '')}")

    # Calls ----------------------------------------------------------------------------------------

    def get(self, path: str, **query) -> Answer:
        return self.call("GET", path, query=query)

    def post(self, path: str, body: dict | None = None, *, files: dict | None = None, etag: str | None = None) -> Answer:
        """POST with a fresh Idempotency-Key, kept across this call's retries: the portal answers a
        retried key with its first answer and does nothing twice."""
        return self.call("POST", path, body=body, files=files, etag=etag, idempotency_key=str(uuid.uuid4()))

    def call(self, method: str, path: str, *, query: dict | None = None, body: dict | None = None,
             files: dict | None = None, etag: str | None = None, idempotency_key: str | None = None) -> Answer:
        url = require_http(path) if path.startswith("http") else self.base_url + path  # ``next`` links are absolute
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        data, content_type = encode_body(body, files)
        for attempt in range(1, self.retries + 1):
            if not self.token or time.monotonic() > self.token_expires:
                self.authenticate()
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
            if content_type:
                headers["Content-Type"] = content_type
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            if etag:
                headers["If-Match"] = etag  # refused with 412 if the case changed since we read it
            try:
                return self._send(urllib.request.Request(url, data=data, method=method, headers=headers))  # noqa: S310
            except ApiError as error:
                if error.status == 401 and attempt < self.retries:
                    self.token = ""  # expired or revoked meanwhile: ask for a new one once
                    continue
                if error.status in (502, 503, 504) and attempt < self.retries:
                    time.sleep(attempt)  # the same Idempotency-Key makes the retry safe
                    continue
                raise
            except (urllib.error.URLError, TimeoutError):
                if attempt == self.retries:
                    raise
                time.sleep(attempt)
        raise AssertionError("unreachable")

    def pages(self, path: str, **query):
        """Every row of a list, following ``next`` (page numbers or cursor pages alike)."""
        answer = self.get(path, **query)
        while True:
            yield from answer.body["results"]
            if not answer.body.get("next"):
                return
            answer = self.get(answer.body["next"])

    @staticmethod
    def _send(request: urllib.request.Request) -> Answer:
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only
                return Answer(response.status, response.headers, decode(response.read()))
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, decode(error.read())) from None


def require_http(url: str) -> str:
    """Only http(s) URLs are ever opened (never ``file:`` or another scheme urllib knows)."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


def decode(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def encode_body(body: dict | None, files: dict | None) -> tuple[bytes | None, str | None]:
    """JSON, or multipart/form-data when there are files (``{"field": (filename, bytes, type)}``)."""
    if files is None:
        return (json.dumps(body).encode(), "application/json") if body is not None else (None, None)
    boundary = "----telemed" + uuid.uuid4().hex
    parts = []
    for name, value in (body or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content, mime) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {mime}\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def small_pdf(text: str) -> bytes:
    """A valid one-page PDF standing in for a scanned record (the portal checks the real file type)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
               "/Contents 5 0 R >>", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream"]
    out, offsets = b"%PDF-1.4\n", []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{obj}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    return out + f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()


# --- The webhook receiver -------------------------------------------------------------------------


def signature_valid(secret: str, timestamp: str, body: bytes, header: str, *, now: float) -> bool:
    """The portal's recipe: refuse a stale timestamp, then compare
    ``sha256=HEX(HMAC-SHA256(secret, timestamp + "." + raw body))`` in constant time."""
    try:
        if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
            return False
    except (TypeError, ValueError):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


@dataclass
class WebhookReceiver:
    """A small HTTP server on 127.0.0.1 (a thread) that takes the portal's pushes: it verifies each
    signature, drops a repeated event id (delivery is at least once), and queues the new events."""

    secret: str = ""
    events: queue.Queue = field(default_factory=queue.Queue)
    seen: set = field(default_factory=set)
    refused: int = 0
    duplicates: int = 0

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the run's output to our own steps
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(receiver.take(self.headers, body))
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}/telemed/webhooks"

    def take(self, headers, body: bytes) -> int:
        """The answer to one push: 2xx only for a verified one (anything else makes the portal retry)."""
        if not self.secret:
            return 503  # not ready yet: the portal tries again later
        if not signature_valid(self.secret, headers.get("X-Telemed-Timestamp"), body,
                               headers.get("X-Telemed-Signature"), now=time.time()):
            self.refused += 1
            return 401
        event_id = headers.get("X-Telemed-Event-Id")
        if event_id in self.seen:
            self.duplicates += 1
            return 200  # already processed: acknowledge, do nothing
        self.seen.add(event_id)
        self.events.put(json.loads(body))
        return 200

    def wait_for(self, wanted, *, timeout: float) -> dict:
        """The first event received for which ``wanted(event)`` holds (earlier ones are printed and passed over)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching webhook arrived in time")
            try:
                event = self.events.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            say("webhook received", f"{event['type']} {event['data'].get('action', '')} (event {event['id']})")
            if wanted(event):
                return event

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- The inviting hospital's HIS ------------------------------------------------------------------


def subscribe(his: PartnerApp, receiver: WebhookReceiver, url: str) -> dict:
    """Subscribe this application (it owns the subscription) to state changes and signed opinions;
    the secret is in this answer only, so the receiver keeps it now."""
    answer = his.post("/api/v1/webhooks/", {
        "target_url": url, "description": "examples/partner_client.py",
        "event_types": ["consultation.state_changed", "opinion.signed"],
    })
    receiver.secret = answer.body["secret"]
    say("subscribed", f"webhook {answer.body['id']} → {url}")
    return answer.body


def register_patient(his: PartnerApp, run: str) -> dict:
    """Push the patient; the HIS's own patient number (external_id) makes a repeat push harmless."""
    patient = his.post("/api/v1/patients/", {
        "name": "示例患者", "sex": "1", "birth_date": "1965-03-08", "external_id": f"EXAMPLE-{run}",
        "medical_record_number": f"MR-{run}",
    }).body
    say("patient registered", f"id {patient['id']}")
    return patient


def record_admission(his: PartnerApp, patient: dict, run: str) -> dict:
    admission = his.post("/api/v1/admissions/", {
        "patient": patient["id"], "inpatient_number": f"ZY-{run}", "admitted_at": now_iso(-dt.timedelta(hours=2)),
        "ward": "内科一病区",
    }).body
    say("admission recorded", f"id {admission['id']}")
    return admission


def find_one(app: PartnerApp, path: str, name: str, **query) -> dict:
    """A row of a list by its exact name (lists are paged: follow ``next``)."""
    for row in app.pages(path, search=name, **query):
        if row.get("name") == name:
            return row
    raise LookupError(f"{name} not found at {path}")


def draft_request(his: PartnerApp, patient: dict, admission: dict, invited: dict) -> dict:
    case = his.post("/api/v1/consultations/", {
        "patient": patient["id"], "admission": admission["id"], "invited": invited["id"],
        "service_type": "consultation", "wanted_scope": "internal",
        "reason": "入院后发热待查，诊断不明", "purpose": "明确诊断并给出治疗建议", "case_summary": "发热伴咳嗽 5 天。",
    }).body
    say("request drafted", f"{case['number']} (id {case['id']}) to {invited['name']}")
    return case


def prepare_request(his: PartnerApp, case: dict, attending: dict) -> None:
    """JL-C3 before any record leaves: the signed consent, the attending physician named; then the
    records themselves (JL-C5: the portal keeps each file's SHA-256)."""
    path = f"/api/v1/consultations/{case['id']}"
    his.post(f"{path}/consent/", {
        "signer_name": "示例家属", "relation": "spouse", "signed_at": now_iso(-dt.timedelta(minutes=10)),
        "sensitive_info_consent": "true",
    }, files={"signed_copy": ("consent.pdf", small_pdf("informed consent"), "application/pdf")})
    say("consent recorded")
    his.post(f"{path}/participants/", {"physician": attending["id"]})
    say("attending physician named", attending["name"])
    for kind in ("condition_summary", "medical_record", "test_report"):
        document = his.post(f"{path}/documents/", {"kind": kind, "title": kind},
                            files={"file": (f"{kind}.pdf", small_pdf(kind), "application/pdf")}).body
        say("document uploaded", f"{kind} sha256 {document['sha256'][:12]}…")


def change_state(app: PartnerApp, case_id: int, action: str, body: dict | None = None) -> dict:
    """One move of the case, guarded by its version: read the ETag, send it as If-Match."""
    etag = app.get(f"/api/v1/consultations/{case_id}/").headers.get("ETag")
    answer = app.post(f"/api/v1/consultations/{case_id}/{action}/", body, etag=etag)
    say(f"{app.label}: {action}", f"state {answer.body.get('state', '')}")
    return answer.body


# --- The invited hospital -------------------------------------------------------------------------


def sync_case_list(centre: PartnerApp, since: str | None = None) -> str:
    """Keep a local copy of the case list: cursor pages ordered by (updated_at, id), each changed
    case exactly once per run. The answer's ``next_updated_since`` is where the next run starts;
    a case changed in the last 30 seconds (still settling) comes in that next run."""
    query = {"pagination": "cursor", "page_size": 50, **({"updated_since": since} if since else {})}
    answer = centre.get("/api/v1/consultations/", **query)
    count = len(answer.body["results"])
    while answer.body.get("next"):
        answer = centre.get(answer.body["next"])
        count += len(answer.body["results"])
    say("case list synced (cursor pages)", f"{count} cases; next run from {answer.body['next_updated_since']}")
    return answer.body["next_updated_since"]


def find_in_inbox(centre: PartnerApp, number: str) -> dict:
    """The request just sent, among the invited side's incoming ones (page-number list: it shows
    the present state at once, where a cursor sync lets the last 30 seconds settle first)."""
    for row in centre.pages("/api/v1/consultations/", side="invited", state="sent", search=number):
        if row["number"] == number:
            say("found in the invited inbox", number)
            return row
    raise LookupError(f"{number} is not in the invited hospital's inbox")


def assign_expert(centre: PartnerApp, case_id: int, expert_name: str) -> dict:
    """The physicians who would pass every check (JL-P1..P6) now; assign the one named."""
    candidates = centre.get(f"/api/v1/consultations/{case_id}/experts/").body
    expert = next((c for c in candidates if c["name"] == expert_name), None)
    if expert is None:
        raise LookupError(f"{expert_name} is not a qualified expert for this case: {[c['name'] for c in candidates]}")
    centre.post(f"/api/v1/consultations/{case_id}/assign/", {"physician": expert["id"]})
    say("expert assigned", expert_name)
    return expert


def sign_opinion(expert: PartnerApp, case_id: int) -> dict:
    etag = expert.get(f"/api/v1/consultations/{case_id}/").headers.get("ETag")
    opinion = expert.post(f"/api/v1/consultations/{case_id}/sign/", {
        "content": "考虑社区获得性肺炎。建议完善痰培养及胸部 CT，经验性抗感染治疗，72 小时后评估疗效。",
    }, etag=etag).body
    say("opinion signed", f"by {opinion['signed_by_name']}, version {opinion['version']}, sha256 {opinion['content_sha256'][:12]}…")
    return opinion


def read_charge(his: PartnerApp, case_id: int, *, timeout: float = 30) -> dict:
    """The charge is made once the close has committed; look for it (a few times if needed)."""
    deadline = time.monotonic() + timeout
    while True:
        charge = next((c for c in his.pages("/api/v1/charges/") if c["consultation"] == case_id), None)
        if charge is not None:
            say("charge", f"fee {charge['fee_fen'] / 100:.2f} 元 — inviting {charge['inviting_share_fen'] / 100:.2f}, "
                          f"invited {charge['invited_share_fen'] / 100:.2f} ({charge['split_basis']})")
            return charge
        if time.monotonic() > deadline:
            raise TimeoutError("no charge for the case")
        time.sleep(1)


# --- The whole case -------------------------------------------------------------------------------


def run_case(his: PartnerApp, centre: PartnerApp, expert: PartnerApp, *, invited_name: str, attending_name: str,
             expert_name: str, webhook_timeout: float = 60) -> dict:
    run = uuid.uuid4().hex[:10]
    receiver = WebhookReceiver()
    url = receiver.start()
    subscription = subscribe(his, receiver, url)
    try:
        patient = register_patient(his, run)
        admission = record_admission(his, patient, run)
        invited = find_one(his, "/api/v1/facilities/", invited_name)
        attending = find_one(his, "/api/v1/physicians/", attending_name, facility=patient["facility"])
        case = draft_request(his, patient, admission, invited)
        prepare_request(his, case, attending)
        change_state(his, case["id"], "send")

        sync_case_list(centre)
        find_in_inbox(centre, case["number"])
        change_state(centre, case["id"], "accept")
        accepted = receiver.wait_for(
            lambda e: e["type"] == "consultation.state_changed" and e["resource"]["id"] == str(case["id"])
            and e["data"].get("action") == "consultation.accept", timeout=webhook_timeout)
        say("acceptance confirmed by webhook", f"event {accepted['id']}, signature verified")

        assign_expert(centre, case["id"], expert_name)
        change_state(centre, case["id"], "schedule", {"scheduled_for": now_iso(dt.timedelta(minutes=30)),
                                                       "video_link": "https://meeting.example.org/telemed-demo"})
        change_state(centre, case["id"], "start")
        opinion = sign_opinion(expert, case["id"])
        change_state(his, case["id"], "close")
        charge = read_charge(his, case["id"])
    finally:
        his.post(f"/api/v1/webhooks/{subscription['id']}/disable/", {"reason": "示例运行结束"})
        receiver.stop()
    say("done", f"case {case['number']} closed and charged; {len(receiver.seen)} webhook events, "
                f"{receiver.duplicates} duplicates dropped, {receiver.refused} refused")
    return {"case": case, "opinion": opinion, "charge": charge, "accepted_event": accepted,
            "subscription": subscription, "events_seen": sorted(receiver.seen)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Run one whole remote consultation through the portal's partner API.")
    parser.add_argument("--base-url", default=env("TELEMED_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--client-id", default=env("TELEMED_CLIENT_ID", "demo-nongan-his"), help="the inviting HIS")
    parser.add_argument("--client-secret", default=env("TELEMED_CLIENT_SECRET", "demo-nongan-his-secret-2026"))
    parser.add_argument("--invited-client-id", default=env("TELEMED_INVITED_CLIENT_ID", "demo-jdyy-coordination"))
    parser.add_argument("--invited-client-secret",
                        default=env("TELEMED_INVITED_CLIENT_SECRET", "demo-jdyy-coordination-secret-2026"))
    parser.add_argument("--expert-client-id", default=env("TELEMED_EXPERT_CLIENT_ID", "demo-jdyy-expert"))
    parser.add_argument("--expert-client-secret", default=env("TELEMED_EXPERT_CLIENT_SECRET", "demo-jdyy-expert-secret-2026"))
    parser.add_argument("--invited-facility", default="吉林大学第一医院", help="the invited hospital's name")
    parser.add_argument("--attending", default="许星澜", help="the inviting hospital's attending physician")
    parser.add_argument("--expert", default="林沐川", help="the expert the signing workstation acts as")
    parser.add_argument("--webhook-timeout", type=float, default=60, help="seconds to wait for the acceptance push")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    base = args.base_url.rstrip("/")
    his = PartnerApp(base, args.client_id, args.client_secret, "inviting HIS")
    centre = PartnerApp(base, args.invited_client_id, args.invited_client_secret, "invited centre")
    expert = PartnerApp(base, args.expert_client_id, args.expert_client_secret, "expert workstation")
    return run_case(his, centre, expert, invited_name=args.invited_facility, attending_name=args.attending,
                    expert_name=args.expert, webhook_timeout=args.webhook_timeout)


if __name__ == "__main__":
    try:
        main()
    except ApiError as error:
        print(f"refused: {error}\n{json.dumps(error.body, ensure_ascii=False, indent=2)}", file=sys.stderr)
        sys.exit(1)
