#!/usr/bin/env python3
"""A tiny token server for docker-registry's `auth.token` (the Docker registry token protocol), stdlib only.

    token_server.py --listen 127.0.0.1:5601 --key token.key --issuer ISSUER --service SERVICE
                    [--user USER:PASS ...] [--anonymous-pull] [--expires-in 300] [--log FILE]

GET /token?service=S&scope=repository:NAME:pull,push[&scope=...] (HTTP basic auth or none) answers
    {"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": T}
POST /token (OAuth2 form: grant_type=password with username/password, service, scope) answers the same JSON.

Policy:
  - right user and password: every action asked for is granted (on repositories; registry:catalog:* too);
  - wrong user or password: 401 with `WWW-Authenticate: Basic realm="skiff-test-token"` and no token;
  - no credentials: a token that grants nothing (the registry then answers 401 insufficient_scope), or with
    --anonymous-pull a token that grants `pull` only (like Docker Hub's public repositories).

The JWT is RS256-signed with the RSA key --key (PEM, e.g. from `openssl req -x509 -newkey rsa:2048 ...`); its header
names the key by its libtrust key ID (`kid`), which docker-registry matches against the certificate of that key
listed in its `rootcertbundle`. RSA signing is done here with Python integers; `openssl` is only run once at start
to read the key.
"""

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# DER prefix of DigestInfo for SHA-256 (RFC 8017, EMSA-PKCS1-v1_5).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class RsaKey:
    def __init__(self, path):
        text = subprocess.run(
            ["openssl", "rsa", "-in", path, "-noout", "-text"], check=True, capture_output=True, text=True
        ).stdout
        self.n = self._field(text, "modulus")
        self.d = self._field(text, "privateExponent")
        self.size = (self.n.bit_length() + 7) // 8
        spki = subprocess.run(
            ["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], check=True, capture_output=True
        ).stdout
        self.kid = libtrust_key_id(spki)

    @staticmethod
    def _field(text, name):
        m = re.search(r"^" + name + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text, re.M)
        if not m:
            raise SystemExit(f"token_server: cannot read {name} of the RSA key")
        return int(re.sub(r"[\s:]", "", m.group(1)), 16)

    def sign(self, message):
        digest_info = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        padded = b"\x00\x01" + b"\xff" * (self.size - len(digest_info) - 3) + b"\x00" + digest_info
        return pow(int.from_bytes(padded, "big"), self.d, self.n).to_bytes(self.size, "big")


def libtrust_key_id(spki_der):
    """docker/libtrust's key ID: base32 of the first 240 bits of sha256(SPKI DER), in groups of 4 joined by ':'."""
    b32 = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def parse_scope(scope):
    """'repository:library/nginx:pull,push' -> ('repository', 'library/nginx', ['pull', 'push'])."""
    typ, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not typ or not name:
        return None
    return typ, name, [a for a in actions.split(",") if a]


class Server:
    def __init__(self, args):
        self.key = RsaKey(args.key)
        self.issuer = args.issuer
        self.service = args.service
        self.users = dict(u.split(":", 1) for u in args.user)
        self.anonymous_pull = args.anonymous_pull
        self.expires_in = args.expires_in
        self.log_file = open(args.log, "a", buffering=1) if args.log else sys.stderr
        self.lock = threading.Lock()

    def log(self, msg):
        with self.lock:
            self.log_file.write(time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + msg + "\n")

    def grant(self, user, scopes):
        access = []
        for s in scopes:
            parsed = parse_scope(s)
            if not parsed:
                continue
            typ, name, actions = parsed
            if user is not None:
                allowed = actions
            elif self.anonymous_pull and typ == "repository":
                allowed = [a for a in actions if a == "pull"]
            else:
                allowed = []
            if allowed:
                access.append({"type": typ, "name": name, "actions": allowed})
        return access

    def token(self, user, service, scopes):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.key.kid}
        access = self.grant(user, scopes)
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": service or self.service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        jwt = signing_input.decode() + "." + b64url(self.key.sign(signing_input))
        return jwt, access, now


def make_handler(srv):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # requests are logged by _issue
            pass

        def _send(self, code, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _basic(self):
            h = self.headers.get("Authorization", "")
            if not h.lower().startswith("basic "):
                return None
            try:
                user, _, pw = base64.b64decode(h[6:].strip()).decode().partition(":")
            except Exception:
                return ("", "\0invalid")
            return user, pw

        def _issue(self, creds, service, scopes, oauth):
            user = None
            if creds is not None:
                u, pw = creds
                if srv.users.get(u) != pw or u not in srv.users:
                    srv.log(f"401 {self.command} user={u!r} service={service!r} scopes={scopes} (bad credentials)")
                    return self._send(
                        401,
                        {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]},
                        [("WWW-Authenticate", 'Basic realm="skiff-test-token"')],
                    )
                user = u
            jwt, access, now = srv.token(user, service, scopes)
            srv.log(f"200 {self.command} user={user!r} service={service!r} scopes={scopes} granted={json.dumps(access)}")
            body = {
                "token": jwt,
                "access_token": jwt,
                "expires_in": srv.expires_in,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            }
            if oauth:
                body["scope"] = " ".join(scopes)
            self._send(200, body)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/healthz":
                return self._send(200, {"ok": True})
            if url.path != "/token":
                return self._send(404, {"error": "not found"})
            q = parse_qs(url.query)
            scopes = [s for v in q.get("scope", []) for s in v.split(" ") if s]
            self._issue(self._basic(), q.get("service", [""])[0], scopes, False)

        def do_POST(self):
            url = urlparse(self.path)
            if url.path != "/token":
                return self._send(404, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            one = lambda k: form.get(k, [""])[0]  # noqa: E731
            scopes = [s for v in form.get("scope", []) for s in v.split(" ") if s]
            grant = one("grant_type")
            if grant == "password":
                creds = (one("username"), one("password"))
            elif grant == "refresh_token":
                return self._send(400, {"error": "unsupported_grant_type"})
            else:
                creds = self._basic()
            self._issue(creds, one("service"), scopes, True)

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", required=True, help="HOST:PORT")
    p.add_argument("--key", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--user", action="append", default=[], help="USER:PASS (repeatable)")
    p.add_argument("--anonymous-pull", action="store_true")
    p.add_argument("--expires-in", type=int, default=300)
    p.add_argument("--log")
    args = p.parse_args()
    srv = Server(args)
    host, _, port = args.listen.rpartition(":")
    httpd = ThreadingHTTPServer((host or "127.0.0.1", int(port)), make_handler(srv))
    srv.log(f"listening on {args.listen}, issuer {srv.issuer!r}, service {srv.service!r}, kid {srv.key.kid}")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
