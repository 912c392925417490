#!/usr/bin/env python3
# tests/server/oauth2_server.py - the test OAuth2 authorization server.
#
# A small, strict, in-memory authorization server for the sasl-oauth2 test
# suite: authorization code + PKCE (RFC 6749, 7636, 8252), refresh with
# rotation and reuse detection, client credentials, device authorization
# grant (RFC 8628), revocation (RFC 7009) and authenticated introspection
# (RFC 7662, the shape Dovecot's oauth2 passdb wants).  It is deliberately
# strict so that the product does not come to depend on leniency a
# certified server would not give it.
# /control injects faults, /stats counts requests; the request log never
# holds token, secret, code or verifier values.
#
# Python 3 standard library only.  Binds 127.0.0.1, exits by itself after
# --max-seconds.  The contract is in briefs/COMMON.md ("The test OAuth2
# server"); beyond it this server offers:
#   flags   --device-expires S (600), --code-ttl S (60),
#           --refresh-grace S (0): a rotated refresh token stays usable
#           for S seconds, as Microsoft's do, instead of being reuse,
#           --client-mailbox M (client_credentials user, alice@example.test)
#   control "device_interval", "device_expires", "client_mailbox",
#           "authorize": "allow" (cancel pending denials), "fault" may be a
#           list of fault objects, "withhold_scope": "A B" (the user
#           unticks scopes A and B at /authorize: the grant and the token
#           answers carry the narrower scope, RFC 6749 3.3; "" clears it);
#           "metadata_issuer": "URL" (the metadata names another issuer;
#           "" restores the server's own);
#           "localhost_redirect": true (accept http://localhost:PORT
#           redirects, as Microsoft does; off: 127.0.0.1 and [::1] only);
#           "token_length": N (access tokens padded to N characters,
#           like real 1-2.5 KB JWTs; 0 restores the short form);
#           unknown keys are refused with 400
#   client  special:client / s3cr:t+with/%&=chars (basic and post), to
#           check the RFC 6749 2.3.1 form-urlencoding of Basic credentials;
#           dovecot-client / dovecot-secret (basic only), a resource server
#           registered for introspection only: no grant type, no /authorize
#   keys    --jwt-client ID=PUB.pem registers a confidential client that
#           authenticates with private_key_jwt (RFC 7523 2.2) and the key
#           PUB.pem; --service-account ISS=PUB.pem lets issuer ISS use the
#           jwt-bearer grant (RFC 7523 2.1, Google's service accounts):
#           the token is issued for the assertion's sub, with no refresh
#           token.  Signatures (RS256, ES256) are checked with the openssl
#           command; aud must be this server's /token, exp at most 10
#           minutes ahead, nbf/iat not in the future, and a jti is
#           accepted once ("assertion_replays" in stats counts refusals).
#   stats   "refresh_replays": refresh requests refused as reuse;
#           "refresh_grace_uses": rotated ones accepted in the grace period
#   GET /device (HTML form), GET /.well-known/oauth-authorization-server
# Fault semantics: hang/500/503/malformed/oversized/invalid_grant/
# invalid_client/slow_down/no_access_token/bad_token_type/html answer
# without touching state (no code consumed, no refresh token rotated);
# delay/negative_expires/huge_expires process the request normally
# (refresh tokens do rotate) and then answer (with expires_in changed).
# error_body answers {"status": N, "body": {...}} verbatim (a provider's
# own error JSON).  Log entries of form requests carry the requested
# "scope" (not a secret).
# slow_down only matches device-code polls and also adds 5 s to that
# device code's interval.  Default seconds: hang 120, delay 5.
# Deliberate strictness: PKCE "plain" is refused (S256 only); refresh
# tokens are never active at /introspect; revocation needs client
# authentication and refuses tokens of another client; the first device
# poll is never slow_down, later ones are when sooner than the interval;
# a client is refused (unauthorized_client) a grant type it is not
# registered for.
# Introspection (RFC 7662 2.1, "MUST require some form of authorization"):
# POST /introspect needs the credentials of a confidential client, by a
# method its registration allows (dovecot-client: client_secret_basic;
# Dovecot 2.3 sends them from the userinfo of introspection_url).  Without
# them, or with a public client, the answer is 401 invalid_client with
# WWW-Authenticate: Basic, and nothing about the token.
# Refresh-token reuse (OAuth 2.0 Security BCP, refresh token rotation, as
# oidc-provider does): presenting a refresh token that was already rotated
# away is invalid_grant AND revokes the whole grant, so the current refresh
# token and every access token of that grant stop working too.  A client
# that loses a rotated answer (a delay fault past its timeout, a state file
# restored from a copy) therefore needs a new authorization.

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_USER = "alice@example.test"
DEFAULT_SCOPE = "mail"
CODE_TTL = 60
MAX_BODY = 64 * 1024
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM_TYPE = "application/x-www-form-urlencoded"

ALL_GRANTS = frozenset({"authorization_code", "refresh_token",
                        "client_credentials", DEVICE_GRANT})

# Registered clients.  methods: which client authentication methods the
# registration allows ("basic", "post", or "none" for a public client).
# grants: the grant types it may use ("authorization_code" also covers
# /authorize, the device grant also /device_authorization).  introspect:
# whether it may call /introspect; only confidential clients may, since
# RFC 7662 2.1 requires the caller to be authorized.
CLIENTS = {
    "confidential-client": {"secret": "confidential-secret",
                            "methods": {"basic", "post"},
                            "grants": ALL_GRANTS, "introspect": True,
                            # A web redirect registered as a provider's
                            # portal would have it: exact match only.
                            "redirect_uris": (
                                "https://app.example.test/oauth2/callback",)},
    "basic-only-client": {"secret": "basic-only-secret",
                          "methods": {"basic"},
                          "grants": ALL_GRANTS, "introspect": True},
    "post-only-client": {"secret": "post-only-secret",
                         "methods": {"post"},
                         "grants": ALL_GRANTS, "introspect": True},
    "public-client": {"secret": None, "methods": {"none"},
                      "grants": ALL_GRANTS - {"client_credentials"},
                      "introspect": False},
    # Exercises RFC 6749 2.3.1: id and secret must be form-urlencoded
    # before base64 in client_secret_basic.
    "special:client": {"secret": "s3cr:t+with/%&=chars",
                       "methods": {"basic", "post"},
                       "grants": ALL_GRANTS, "introspect": True},
    # The resource server (Dovecot's oauth2 passdb): it only introspects.
    "dovecot-client": {"secret": "dovecot-secret", "methods": {"basic"},
                       "grants": frozenset(), "introspect": True},
}

FAULT_KINDS = {"hang", "delay", "500", "503", "malformed", "oversized",
               "invalid_grant", "invalid_client", "slow_down",
               "no_access_token", "bad_token_type", "negative_expires",
               "huge_expires", "html", "error_body"}

UNRESERVED_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
SCOPE_TOKEN_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"

STOP = threading.Event()


class Resp:
    """An HTTP answer: status, header list and body bytes."""

    def __init__(self, status, body=b"", ctype=None, headers=None):
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        if ctype:
            self.headers.insert(0, ("Content-Type", ctype))


def json_resp(status, obj, headers=None, no_store=True):
    hdrs = list(headers or [])
    if no_store:
        hdrs += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    return Resp(status, json.dumps(obj).encode(),
                "application/json;charset=UTF-8", hdrs)


def oauth_error(status, error, description):
    # error_description must stay within RFC 6749's character set: no
    # quotes or backslashes, printable ASCII only.
    obj = {"error": error, "error_description": description}
    hdrs = []
    if status == 401:
        hdrs.append(("WWW-Authenticate", 'Basic realm="oauth2-test"'))
    return json_resp(status, obj, hdrs)


def text_resp(status, text, ctype="text/plain;charset=UTF-8"):
    return Resp(status, text.encode(), ctype,
                [("Cache-Control", "no-store")])


class BadRequest(Exception):
    pass


def parse_form(body):
    """Parse an x-www-form-urlencoded body strictly.

    Repeated parameters are an error (RFC 6749 3.1/3.2); parameters sent
    without a value are treated as omitted.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not UTF-8")
    if text == "":
        return {}
    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True,
                                       strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("malformed form body")
    out = {}
    seen = set()
    for k, v in pairs:
        if k in seen:
            raise BadRequest("parameter %s repeated" % k)
        seen.add(k)
        if v != "":
            out[k] = v
    return out


def parse_query(query):
    if query == "":
        return {}
    return parse_form(query.encode())


def parse_scope(value):
    """Split a scope parameter; None when malformed (RFC 6749 3.3)."""
    parts = value.split(" ")
    for p in parts:
        if not SCOPE_TOKEN_RE.match(p):
            return None
    return parts


def loopback_redirect_ok(uri, allow_localhost=False):
    """RFC 8252 7.3: http on 127.0.0.1 or [::1], any port, no fragment;
    with allow_localhost also http://localhost (what Microsoft lets users
    register: any port)."""
    try:
        u = urllib.parse.urlsplit(uri)
        u.port  # raises on a bad port
    except ValueError:
        return False
    if u.scheme != "http" or u.fragment or "#" in uri:
        return False
    if u.username is not None or u.password is not None:
        return False
    if allow_localhost and u.hostname == "localhost":
        return True
    return u.hostname in ("127.0.0.1", "::1")


def add_query(uri, params):
    u = urllib.parse.urlsplit(uri)
    extra = urllib.parse.urlencode(params)
    q = u.query + "&" + extra if u.query else extra
    return urllib.parse.urlunsplit((u.scheme, u.netloc, u.path, q, ""))


def s256(verifier):
    d = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode("ascii")


def secret_eq(a, b):
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def b64url_decode(s):
    if not re.match(r"^[A-Za-z0-9_-]*$", s):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def ecdsa_raw_to_der(raw):
    """JWS ES256 R||S to the DER form openssl verifies."""
    body = der_int(raw[:32]) + der_int(raw[32:])
    return b"\x30" + bytes([len(body)]) + body


def jws_verify(jwt, pubkey_path):
    """(header, claims) of a compact JWS whose RS256/ES256 signature
    verifies with the PEM public key at pubkey_path; ValueError else."""
    parts = jwt.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header = json.loads(b64url_decode(parts[0]))
    claims = json.loads(b64url_decode(parts[1]))
    sig = b64url_decode(parts[2])
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("header or claims not an object")
    alg = header.get("alg")
    if alg == "ES256":
        if len(sig) != 64:
            raise ValueError("ES256 signature is not 64 bytes")
        sig = ecdsa_raw_to_der(sig)
    elif alg != "RS256":
        raise ValueError("alg %r not accepted" % alg)
    with tempfile.TemporaryDirectory() as d:
        sp = os.path.join(d, "sig")
        dp = os.path.join(d, "data")
        with open(sp, "wb") as f:
            f.write(sig)
        with open(dp, "wb") as f:
            f.write((parts[0] + "." + parts[1]).encode("ascii"))
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify",
                            pubkey_path, "-signature", sp, dp],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10)
    if r.returncode != 0:
        raise ValueError("signature does not verify")
    return header, claims


class State:
    """All server state, guarded by one lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.access_ttl = args.access_ttl
        self.refresh_grace = args.refresh_grace
        self.device_interval = args.device_interval
        self.device_expires = args.device_expires
        self.cc_user = args.client_mailbox
        self.code_ttl = args.code_ttl
        self.base_url = None
        self.rotate = True
        self.token_length = 0
        self.localhost_redirect = False
        self.metadata_issuer = ""
        self.deny_next_authorize = 0
        self.withhold_scope = set()
        self.faults = []
        self.codes = {}      # code -> dict
        self.grants = {}     # grant id -> dict
        self.access = {}     # token -> dict
        self.refresh = {}    # token -> dict
        self.devices = {}    # device_code -> dict
        self.user_codes = {}  # user_code -> device_code
        self.log_path = args.log
        self.log_lock = threading.Lock()
        self.service_accounts = dict(args.service_account)
        self.jtis = {}       # jti -> exp, for replay detection
        self.assertion_replays = 0
        self.last_assertion_header = None
        self.reset_counters()

    def reset_counters(self):
        self.stat_paths = {}
        self.stat_grants = {}
        self.stat_status = {}
        self.stat_total = 0
        self.stat_replays = 0
        self.stat_grace = 0

    # -- accounting ---------------------------------------------------
    def count(self, path, grant_type):
        with self.lock:
            self.stat_total += 1
            self.stat_paths[path] = self.stat_paths.get(path, 0) + 1
            if path == "/token":
                g = grant_type or "(none)"
                self.stat_grants[g] = self.stat_grants.get(g, 0) + 1

    def count_status(self, status):
        key = str(status) if status else "closed"
        with self.lock:
            self.stat_status[key] = self.stat_status.get(key, 0) + 1

    def stats(self):
        with self.lock:
            return {"requests": self.stat_total,
                    "paths": dict(self.stat_paths),
                    "grant_types": dict(self.stat_grants),
                    "status": dict(self.stat_status),
                    "refresh_replays": self.stat_replays,
                    "assertion_replays": self.assertion_replays,
                    "last_assertion_header": self.last_assertion_header,
                    "refresh_grace_uses": self.stat_grace}

    def log(self, entry):
        if not self.log_path:
            return
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.log_lock:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(line)

    def take_fault(self, path, is_device_poll):
        with self.lock:
            for f in self.faults:
                if f["path"] != path or f["count"] <= 0:
                    continue
                if f["kind"] == "slow_down" and not is_device_poll:
                    continue
                f["count"] -= 1
                fault = dict(f)
                self.faults = [x for x in self.faults if x["count"] > 0]
                return fault
        return None

    # -- tokens -------------------------------------------------------
    def new_grant(self, client_id, user, scope):
        gid = secrets.token_hex(8)
        self.grants[gid] = {"client_id": client_id, "user": user,
                            "scope": scope, "revoked": False}
        return gid

    def issue(self, gid, scope, with_refresh):
        """Issue tokens for grant gid; lock must be held."""
        g = self.grants[gid]
        now = time.time()
        at = "at-" + secrets.token_urlsafe(32)
        if self.token_length > len(at):
            # Real access tokens are 1-2.5 KB (JWTs): pad to that length.
            at += secrets.token_urlsafe(self.token_length)[:self.token_length
                                                            - len(at)]
        self.access[at] = {"grant": gid, "client_id": g["client_id"],
                           "user": g["user"], "scope": scope,
                           "iat": int(now), "exp": now + self.access_ttl,
                           "revoked": False}
        out = {"access_token": at, "token_type": "Bearer",
               "expires_in": int(self.access_ttl), "scope": scope}
        if with_refresh:
            rt = "rt-" + secrets.token_urlsafe(32)
            self.refresh[rt] = {"grant": gid, "client_id": g["client_id"],
                                "active": True, "rotated": False}
            out["refresh_token"] = rt
        return out

    def access_active(self, tok):
        """Return the access-token record when active; lock held."""
        a = self.access.get(tok)
        if a is None or a["revoked"]:
            return None
        if self.grants[a["grant"]]["revoked"]:
            return None
        if time.time() >= a["exp"]:
            return None
        return a

    def refresh_active(self, tok):
        r = self.refresh.get(tok)
        if r is None or not r["active"]:
            return None
        if self.grants[r["grant"]]["revoked"]:
            return None
        return r


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oauth2-test/1"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    # -- plumbing -----------------------------------------------------
    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def read_body(self):
        te = self.headers.get("Transfer-Encoding")
        if te and te.lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                           b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline(16)
                if len(data) > MAX_BODY:
                    raise OverflowError()
        n = self.headers.get("Content-Length")
        if n is None:
            return b""
        n = int(n)
        if n < 0 or n > MAX_BODY:
            raise OverflowError()
        return self.rfile.read(n)

    def send(self, r):
        self.send_response(r.status)
        for k, v in r.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(r.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(r.body)

    def dispatch(self, method):
        st = self.server.state
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        self.query = split.query
        self.form = None
        form_err = None
        grant_type = None
        client_id = None
        try:
            self.body = self.read_body()
        except (OverflowError, ValueError):
            self.close_connection = True
            r = text_resp(413, "request body too large or malformed\n")
            st.count(path, None)
            self.finish_request(r, method, path, None, None, None)
            return
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        ctype = ctype.strip().lower()
        if method == "POST" and ctype == FORM_TYPE:
            try:
                self.form = parse_form(self.body)
            except BadRequest as e:
                form_err = str(e)
        if self.form is not None:
            grant_type = self.form.get("grant_type")
            client_id = self.form.get("client_id")
        elif method == "GET" and path == "/authorize":
            try:
                client_id = parse_query(self.query).get("client_id")
            except BadRequest:
                pass
        if client_id is None:
            basic = self.basic_credentials()
            if isinstance(basic, tuple):
                client_id = basic[0]
        st.count(path, grant_type)
        fault = st.take_fault(path, path == "/token" and
                              grant_type == DEVICE_GRANT)
        fault_kind = fault["kind"] if fault else None
        r = None
        if fault:
            r = self.apply_fault(fault)
            if r == "hang":
                self.close_connection = True
                st.count_status(0)
                st.log({"time": round(time.time(), 3), "method": method,
                        "path": path, "grant_type": grant_type,
                        "client_id": client_id, "status": 0,
                        "fault": fault_kind})
                return
        if r is None:
            try:
                r = self.route(method, path, ctype, form_err)
            except Exception:  # a bug here must not look like a hang
                traceback.print_exc()
                r = oauth_error(500, "server_error", "internal error")
            if fault_kind in ("negative_expires", "huge_expires") and \
                    r.status == 200 and path == "/token":
                obj = json.loads(r.body)
                obj["expires_in"] = -5 if fault_kind == "negative_expires" \
                    else 10 ** 12
                r = json_resp(200, obj)
        self.finish_request(r, method, path, grant_type, client_id,
                            fault_kind)

    def finish_request(self, r, method, path, grant_type, client_id, fault):
        st = self.server.state
        try:
            self.send(r)
        finally:
            st.count_status(r.status)
            entry = {"time": round(time.time(), 3), "method": method,
                     "path": path, "grant_type": grant_type,
                     "client_id": client_id, "status": r.status}
            if self.form is not None and "scope" in self.form:
                entry["scope"] = self.form.get("scope")
            elif method == "GET" and path == "/authorize":
                try:
                    q = parse_query(self.query)
                    if "scope" in q:
                        entry["scope"] = q["scope"]
                except BadRequest:
                    pass
            if fault:
                entry["fault"] = fault
            st.log(entry)

    def apply_fault(self, f):
        """Answer for fault f; None means process the request normally."""
        kind = f["kind"]
        st = self.server.state
        if kind == "hang":
            STOP.wait(f.get("seconds", 120))
            return "hang"
        if kind == "delay":
            STOP.wait(f.get("seconds", 5))
            return None
        if kind in ("negative_expires", "huge_expires"):
            return None
        if kind in ("500", "503"):
            title = {"500": "500 Internal Server Error",
                     "503": "503 Service Unavailable"}[kind]
            hdrs = [("Retry-After", "1")] if kind == "503" else []
            return Resp(int(kind),
                        ("<html><body><h1>%s</h1></body></html>\n"
                         % title).encode(), "text/html", hdrs)
        if kind == "malformed":
            return Resp(200, b'{"access_token": "at-broken", "token_type": '
                        b'"Bearer", "expires_in": 36',
                        "application/json;charset=UTF-8",
                        [("Cache-Control", "no-store")])
        if kind == "oversized":
            body = json.dumps({"access_token": "at-" + "x" * (2560 * 1024),
                               "token_type": "Bearer",
                               "expires_in": 3600}).encode()
            return Resp(200, body, "application/json;charset=UTF-8",
                        [("Cache-Control", "no-store")])
        if kind == "invalid_grant":
            return oauth_error(400, "invalid_grant", "injected fault")
        if kind == "invalid_client":
            return oauth_error(401, "invalid_client", "injected fault")
        if kind == "slow_down":
            dc = self.form.get("device_code") if self.form else None
            with st.lock:
                d = st.devices.get(dc) if dc else None
                if d is not None and d["status"] == "pending":
                    d["interval"] += 5
                    d["last_poll"] = time.time()
            return oauth_error(400, "slow_down", "injected fault")
        if kind == "no_access_token":
            return json_resp(200, {"token_type": "Bearer",
                                   "expires_in": int(st.access_ttl)})
        if kind == "bad_token_type":
            return json_resp(200, {"access_token": "at-" +
                                   secrets.token_urlsafe(32),
                                   "token_type": "mac",
                                   "expires_in": int(st.access_ttl)})
        if kind == "error_body":
            # A provider's own error answer, verbatim (AADSTS codes,
            # Google's invalid_grant descriptions), without touching state.
            return json_resp(f.get("status", 400), f.get("body", {}))
        if kind == "html":
            return Resp(200, b"<html><body><p>Please sign in</p>"
                        b"</body></html>\n", "text/html;charset=UTF-8")
        return None

    # -- routing ------------------------------------------------------
    ROUTES = {
        "/authorize": ("GET", "authorize"),
        "/token": ("POST", "token"),
        "/device_authorization": ("POST", "device_authorization"),
        "/device": ("GET", "device_page"),
        "/device/approve": ("POST", "device_approve"),
        "/device/deny": ("POST", "device_deny"),
        "/introspect": ("POST", "introspect"),
        "/revoke": ("POST", "revoke"),
        "/stats": ("GET", "stats"),
        "/control": ("POST", "control"),
        "/.well-known/oauth-authorization-server": ("GET", "metadata"),
    }
    FORM_ENDPOINTS = {"token", "device_authorization", "device_approve",
                      "device_deny", "introspect", "revoke"}

    def route(self, method, path, ctype, form_err):
        if path not in self.ROUTES:
            return json_resp(404, {"error": "not_found"}, no_store=False)
        want, name = self.ROUTES[path]
        if method != want:
            r = oauth_error(405, "invalid_request",
                            "method %s not allowed, use %s" % (method, want))
            r.headers.append(("Allow", want))
            return r
        if name in self.FORM_ENDPOINTS:
            if ctype != FORM_TYPE:
                return oauth_error(400, "invalid_request",
                                   "Content-Type must be " + FORM_TYPE)
            if form_err:
                return oauth_error(400, "invalid_request", form_err)
        return getattr(self, "ep_" + name)()

    def basic_credentials(self):
        """(id, secret) from Authorization: Basic, None when absent,
        or an error string."""
        vals = self.headers.get_all("Authorization") or []
        if not vals:
            return None
        if len(vals) > 1:
            return "multiple Authorization headers"
        scheme, _, cred = vals[0].strip().partition(" ")
        if scheme.lower() != "basic":
            return "unsupported authentication scheme"
        try:
            raw = base64.b64decode(cred.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return "malformed Basic credentials"
        cid, sep, sec = raw.partition(":")
        if not sep:
            return "malformed Basic credentials"
        try:
            cid = urllib.parse.unquote_plus(cid, errors="strict")
            sec = urllib.parse.unquote_plus(sec, errors="strict")
        except UnicodeDecodeError:
            return "malformed Basic credentials"
        return (cid, sec)

    def check_assertion(self, jwt, pubkey, iss, sub):
        """RFC 7523 3: the claims of a valid assertion, or a reason.
        sub None means any (the jwt-bearer grant's mailbox)."""
        st = self.server.state
        try:
            header, claims = jws_verify(jwt, pubkey)
        except (ValueError, json.JSONDecodeError, UnicodeDecodeError,
                subprocess.SubprocessError) as e:
            return None, "assertion: %s" % e
        now = time.time()
        if claims.get("iss") != iss:
            return None, "assertion: wrong iss"
        if sub is not None and claims.get("sub") != sub:
            return None, "assertion: sub must be the client_id"
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            return None, "assertion: no sub"
        if claims.get("aud") != st.base_url + "/token":
            return None, "assertion: aud must be the token endpoint"
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= now or exp > now + 600:
            return None, "assertion: exp missing, past or too far ahead"
        for k in ("nbf", "iat"):
            v = claims.get(k)
            if v is not None and (not isinstance(v, int) or v > now + 60):
                return None, "assertion: %s in the future" % k
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            return None, "assertion: no jti"
        with st.lock:
            for j in [j for j, e in st.jtis.items() if e < now]:
                del st.jtis[j]
            if jti in st.jtis:
                st.assertion_replays += 1
                return None, "assertion: jti replayed"
            st.jtis[jti] = exp
            st.last_assertion_header = header
        return claims, None

    def authenticate_client(self):
        """RFC 6749 2.3: returns (client_id, None) or (None, Resp)."""
        form = self.form
        if form.get("client_assertion_type") is not None or \
                form.get("client_assertion") is not None:
            return self.authenticate_assertion()
        body_id = form.get("client_id")
        body_secret = form.get("client_secret")
        basic = self.basic_credentials()
        bad = (None, oauth_error(401, "invalid_client",
                                 "client authentication failed"))
        if basic is not None:
            if isinstance(basic, str):
                if basic == "multiple Authorization headers":
                    return None, oauth_error(400, "invalid_request", basic)
                return None, oauth_error(401, "invalid_client", basic)
            if body_secret is not None:
                return None, oauth_error(
                    400, "invalid_request",
                    "more than one client authentication method used")
            cid, sec = basic
            if body_id is not None and body_id != cid:
                return None, oauth_error(400, "invalid_request",
                                         "client_id does not match the "
                                         "authenticated client")
            c = CLIENTS.get(cid)
            if c is None or "basic" not in c["methods"] or \
                    not secret_eq(sec, c["secret"]):
                return bad
            return cid, None
        if body_secret is not None:
            if body_id is None:
                return bad
            c = CLIENTS.get(body_id)
            if c is None or "post" not in c["methods"] or \
                    not secret_eq(body_secret, c["secret"]):
                return bad
            return body_id, None
        if body_id is None:
            return None, oauth_error(401, "invalid_client",
                                     "no client authentication")
        c = CLIENTS.get(body_id)
        if c is None or "none" not in c["methods"]:
            return bad
        return body_id, None

    def authenticate_assertion(self):
        """RFC 7523 2.2 client authentication (private_key_jwt)."""
        form = self.form
        bad = (None, oauth_error(401, "invalid_client",
                                 "client authentication failed"))
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return None, oauth_error(400, "invalid_request",
                                     "unsupported client_assertion_type")
        if form.get("client_secret") is not None or \
                self.headers.get("Authorization"):
            return None, oauth_error(
                400, "invalid_request",
                "more than one client authentication method used")
        jwt = form.get("client_assertion") or ""
        try:
            claims = json.loads(b64url_decode(jwt.split(".")[1]))
            cid = claims.get("sub") if isinstance(claims, dict) else None
        except (ValueError, IndexError, json.JSONDecodeError,
                UnicodeDecodeError):
            cid = None
        c = CLIENTS.get(cid) if isinstance(cid, str) else None
        if c is None or "private_key_jwt" not in c["methods"]:
            return bad
        body_id = form.get("client_id")
        if body_id is not None and body_id != cid:
            return None, oauth_error(400, "invalid_request",
                                     "client_id does not match the "
                                     "assertion")
        _, why = self.check_assertion(jwt, c["key"], cid, cid)
        if why:
            return None, oauth_error(401, "invalid_client", why)
        return cid, None

    # -- /authorize -----------------------------------------------------
    def ep_authorize(self):
        st = self.server.state
        try:
            q = parse_query(self.query)
        except BadRequest as e:
            return text_resp(400, "invalid request: %s\n" % e)
        cid = q.get("client_id")
        if cid is None or cid not in CLIENTS:
            return text_resp(400, "invalid request: unknown client_id\n")
        ruri = q.get("redirect_uri")
        if ruri is None or not (
                loopback_redirect_ok(ruri, st.localhost_redirect) or
                ruri in CLIENTS[cid].get("redirect_uris", ())):
            return text_resp(400, "invalid request: redirect_uri must be a "
                             "loopback http URI (RFC 8252) or one "
                             "registered for the client\n")
        state = q.get("state")

        def redirect_error(error, desc):
            p = {"error": error, "error_description": desc}
            if state is not None:
                p["state"] = state
            return Resp(302, b"", None, [("Location", add_query(ruri, p)),
                                          ("Cache-Control", "no-store")])

        if q.get("response_type") != "code":
            return redirect_error("unsupported_response_type",
                                  "only response_type=code is supported")
        if "authorization_code" not in CLIENTS[cid]["grants"]:
            return redirect_error("unauthorized_client",
                                  "client is not registered for the "
                                  "authorization code grant")
        chal = q.get("code_challenge")
        meth = q.get("code_challenge_method")
        public = CLIENTS[cid]["secret"] is None
        if chal is None:
            if meth is not None:
                return redirect_error("invalid_request",
                                      "code_challenge_method without "
                                      "code_challenge")
            if public:
                return redirect_error("invalid_request",
                                      "PKCE code_challenge required for "
                                      "public clients")
        else:
            if meth != "S256":
                return redirect_error("invalid_request",
                                      "transform algorithm not supported, "
                                      "use S256")
            if not UNRESERVED_RE.match(chal) or len(chal) != 43:
                return redirect_error("invalid_request",
                                      "malformed code_challenge")
        scope = q.get("scope", DEFAULT_SCOPE)
        if parse_scope(scope) is None:
            return redirect_error("invalid_scope", "malformed scope")
        with st.lock:
            deny = st.deny_next_authorize > 0
            if deny:
                st.deny_next_authorize -= 1
            if not deny:
                # The user may grant less than was asked (RFC 6749 3.3).
                granted = " ".join(p for p in scope.split(" ")
                                   if p not in st.withhold_scope) or scope
                code = "ac-" + secrets.token_urlsafe(32)
                st.codes[code] = {"client_id": cid, "redirect_uri": ruri,
                                  "challenge": chal, "scope": granted,
                                  "user": q.get("login_hint", DEFAULT_USER),
                                  "exp": time.time() + st.code_ttl,
                                  "used": False, "grant": None}
        if deny:
            return redirect_error("access_denied",
                                  "the resource owner denied the request")
        p = {"code": code}
        if state is not None:
            p["state"] = state
        return Resp(302, b"", None, [("Location", add_query(ruri, p)),
                                      ("Cache-Control", "no-store")])

    # -- /token ---------------------------------------------------------
    def ep_token(self):
        gt = self.form.get("grant_type")
        if gt is None:
            return oauth_error(400, "invalid_request", "missing grant_type")
        if gt == JWT_GRANT:
            return self.grant_jwt_bearer()
        handlers = {"authorization_code": self.grant_code,
                    "refresh_token": self.grant_refresh,
                    "client_credentials": self.grant_client_credentials,
                    DEVICE_GRANT: self.grant_device}
        h = handlers.get(gt)
        if h is None:
            return oauth_error(400, "unsupported_grant_type",
                               "grant_type not supported")
        cid, err = self.authenticate_client()
        if err:
            return err
        if gt not in CLIENTS[cid]["grants"]:
            return oauth_error(400, "unauthorized_client",
                               "client is not registered for this "
                               "grant_type")
        return h(cid)

    def grant_code(self, cid):
        st = self.server.state
        code = self.form.get("code")
        if code is None:
            return oauth_error(400, "invalid_request", "missing code")
        ver = self.form.get("code_verifier")
        if ver is not None and not UNRESERVED_RE.match(ver):
            return oauth_error(400, "invalid_request",
                               "malformed code_verifier")
        ruri = self.form.get("redirect_uri")
        with st.lock:
            c = st.codes.get(code)
            if c is None:
                return oauth_error(400, "invalid_grant",
                                   "unknown authorization code")
            if c["client_id"] != cid:
                return oauth_error(400, "invalid_grant",
                                   "code was issued to another client")
            if c["used"]:
                # RFC 6749 4.1.2: a reused code revokes what it produced.
                if c["grant"] is not None:
                    st.grants[c["grant"]]["revoked"] = True
                return oauth_error(400, "invalid_grant",
                                   "authorization code already used")
            c["used"] = True
            if time.time() >= c["exp"]:
                return oauth_error(400, "invalid_grant",
                                   "authorization code expired")
            if ruri != c["redirect_uri"]:
                return oauth_error(400, "invalid_grant",
                                   "redirect_uri does not match the "
                                   "authorization request")
            if c["challenge"] is not None:
                if ver is None:
                    return oauth_error(400, "invalid_grant",
                                       "missing code_verifier")
                if not hmac.compare_digest(s256(ver), c["challenge"]):
                    return oauth_error(400, "invalid_grant",
                                       "PKCE verification failed")
            elif ver is not None:
                return oauth_error(400, "invalid_grant",
                                   "code_verifier sent but no "
                                   "code_challenge was used")
            gid = st.new_grant(cid, c["user"], c["scope"])
            c["grant"] = gid
            out = st.issue(gid, c["scope"], True)
        return json_resp(200, out)

    def grant_refresh(self, cid):
        st = self.server.state
        rt = self.form.get("refresh_token")
        if rt is None:
            return oauth_error(400, "invalid_request",
                               "missing refresh_token")
        req_scope = self.form.get("scope")
        with st.lock:
            old = st.refresh.get(rt)
            if old is not None and old["client_id"] == cid and \
                    old["rotated"] and \
                    not st.grants[old["grant"]]["revoked"] and \
                    time.time() - old["rotated_at"] <= st.refresh_grace:
                # --refresh-grace: like Microsoft's, a rotated refresh
                # token stays usable for a while; it is answered as if
                # current (the grant's newest refresh tokens stay valid).
                st.stat_grace += 1
                out = st.issue(old["grant"], st.grants[old["grant"]]["scope"],
                               st.rotate)
                return json_resp(200, out)
            if old is not None and old["client_id"] == cid and \
                    old["rotated"] and \
                    not st.grants[old["grant"]]["revoked"]:
                # Reuse of a rotated refresh token: either the client lost
                # the answer or someone else holds a copy.  The server
                # cannot tell which, so the whole grant goes (Security
                # BCP, refresh token rotation).
                st.grants[old["grant"]]["revoked"] = True
                st.stat_replays += 1
                return oauth_error(400, "invalid_grant",
                                   "refresh token was already used; the "
                                   "grant is revoked")
            r = st.refresh_active(rt)
            if r is None or r["client_id"] != cid:
                return oauth_error(400, "invalid_grant",
                                   "refresh token is invalid, expired "
                                   "or revoked")
            g = st.grants[r["grant"]]
            scope = g["scope"]
            if req_scope is not None:
                want = parse_scope(req_scope)
                if want is None or not set(want) <= set(scope.split(" ")):
                    return oauth_error(400, "invalid_scope",
                                       "requested scope exceeds the "
                                       "original grant")
                scope = req_scope
            out = st.issue(r["grant"], scope, st.rotate)
            if st.rotate:
                r["active"] = False
                r["rotated"] = True
                r["rotated_at"] = time.time()
        return json_resp(200, out)

    def grant_client_credentials(self, cid):
        st = self.server.state
        scope = self.form.get("scope", DEFAULT_SCOPE)
        if parse_scope(scope) is None:
            return oauth_error(400, "invalid_scope", "malformed scope")
        with st.lock:
            gid = st.new_grant(cid, st.cc_user, scope)
            out = st.issue(gid, scope, False)
        return json_resp(200, out)

    def grant_jwt_bearer(self):
        """RFC 7523 2.1: an access token for the assertion's sub."""
        st = self.server.state
        jwt = self.form.get("assertion")
        if not jwt:
            return oauth_error(400, "invalid_request", "missing assertion")
        try:
            claims = json.loads(b64url_decode(jwt.split(".")[1]))
            iss = claims.get("iss") if isinstance(claims, dict) else None
        except (ValueError, IndexError, json.JSONDecodeError,
                UnicodeDecodeError):
            iss = None
        key = st.service_accounts.get(iss) if isinstance(iss, str) else None
        if key is None:
            return oauth_error(400, "invalid_grant",
                               "assertion: unknown issuer")
        claims, why = self.check_assertion(jwt, key, iss, None)
        if why:
            return oauth_error(400, "invalid_grant", why)
        scope = claims.get("scope") or self.form.get("scope") or DEFAULT_SCOPE
        if not isinstance(scope, str) or parse_scope(scope) is None:
            return oauth_error(400, "invalid_scope", "malformed scope")
        with st.lock:
            gid = st.new_grant(iss, claims["sub"], scope)
            out = st.issue(gid, scope, False)
        return json_resp(200, out)

    def grant_device(self, cid):
        st = self.server.state
        dc = self.form.get("device_code")
        if dc is None:
            return oauth_error(400, "invalid_request", "missing device_code")
        now = time.time()
        with st.lock:
            d = st.devices.get(dc)
            if d is None or d["client_id"] != cid or d["status"] == "used":
                return oauth_error(400, "invalid_grant",
                                   "unknown device_code")
            if now >= d["exp"]:
                return oauth_error(400, "expired_token",
                                   "the device_code has expired")
            if d["status"] == "denied":
                return oauth_error(400, "access_denied",
                                   "the user denied the request")
            if d["status"] == "pending":
                last = d["last_poll"]
                d["last_poll"] = now
                if last is not None and now - last < d["interval"] - 0.05:
                    # RFC 8628 3.5: +5 s for this and all later polls.
                    d["interval"] += 5
                    return oauth_error(400, "slow_down",
                                       "polling too fast")
                return oauth_error(400, "authorization_pending",
                                   "the user has not answered yet")
            d["status"] = "used"
            gid = st.new_grant(cid, d["user"], d["scope"])
            out = st.issue(gid, d["scope"], True)
        return json_resp(200, out)

    # -- device flow ----------------------------------------------------
    def ep_device_authorization(self):
        st = self.server.state
        cid, err = self.authenticate_client()
        if err:
            return err
        if DEVICE_GRANT not in CLIENTS[cid]["grants"]:
            return oauth_error(400, "unauthorized_client",
                               "client is not registered for the device "
                               "grant")
        scope = self.form.get("scope", DEFAULT_SCOPE)
        if parse_scope(scope) is None:
            return oauth_error(400, "invalid_scope", "malformed scope")
        with st.lock:
            while True:
                raw = "".join(secrets.choice(USER_CODE_ALPHABET)
                              for _ in range(8))
                uc = raw[:4] + "-" + raw[4:]
                if uc not in st.user_codes:
                    break
            dc = "dc-" + secrets.token_urlsafe(32)
            st.devices[dc] = {"client_id": cid, "user_code": uc,
                              "scope": scope, "status": "pending",
                              "exp": time.time() + st.device_expires,
                              "interval": st.device_interval,
                              "last_poll": None, "user": DEFAULT_USER}
            st.user_codes[uc] = dc
            vuri = st.base_url + "/device"
            out = {"device_code": dc, "user_code": uc,
                   "verification_uri": vuri,
                   "verification_uri_complete":
                       vuri + "?" + urllib.parse.urlencode({"user_code": uc}),
                   "expires_in": int(st.device_expires),
                   "interval": int(st.device_interval)}
        return json_resp(200, out)

    def device_answer(self, approve):
        st = self.server.state
        uc = (self.form.get("user_code") or "").upper().replace("-", "")
        uc = uc[:4] + "-" + uc[4:]
        with st.lock:
            dc = st.user_codes.get(uc)
            d = st.devices.get(dc) if dc else None
            if d is None:
                return text_resp(400, "unknown user_code\n")
            if time.time() >= d["exp"]:
                return text_resp(400, "user_code expired\n")
            if d["status"] != "pending":
                return text_resp(400, "user_code already answered\n")
            if approve:
                d["status"] = "approved"
                d["user"] = self.form.get("user", DEFAULT_USER)
            else:
                d["status"] = "denied"
        return text_resp(200, "approved\n" if approve else "denied\n")

    def ep_device_approve(self):
        return self.device_answer(True)

    def ep_device_deny(self):
        return self.device_answer(False)

    def ep_device_page(self):
        try:
            uc = parse_query(self.query).get("user_code", "")
        except BadRequest:
            uc = ""
        uc = re.sub(r"[^A-Za-z-]", "", uc)[:16]
        page = ("<!DOCTYPE html><html><head><title>Device login</title>"
                "</head><body><h1>Connect a device</h1>"
                "<form method='post' action='/device/approve'>"
                "<label>Code <input name='user_code' value='%s'></label> "
                "<label>User <input name='user' value='%s'></label> "
                "<button>Approve</button></form>"
                "<form method='post' action='/device/deny'>"
                "<input type='hidden' name='user_code' value='%s'>"
                "<button>Deny</button></form></body></html>\n"
                % (uc, DEFAULT_USER, uc))
        return text_resp(200, page, "text/html;charset=UTF-8")

    # -- introspection and revocation -------------------------------------
    def ep_introspect(self):
        st = self.server.state
        # RFC 7662 2.1: the caller must be authorized, and a refused one
        # learns nothing about the token (RFC 7662 2.3: 401).
        cid, err = self.authenticate_client()
        if err:
            return err
        if not CLIENTS[cid]["introspect"]:
            return oauth_error(401, "invalid_client",
                               "client authentication required for "
                               "introspection")
        tok = self.form.get("token")
        if tok is None:
            return oauth_error(400, "invalid_request", "missing token")
        with st.lock:
            # Only access tokens are bearer credentials for a resource
            # server: a refresh token presented here is inactive.
            a = st.access_active(tok)
            if a is None:
                return json_resp(200, {"active": False})
            out = {"active": True, "username": a["user"], "sub": a["user"],
                   "scope": a["scope"], "client_id": a["client_id"],
                   "exp": int(a["exp"]), "iat": a["iat"],
                   "token_type": "Bearer"}
        return json_resp(200, out)

    def ep_revoke(self):
        st = self.server.state
        cid, err = self.authenticate_client()
        if err:
            return err
        tok = self.form.get("token")
        if tok is None:
            return oauth_error(400, "invalid_request", "missing token")
        with st.lock:
            a = st.access.get(tok)
            r = st.refresh.get(tok)
            rec = a or r
            if rec is not None and rec["client_id"] != cid:
                return oauth_error(400, "invalid_request",
                                   "token was not issued to this client")
            if a is not None:
                a["revoked"] = True
            if r is not None:
                # RFC 7009 2.1: the access tokens of the same grant go too.
                r["active"] = False
                st.grants[r["grant"]]["revoked"] = True
        return Resp(200, b"", None, [("Cache-Control", "no-store"),
                                      ("Pragma", "no-cache")])

    # -- test hooks -------------------------------------------------------
    def ep_stats(self):
        return json_resp(200, self.server.state.stats())

    def ep_control(self):
        st = self.server.state
        try:
            req = json.loads(self.body.decode("utf-8"))
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            return json_resp(400, {"error": "body must be a JSON object"})
        err = self.apply_control(st, req)
        if err:
            return json_resp(400, {"error": err})
        return json_resp(200, {"ok": True})

    @staticmethod
    def apply_control(st, req):
        num = (int, float)
        known = {"fault", "access_ttl", "rotate", "authorize", "revoke_all",
                 "expire_access_tokens", "reset", "device_interval",
                 "device_expires", "client_mailbox", "withhold_scope",
                 "token_length", "localhost_redirect", "metadata_issuer"}
        for k in req:
            if k not in known:
                return "unknown control key %s" % k
        faults = req.get("fault")
        if faults is not None:
            if isinstance(faults, dict):
                faults = [faults]
            if not isinstance(faults, list):
                return "fault must be an object or a list"
            parsed = []
            for f in faults:
                if not isinstance(f, dict):
                    return "fault must be an object"
                kind = str(f.get("kind"))
                if kind not in FAULT_KINDS:
                    return "unknown fault kind %s" % kind
                nf = {"path": f.get("path", "/token"), "kind": kind,
                      "count": f.get("count", 1)}
                if "seconds" in f:
                    if not isinstance(f["seconds"], num):
                        return "seconds must be a number"
                    nf["seconds"] = f["seconds"]
                if kind == "error_body":
                    if not isinstance(f.get("body"), dict) or \
                            not isinstance(f.get("status", 400), int):
                        return "error_body needs a body object and an integer status"
                    nf["body"] = f["body"]
                    nf["status"] = f.get("status", 400)
                if not isinstance(nf["count"], int) or \
                        not isinstance(nf["path"], str):
                    return "bad fault count or path"
                parsed.append(nf)
        if "token_length" in req and (not isinstance(req["token_length"], int)
                                      or not 0 <= req["token_length"] <= 8192):
            return "token_length must be an integer from 0 to 8192"
        for k in ("access_ttl", "device_interval", "device_expires"):
            if k in req and (not isinstance(req[k], num) or req[k] < 0):
                return "%s must be a non-negative number" % k
        if "authorize" in req and req["authorize"] not in ("deny", "allow"):
            return "authorize must be deny or allow"
        if "withhold_scope" in req and not isinstance(req["withhold_scope"], str):
            return "withhold_scope must be a string of space-separated scopes"
        with st.lock:
            if req.get("reset"):
                st.faults = []
                st.deny_next_authorize = 0
                st.withhold_scope = set()
                st.reset_counters()
            if faults is not None:
                st.faults.extend(parsed)
            if "access_ttl" in req:
                st.access_ttl = req["access_ttl"]
            if "device_interval" in req:
                st.device_interval = req["device_interval"]
            if "device_expires" in req:
                st.device_expires = req["device_expires"]
            if "token_length" in req:
                st.token_length = req["token_length"]
            if "metadata_issuer" in req:
                st.metadata_issuer = str(req["metadata_issuer"] or "")
            if "localhost_redirect" in req:
                st.localhost_redirect = bool(req["localhost_redirect"])
            if "withhold_scope" in req:
                st.withhold_scope = set(req["withhold_scope"].split())
            if "client_mailbox" in req:
                st.cc_user = str(req["client_mailbox"])
            if "rotate" in req:
                st.rotate = bool(req["rotate"])
            if req.get("authorize") == "deny":
                st.deny_next_authorize += 1
            elif req.get("authorize") == "allow":
                st.deny_next_authorize = 0
            if req.get("revoke_all"):
                for g in st.grants.values():
                    g["revoked"] = True
                for c in st.codes.values():
                    c["used"] = True
            if req.get("expire_access_tokens"):
                for a in st.access.values():
                    a["exp"] = min(a["exp"], time.time() - 1)
        return None

    def ep_metadata(self):
        base = self.server.state.base_url
        return json_resp(200, {
            "issuer": self.server.state.metadata_issuer or base,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "device_authorization_endpoint": base + "/device_authorization",
            "revocation_endpoint": base + "/revoke",
            "introspection_endpoint": base + "/introspect",
            "introspection_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token",
                                      "client_credentials", DEVICE_GRANT,
                                      JWT_GRANT],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none",
                 "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported":
                ["RS256", "ES256"],
        }, no_store=False)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="test OAuth2 server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--access-ttl", type=float, default=3600)
    ap.add_argument("--device-interval", type=float, default=5)
    ap.add_argument("--device-expires", type=float, default=600)
    ap.add_argument("--client-mailbox", default=DEFAULT_USER)
    ap.add_argument("--code-ttl", type=float, default=CODE_TTL)
    ap.add_argument("--max-seconds", type=float, default=1800)
    ap.add_argument("--jwt-client", action="append", default=[],
                    type=lambda v: v.split("=", 1), metavar="ID=PUB.pem")
    ap.add_argument("--service-account", action="append", default=[],
                    type=lambda v: v.split("=", 1), metavar="ISS=PUB.pem")
    ap.add_argument("--refresh-grace", type=float, default=0)
    args = ap.parse_args()
    for cid, key in args.jwt_client:
        CLIENTS[cid] = {"secret": None, "methods": {"private_key_jwt"},
                        "grants": ALL_GRANTS, "introspect": False,
                        "key": key}

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args)
    port = srv.server_address[1]
    srv.state.base_url = "http://127.0.0.1:%d" % port

    def stop(*_):
        STOP.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # Python runs signal handlers in the main thread only.  A SIGTERM the
    # kernel hands to a server thread would just mark the handler pending
    # while the main thread sleeps in STOP.wait, and the server would keep
    # answering: block the signals in every thread but this one (threads
    # inherit the mask of the thread that starts them).
    stop_sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_sigs)
    t = threading.Thread(target=srv.serve_forever, kwargs={
                         "poll_interval": 0.2}, daemon=True)
    t.start()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_sigs)

    tmp = "%s.%d.tmp" % (args.port_file, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, args.port_file)

    # Short waits: a pending handler runs at the next wake-up at the latest.
    deadline = time.monotonic() + args.max_seconds
    while not STOP.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        STOP.wait(min(left, 0.5))
    STOP.set()
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
