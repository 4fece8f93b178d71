#!/usr/bin/env python3
"""probe.py - talk raw MSRP to the test relay (tools/relay/start.sh) and record the bytes.

Usage:
  tools/relay/probe.py [--port N] [--tls-port N] [--cafile PEM] [--log KAMAILIO_LOG]
                       [--cases 1,2,...] [--quiet-bodies]

Defaults come from the variables start.sh prints (RELAY_URI, RELAY_TLS_URI, RELAY_CERT,
RELAY_LOG), so:   eval "$(tools/relay/start.sh 28555 28556)"; export RELAY_URI RELAY_TLS_URI \
RELAY_CERT RELAY_LOG; tools/relay/probe.py

Every frame sent and received is printed line by line with its CRLFs made visible ("\\r\\n");
bodies longer than 160 bytes are abbreviated. With --log, the Kamailio log lines written
during each case are printed after it. Each check prints "ok" or "FAIL"; the exit status is
1 when any check failed. Standard library only; talks to 127.0.0.1 only.

Cases:
  1 AUTH without credentials               5 alice <-> bob through the relay (SEND, REPORT)
  2 AUTH with a correct digest (uri forms)  6 SEND without AUTH / from the wrong connection
  3 wrong password / unknown user           7 chunk sizes: where the relay stops relaying
  4 Expires out of range                    8 msrps (TLS), and TLS <-> TCP relaying
  9 session cleanup when a client disconnects  10 200 pipelined SENDs
"""

import argparse
import hashlib
import os
import re
import secrets
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"
USERS = {"alice": "alice-secret", "bob": "bob-secret", "load0042": "loadpass"}

failures = []
log_pos = 0
args = None


def out(s=""):
    print(s, flush=True)


def check(cond, what):
    out(("    ok    " if cond else "    FAIL  ") + what)
    if not cond:
        failures.append(what)
    return cond


def esc(s):
    return "".join(c if 32 <= ord(c) < 127 else {"\r": "\\r", "\n": "\\n", "\t": "\\t"}.get(
        c, f"\\x{ord(c):02x}") for c in s)


def show(prefix, data):
    """Print a frame with visible CRLFs, one wire line per output line; long bodies abbreviated."""
    text = data.decode("latin-1")
    hdr_end = text.find("\r\n\r\n")
    end_start = text.rfind("\r\n-------") + 2
    if 0 <= hdr_end and hdr_end + 4 <= end_start:
        head, body, endl = text[:hdr_end + 2], text[hdr_end + 4:end_start - 2], text[end_start:]
    else:
        head, body, endl = text, None, ""
    lines = (head + endl).split("\r\n") if body is None else head.split("\r\n")
    for ln in lines[:-1]:
        out(f"{prefix}{esc(ln)}\\r\\n")
    if lines[-1]:
        out(f"{prefix}{esc(lines[-1])}   <-- no CRLF")
    if body is not None:
        out(f"{prefix}\\r\\n")
        if len(body) > 160 and args.quiet_bodies:
            out(f"{prefix}{esc(body[:48])}...[{len(body)} body bytes]...{esc(body[-16:])}\\r\\n")
        else:
            out(f"{prefix}{esc(body)}\\r\\n")
        for ln in endl.split("\r\n")[:-1]:
            out(f"{prefix}{esc(ln)}\\r\\n")


class Conn:
    """One MSRP client connection (TCP or TLS) with a reader that splits frames."""

    def __init__(self, name, port, tls=False):
        self.name = name
        self.port = port
        self.tls = tls
        raw = socket.create_connection((HOST, port), timeout=5)
        if tls:
            ctx = ssl.create_default_context()
            if args.cafile:
                ctx.load_verify_locations(args.cafile)
            else:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(raw, server_hostname=HOST)
            out(f"  [{name}] TLS {self.sock.version()} {self.sock.cipher()[0]}"
                f" (server cert verified: {bool(args.cafile)})")
        else:
            self.sock = raw
        self.lport = self.sock.getsockname()[1]
        self.sid = secrets.token_hex(6)
        scheme = "msrps" if tls else "msrp"
        self.uri = f"{scheme}://{HOST}:{self.lport}/{self.sid};tcp"
        self.relay = f"{scheme}://{HOST}:{port};tcp"
        self.buf = b""
        self.use_path = None
        self.closed = False
        out(f"  [{name}] connected {HOST}:{self.lport} -> {HOST}:{port}; own URI {self.uri}")

    def send(self, frame):
        data = frame.encode("latin-1") if isinstance(frame, str) else frame
        out(f"  {self.name} >>> relay ({len(data)} bytes)")
        show("    | ", data)
        self.sock.sendall(data)

    def _frame_end(self):
        i = self.buf.find(b"\r\n")
        if i < 0:
            return -1
        first = self.buf[:i].split(b" ")
        if len(first) < 3 or first[0] != b"MSRP":
            return -2
        tid = first[1]
        m = re.compile(rb"\r\n-------" + re.escape(tid) + rb"[$+#]\r\n").search(self.buf, i)
        return m.end() if m else -1

    def recv(self, timeout=2.0):
        """Next whole frame, or None on timeout/EOF."""
        deadline = time.monotonic() + timeout
        while True:
            end = self._frame_end()
            if end == -2:
                out(f"  {self.name} <<< relay: NOT MSRP: {self.buf[:200]!r}")
                data, self.buf = self.buf, b""
                return data
            if end > 0:
                data, self.buf = self.buf[:end], self.buf[end:]
                out(f"  {self.name} <<< relay ({len(data)} bytes)")
                show("    | ", data)
                return data
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionResetError, ssl.SSLError, OSError) as e:
                out(f"  {self.name} <<< connection error: {e}")
                self.closed = True
                return None
            if not d:
                out(f"  {self.name} <<< EOF (relay closed the connection)")
                self.closed = True
                if self.buf:
                    out(f"  {self.name} unparsed leftover: {self.buf[:200]!r}")
                return None
            self.buf += d

    def expect_nothing(self, timeout=1.0):
        d = self.recv(timeout)
        if d is None:
            out(f"  {self.name}: nothing received in {timeout:.1f}s")
        return d

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse(frame):
    """(first line parts, headers dict (last wins), ordered header list, body)"""
    text = frame.decode("latin-1")
    head, _, rest = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    first = lines[0].split(" ", 3)
    hdrs, order = {}, []
    for ln in lines[1:]:
        if ln.startswith("-------"):
            break
        k, _, v = ln.partition(":")
        hdrs[k.strip()] = v.strip()
        order.append((k.strip(), v.strip()))
    body = None
    if rest:
        body = rest[:rest.rfind("\r\n-------")]
    return first, hdrs, order, body


def digest_params(value):
    value = value.strip()
    assert value.lower().startswith("digest ")
    params = {}
    for m in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]+)', value[7:]):
        params[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(2)
    return params


def md5(s):
    return hashlib.md5(s.encode("latin-1")).hexdigest()


def authorization(ch, user, password, uri, nc=1, cnonce=None, method="AUTH"):
    cnonce = cnonce or secrets.token_hex(8)
    ncs = f"{nc:08x}"
    ha1 = md5(f"{user}:{ch['realm']}:{password}")
    ha2 = md5(f"{method}:{uri}")
    if "qop" in ch:
        resp = md5(f"{ha1}:{ch['nonce']}:{ncs}:{cnonce}:auth:{ha2}")
        extra = f", qop=auth, nc={ncs}, cnonce=\"{cnonce}\""
    else:
        resp = md5(f"{ha1}:{ch['nonce']}:{ha2}")
        extra = ""
    h = (f'Authorization: Digest username="{user}", realm="{ch["realm"]}", '
         f'nonce="{ch["nonce"]}", uri="{uri}", response="{resp}", algorithm=MD5{extra}')
    if "opaque" in ch:
        h += f', opaque="{ch["opaque"]}"'
    return h + "\r\n"


_tid = [0]


def tid():
    _tid[0] += 1
    return f"p{os.getpid() % 1000}t{_tid[0]}"


def auth_frame(c, t, extra=""):
    return f"MSRP {t} AUTH\r\nTo-Path: {c.relay}\r\nFrom-Path: {c.uri}\r\n{extra}-------{t}$\r\n"


def status(frame):
    if frame is None:
        return None
    first, _, _, _ = parse(frame)
    return first[2] if len(first) > 2 else None


def challenge(c):
    """AUTH without credentials; returns the parsed WWW-Authenticate params."""
    t = tid()
    c.send(auth_frame(c, t))
    r = c.recv()
    if r is None or status(r) != "401":
        check(False, f"{c.name}: AUTH without credentials -> 401 (got {status(r)})")
        return None
    _, h, _, _ = parse(r)
    return digest_params(h.get("WWW-Authenticate", ""))


def login(c, user, password=None, expires=None, uri=None):
    """Challenge + authenticated AUTH; returns the 200 frame's Use-Path (or None)."""
    ch = challenge(c)
    if ch is None:
        return None
    t = tid()
    extra = authorization(ch, user, password or USERS[user], uri or c.relay)
    if expires is not None:
        extra += f"Expires: {expires}\r\n"
    c.send(auth_frame(c, t, extra))
    r = c.recv()
    if status(r) != "200":
        check(False, f"{c.name}: AUTH as {user} -> 200 (got {status(r)})")
        return None
    _, h, _, _ = parse(r)
    c.use_path = h.get("Use-Path")
    c.expires = h.get("Expires")
    c.nonce_ch = ch
    return c.use_path


def send_frame(t, to_path, from_path, body=None, msgid=None, extra_hdrs="",
               ctype="text/plain", byte_range=None, flag="$"):
    msgid = msgid or secrets.token_hex(5)
    f = f"MSRP {t} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {from_path}\r\nMessage-ID: {msgid}\r\n"
    if body is None:
        f += extra_hdrs + f"-------{t}{flag}\r\n"
        return f
    br = byte_range or f"1-{len(body)}/{len(body)}"
    f += f"Byte-Range: {br}\r\n{extra_hdrs}Content-Type: {ctype}\r\n\r\n{body}\r\n-------{t}{flag}\r\n"
    return f


def reverse_path(from_path):
    return " ".join(reversed(from_path.split()))


def kamailio_log():
    """Print the Kamailio log lines written since the last call."""
    global log_pos
    if not args.log:
        return
    try:
        with open(args.log, "rb") as f:
            f.seek(log_pos)
            data = f.read()
            log_pos = f.tell()
    except OSError as e:
        out(f"  (cannot read log: {e})")
        return
    lines = [ln for ln in data.decode("latin-1").splitlines() if ln.strip()]
    if lines:
        out("  --- kamailio log during this case ---")
        for ln in lines:
            out("  log: " + ln)


def case_header(n, title):
    kamailio_log()  # flush anything from before
    out("")
    out("=" * 100)
    out(f"CASE {n}: {title}")
    out("=" * 100)


# ---------------------------------------------------------------------------------------------

def case1():
    case_header(1, "AUTH without credentials -> 401 + WWW-Authenticate")
    c = Conn("alice", args.port)
    t = tid()
    c.send(auth_frame(c, t))
    r = c.recv()
    check(status(r) == "401", "401 Unauthorized")
    if r:
        first, h, order, _ = parse(r)
        out(f"  status line: {' '.join(first)!r}")
        out(f"  header order: {[k for k, _ in order]}")
        ch = digest_params(h.get("WWW-Authenticate", ""))
        out(f"  digest params: {ch}")
        check(ch.get("qop") == "auth", 'qop="auth"')
        check("realm" in ch and "nonce" in ch, "realm and nonce present")
        out(f"  algorithm present: {'algorithm' in ch}; opaque present: {'opaque' in ch};"
            f" stale present: {'stale' in ch}; nonce length {len(ch.get('nonce', ''))}")
        check(h.get("To-Path") == c.uri, "To-Path of the 401 = our From-Path")
        check(h.get("From-Path") == c.relay, "From-Path of the 401 = the relay URI we sent")
    out("  -- a second AUTH without credentials on the same connection (is the nonce new?)")
    t = tid()
    c.send(auth_frame(c, t, "Message-ID: m-auth-2\r\n"))
    r2 = c.recv()
    if r and r2:
        n1 = digest_params(parse(r)[1]["WWW-Authenticate"])["nonce"]
        n2 = digest_params(parse(r2)[1]["WWW-Authenticate"])["nonce"]
        out(f"  nonce 1 {n1}\n  nonce 2 {n2}  (different: {n1 != n2})")
        check("Message-ID" in parse(r2)[1], "relay copies Message-ID of the request into its response")
    c.close()
    kamailio_log()


def case2():
    case_header(2, "AUTH with a correct digest -> 200 + Use-Path + Expires; digest uri forms")
    c = Conn("alice", args.port)
    ch = challenge(c)
    t = tid()
    c.send(auth_frame(c, t, authorization(ch, "alice", USERS["alice"], c.relay)))
    r = c.recv()
    check(status(r) == "200", f"digest uri = To-Path URI {c.relay!r} -> 200")
    if r:
        _, h, order, _ = parse(r)
        out(f"  header order: {[k for k, _ in order]}")
        up = h.get("Use-Path", "")
        out(f"  Use-Path: {up}\n  Expires: {h.get('Expires')}")
        check(re.fullmatch(rf"msrp://{HOST}:{args.port}/[^;/ ]+;tcp", up) is not None,
              "Use-Path = msrp://127.0.0.1:<port>/<session-id>;tcp")
        check(h.get("Expires") == "600", "no Expires in AUTH -> Expires: 600 (default)")
        check("Authentication-Info" not in h, "no Authentication-Info header")
    out("  -- refresh on the same connection: same nonce, nc=2, Expires: 120")
    t = tid()
    c.send(auth_frame(c, t, authorization(ch, "alice", USERS["alice"], c.relay, nc=2)
                      + "Expires: 120\r\n"))
    r2 = c.recv()
    check(status(r2) == "200", "refresh -> 200")
    if r and r2:
        check(parse(r2)[1].get("Use-Path") == parse(r)[1].get("Use-Path"),
              "refresh keeps the same Use-Path (session-id)")
        check(parse(r2)[1].get("Expires") == "120", "Expires: 120 granted as asked")
    out("  -- replay: same nonce, same nc=2 again")
    t = tid()
    c.send(auth_frame(c, t, authorization(ch, "alice", USERS["alice"], c.relay, nc=2)))
    r3 = c.recv()
    out(f"  replayed nc -> {status(r3)}")
    if r3 and status(r3) == "401":
        out(f"  challenge params: {digest_params(parse(r3)[1]['WWW-Authenticate'])}")
    c.close()

    for label, uri in [("uri without ';tcp'", f"msrp://{HOST}:{args.port}"),
                       ("uri with a session part", f"msrp://{HOST}:{args.port}/xyz;tcp"),
                       ("uri of another host", "msrp://relay.example.invalid:2855;tcp"),
                       ("uri 'xyz' (not a URI)", "xyz")]:
        out(f"  -- digest uri: {label}: {uri!r}")
        c = Conn("alice", args.port)
        ch = challenge(c)
        t = tid()
        c.send(auth_frame(c, t, authorization(ch, "alice", USERS["alice"], uri)))
        r = c.recv()
        out(f"  => {status(r)}")
        c.close()

    out("  -- digest computed with method 'SEND' instead of 'AUTH' in HA2")
    c = Conn("alice", args.port)
    ch = challenge(c)
    t = tid()
    c.send(auth_frame(c, t, authorization(ch, "alice", USERS["alice"], c.relay, method="SEND")))
    r = c.recv()
    out(f"  => {status(r)}")
    check(status(r) != "200", "HA2 must use method AUTH")
    c.close()

    out("  -- Authorization without qop/nc/cnonce (RFC 2069 style)")
    c = Conn("alice", args.port)
    ch = challenge(c)
    ch2 = {k: v for k, v in ch.items() if k != "qop"}
    t = tid()
    c.send(auth_frame(c, t, authorization(ch2, "alice", USERS["alice"], c.relay)))
    r = c.recv()
    out(f"  => {status(r)}")
    c.close()

    out("  -- load user load0042/loadpass")
    c = Conn("load0042", args.port)
    check(login(c, "load0042") is not None, "load0042 authenticates")
    c.close()
    kamailio_log()


def case3():
    case_header(3, "wrong password / unknown user / wrong realm")
    c = Conn("alice", args.port)
    ch = challenge(c)
    t = tid()
    c.send(auth_frame(c, t, authorization(ch, "alice", "not-the-password", c.relay)))
    r = c.recv()
    out(f"  wrong password => {status(r)}")
    check(status(r) == "403", "wrong password -> 403")
    out("  -- is the connection still usable? correct password, same nonce, nc=2")
    t = tid()
    c.send(auth_frame(c, t, authorization(ch, "alice", USERS["alice"], c.relay, nc=2)))
    r = c.recv()
    out(f"  => {status(r)}")
    c.close()

    c = Conn("nobody", args.port)
    ch = challenge(c)
    t = tid()
    c.send(auth_frame(c, t, authorization(ch, "nobody", "whatever", c.relay)))
    r = c.recv()
    out(f"  unknown user => {status(r)}")
    check(status(r) == "403", "unknown user -> 403")
    c.close()

    c = Conn("alice", args.port)
    ch = challenge(c)
    ch2 = dict(ch, realm="other.realm")
    t = tid()
    c.send(auth_frame(c, t, authorization(ch2, "alice", USERS["alice"], c.relay)))
    r = c.recv()
    out(f"  wrong realm => {status(r)}")
    c.close()

    c = Conn("alice", args.port)
    ch = challenge(c)
    ch2 = dict(ch, nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    t = tid()
    c.send(auth_frame(c, t, authorization(ch2, "alice", USERS["alice"], c.relay)))
    r = c.recv()
    out(f"  forged nonce => {status(r)}")
    c.close()
    kamailio_log()


def case4():
    case_header(4, "Expires out of range -> 423")
    for exp, want in [("10", "423"), ("29", "423"), ("30", "200"), ("3600", "200"),
                      ("3601", "423"), ("0", "423"), ("abc", "400")]:
        c = Conn("alice", args.port)
        ch = challenge(c)
        t = tid()
        c.send(auth_frame(c, t, authorization(ch, "alice", USERS["alice"], c.relay)
                          + f"Expires: {exp}\r\n"))
        r = c.recv()
        st = status(r)
        extra = ""
        if r:
            h = parse(r)[1]
            extra = " ".join(f"{k}: {h[k]}" for k in ("Min-Expires", "Max-Expires", "Expires") if k in h)
        check(st == want, f"Expires: {exp} -> {want} (got {st} {extra})")
        c.close()
    kamailio_log()


def case5():
    case_header(5, "alice and bob through the relay: SEND, responses, REPORT")
    a = Conn("alice", args.port)
    b = Conn("bob", args.port)
    ua = login(a, "alice")
    ub = login(b, "bob")
    out(f"  alice Use-Path: {ua}\n  bob   Use-Path: {ub}")
    if not (ua and ub):
        check(False, "both logged in")
        return
    # SDP-style paths: alice's a=path = ua + alice's URI; bob's a=path = ub + bob's URI
    out("")
    out("  -- (a) full RFC 4976 path: alice To-Path = alice's Use-Path + bob's Use-Path + bob's URI")
    t = tid()
    to_path = f"{ua} {ub} {b.uri}"
    a.send(send_frame(t, to_path, a.uri, "Hello bob, via the relay", msgid="m-a",
                      extra_hdrs="Success-Report: yes\r\n"))
    ra = a.recv()
    check(status(ra) == "200", "alice gets 200 for her SEND (from the relay)")
    if ra:
        h = parse(ra)[1]
        out(f"  200 to alice: To-Path={h.get('To-Path')!r} From-Path={h.get('From-Path')!r}")
    rb = b.recv()
    check(rb is not None and parse(rb)[0][2] == "SEND", "bob receives the SEND")
    if rb:
        first, h, order, body = parse(rb)
        out(f"  bob sees To-Path:   {h.get('To-Path')}")
        out(f"  bob sees From-Path: {h.get('From-Path')}")
        check(h.get("To-Path") == b.uri, "bob's To-Path = bob's URI only")
        check(h.get("From-Path") == f"{ub} {ua} {a.uri}",
              "bob's From-Path = bob's Use-Path, alice's Use-Path, alice's URI")
        check(first[1] == t, "transaction id unchanged")
        check(body == "Hello bob, via the relay", "body unchanged")
        out("  -- bob answers 200 hop-by-hop (To-Path = first From-Path URI only)")
        bt = first[1]
        b.send(f"MSRP {bt} 200 OK\r\nTo-Path: {h['From-Path'].split()[0]}\r\nFrom-Path: {b.uri}\r\n"
               f"-------{bt}$\r\n")
        r = a.recv(1.0)
        check(r is None, "bob's hop-by-hop 200 is absorbed by the relay (alice gets nothing)")
        out("  -- bob answers again, with the full reversed path (To-Path = whole From-Path)")
        b.send(f"MSRP {bt} 200 OK\r\nTo-Path: {h['From-Path']}\r\nFrom-Path: {b.uri}\r\n"
               f"-------{bt}$\r\n")
        r = a.recv(1.5)
        out(f"  alice got: {status(r) if r else 'nothing'}")
        if r:
            h2 = parse(r)[1]
            out(f"  alice sees To-Path={h2.get('To-Path')!r} From-Path={h2.get('From-Path')!r}")
        out("  -- bob sends the success REPORT to alice (To-Path = reversed From-Path)")
        rt = tid()
        b.send(f"MSRP {rt} REPORT\r\nTo-Path: {h['From-Path']}\r\nFrom-Path: {b.uri}\r\n"
               f"Message-ID: m-a\r\nByte-Range: 1-24/24\r\nStatus: 000 200 OK\r\n-------{rt}$\r\n")
        rr = a.recv()
        check(rr is not None and parse(rr)[0][2] == "REPORT", "alice receives the REPORT")
        if rr:
            h3 = parse(rr)[1]
            check(h3.get("To-Path") == a.uri, "REPORT To-Path = alice's URI")
            check(h3.get("From-Path") == f"{ua} {ub} {b.uri}",
                  "REPORT From-Path = alice's Use-Path, bob's Use-Path, bob's URI")
        check(b.recv(0.7) is None, "no response to bob for the REPORT")

    out("")
    out("  -- (b) bob -> alice SEND, full path")
    t = tid()
    b.send(send_frame(t, f"{ub} {ua} {a.uri}", b.uri, "Hi alice", msgid="m-b"))
    check(status(b.recv()) == "200", "bob gets 200 from the relay")
    r = a.recv()
    check(r is not None and parse(r)[0][2] == "SEND", "alice receives bob's SEND")
    if r:
        h = parse(r)[1]
        out(f"  alice sees To-Path={h.get('To-Path')!r}\n  alice sees From-Path={h.get('From-Path')!r}")

    out("")
    out("  -- (c) short path: alice To-Path = bob's Use-Path + bob's URI (skipping her own session)")
    t = tid()
    a.send(send_frame(t, f"{ub} {b.uri}", a.uri, "short path", msgid="m-c"))
    r = a.recv()
    out(f"  alice got {status(r)}")
    r = b.recv()
    if r:
        h = parse(r)[1]
        out(f"  bob sees To-Path={h.get('To-Path')!r} From-Path={h.get('From-Path')!r}")
    else:
        out("  bob got nothing")

    out("")
    out("  -- (d) chunked message: two chunks (+ then $), Failure-Report: no on the last")
    t1, t2 = tid(), tid()
    a.send(send_frame(t1, f"{ua} {ub} {b.uri}", a.uri, "part one ", msgid="m-d",
                      byte_range="1-9/18", flag="+"))
    a.recv()
    b.recv()
    a.send(send_frame(t2, f"{ua} {ub} {b.uri}", a.uri, "part two.", msgid="m-d",
                      byte_range="10-18/18", extra_hdrs="Failure-Report: no\r\n"))
    r = a.recv(1.0)
    check(r is None, "no 200 from the relay for a SEND with Failure-Report: no")
    r = b.recv()
    check(r is not None, "bob receives the last chunk")
    a.close()
    b.close()
    kamailio_log()


def case6():
    case_header(6, "SEND without AUTH / from a connection that does not own the session")
    a = Conn("alice", args.port)
    b = Conn("bob", args.port)
    ua = login(a, "alice")
    ub = login(b, "bob")
    m = Conn("mallory", args.port)
    relay = m.relay
    base = relay.rsplit(";", 1)[0]
    tests = [
        ("To-Path = relay URI only (nexthops 0)", f"{relay}"),
        ("To-Path = relay URI without session + bob (sessid empty)", f"{relay} {b.uri}"),
        ("To-Path = unknown relay session + bob's path", f"{base}/nosuchsession;tcp {ub} {b.uri}"),
        ("To-Path = alice's Use-Path + bob's path (session of another connection)", f"{ua} {ub} {b.uri}"),
        ("To-Path = bob's Use-Path + bob's URI (inbound to bob, nexthops 1)", f"{ub} {b.uri}"),
    ]
    for label, tp in tests:
        out(f"  -- mallory (no AUTH): {label}")
        t = tid()
        m.send(send_frame(t, tp, m.uri, "unauthenticated"))
        r = m.recv(1.5)
        out(f"  => mallory got {status(r) if r else 'nothing'}")
        rb = b.recv(0.7)
        out(f"  => bob got {parse(rb)[0][2] if rb else 'nothing'}")
    out("  -- a non-SEND method (FOO) via alice's session")
    t = tid()
    a.send(f"MSRP {t} FOO\r\nTo-Path: {ua} {ub} {b.uri}\r\nFrom-Path: {a.uri}\r\n"
           f"Message-ID: x\r\n-------{t}$\r\n")
    r = a.recv(1.5)
    out(f"  => alice got {status(r) if r else 'nothing'}")
    rb = b.recv(0.7)
    out(f"  => bob got {parse(rb)[0][2] if rb else 'nothing'}")
    out("  -- a malformed frame (From-Path before To-Path)")
    t = tid()
    m.send(f"MSRP {t} SEND\r\nFrom-Path: {m.uri}\r\nTo-Path: {ub} {b.uri}\r\n"
           f"Message-ID: x\r\n-------{t}$\r\n")
    r = m.recv(1.5)
    out(f"  => mallory got {status(r) if r else 'nothing'} (connection closed: {m.closed})")
    for c in (a, b, m):
        c.close()
    kamailio_log()


def case7():
    case_header(7, "chunk sizes: largest SEND the relay forwards")
    a = Conn("alice", args.port)
    b = Conn("bob", args.port)
    ua = login(a, "alice")
    ub = login(b, "bob")
    to_path = f"{ua} {ub} {b.uri}"

    def attempt(n, verbose=True):
        nonlocal a, b
        t = tid()
        body = ("0123456789abcdef" * (n // 16 + 1))[:n]
        f = send_frame(t, to_path, a.uri, body, msgid="m-size")
        flen = len(f)
        if verbose:
            a.send(f)
            ra = a.recv(2.0)
            rb = b.recv(2.0)
        else:
            a.sock.sendall(f.encode())
            ra, rb = a.recv_quiet(2.0), b.recv_quiet(2.0)
        ok_b = rb is not None and parse(rb)[3] == body
        return flen, status(ra) if ra else None, ok_b, a.closed, rb

    for n in (1024, 8192, 10240, 11000, 12000, 14000, 16384, 65536):
        out(f"  -- body {n} bytes")
        flen, sa, ok_b, closed, rb = attempt(n)
        out(f"  => frame {flen} bytes: alice got {sa}; bob got the whole body: {ok_b};"
            f" alice's connection closed: {closed}")
        kamailio_log()
        if closed:
            a.close()
            b.close()
            a = Conn("alice", args.port)
            b = Conn("bob", args.port)
            ua = login(a, "alice")
            ub = login(b, "bob")
            to_path = f"{ua} {ub} {b.uri}"

    out("  -- bisecting the largest body that reaches bob (frame printing off)")
    lo, hi = 1024, 16384
    lo_flen = hi_flen = None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        flen, sa, ok_b, closed, rb = attempt(mid, verbose=False)
        if ok_b:
            lo, lo_flen = mid, flen
        else:
            hi, hi_flen = mid, flen
            if closed:
                a.close()
                b.close()
                a = Conn("alice", args.port)
                b = Conn("bob", args.port)
                ua = login(a, "alice")
                ub = login(b, "bob")
                to_path = f"{ua} {ub} {b.uri}"
    out(f"  largest body relayed: {lo} bytes in a frame of {lo_flen} bytes (To-Path {len(to_path)}"
        f" chars); body {hi} bytes in a frame of {hi_flen} bytes is not relayed")
    out("  -- what alice gets for the first size that fails:")
    flen, sa, ok_b, closed, rb = attempt(hi)
    out(f"  => frame {flen} bytes: alice got {sa}; bob got it: {ok_b}; closed: {closed}")
    kamailio_log()

    out("  -- bisecting the smallest frame for which the relay drops the connection")
    lo, hi = 11000, 70000   # body sizes: lo keeps the connection, hi loses it
    lo_flen = hi_flen = lo_status = None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        flen, sa, ok_b, closed, rb = attempt(mid, verbose=False)
        if closed:
            hi, hi_flen = mid, flen
            a.close()
            b.close()
            a = Conn("alice", args.port)
            b = Conn("bob", args.port)
            ua = login(a, "alice")
            ub = login(b, "bob")
            to_path = f"{ua} {ub} {b.uri}"
        else:
            lo, lo_flen, lo_status = mid, flen, sa
    out(f"  connection kept with a frame of {lo_flen} bytes (body {lo}, answered {lo_status});"
        f" a frame of {hi_flen} bytes (body {hi}) makes the relay close the connection")
    a.close()
    b.close()
    kamailio_log()


def case10():
    case_header(10, "pipelining: 200 SENDs written at once, alice -> bob, full path")
    a = Conn("alice", args.port)
    b = Conn("bob", args.port)
    ua = login(a, "alice")
    ub = login(b, "bob")
    n = 200
    frames = "".join(send_frame(f"pipe{i}", f"{ua} {ub} {b.uri}", a.uri, f"message number {i}",
                                msgid=f"pm{i}") for i in range(n))
    out(f"  alice writes {n} SENDs ({len(frames)} bytes) in one go (not printed)")
    t0 = time.monotonic()
    a.sock.sendall(frames.encode())
    got_b, got_a = [], []
    deadline = time.monotonic() + 10
    while (len(got_b) < n or len(got_a) < n) and time.monotonic() < deadline:
        if len(got_a) < n:
            r = a.recv_quiet(0.05)
            if r:
                got_a.append(r)
        if len(got_b) < n:
            r = b.recv_quiet(0.05)
            if r:
                got_b.append(r)
    dt = time.monotonic() - t0
    tids_b = [parse(r)[0][1] for r in got_b]
    check(len(got_a) == n and all(status(r) == "200" for r in got_a), f"alice gets {n} x 200 (got {len(got_a)})")
    check(tids_b == [f"pipe{i}" for i in range(n)], f"bob gets all {n} SENDs in order (got {len(got_b)})")
    out(f"  took {dt:.2f}s")
    a.close()
    b.close()
    kamailio_log()


def case8():
    case_header(8, "msrps: AUTH over TLS, TLS <-> TCP relaying")
    if not args.tls_port:
        out("  no TLS port given (start.sh PORT TLS_PORT): skipped")
        return
    a = Conn("alice-tls", args.tls_port, tls=True)
    ua = login(a, "alice")
    out(f"  alice (TLS) Use-Path: {ua}")
    check(ua is not None and ua.startswith(f"msrps://{HOST}:{args.tls_port}/"),
          "Use-Path over TLS = msrps://127.0.0.1:<tls port>/<session-id>;tcp")
    b = Conn("bob-tcp", args.port)
    ub = login(b, "bob")
    if not (ua and ub):
        return
    out("  -- alice (TLS) -> bob (TCP)")
    t = tid()
    a.send(send_frame(t, f"{ua} {ub} {b.uri}", a.uri, "over TLS then TCP", msgid="m-t1"))
    check(status(a.recv()) == "200", "alice gets 200")
    r = b.recv()
    check(r is not None and parse(r)[3] == "over TLS then TCP", "bob (TCP) receives it")
    if r:
        h = parse(r)[1]
        out(f"  bob sees To-Path={h.get('To-Path')!r}\n  bob sees From-Path={h.get('From-Path')!r}")
    out("  -- bob (TCP) -> alice (TLS)")
    t = tid()
    b.send(send_frame(t, f"{ub} {ua} {a.uri}", b.uri, "over TCP then TLS", msgid="m-t2"))
    check(status(b.recv()) == "200", "bob gets 200")
    r = a.recv()
    check(r is not None and parse(r)[3] == "over TCP then TLS", "alice (TLS) receives it")
    if r:
        h = parse(r)[1]
        out(f"  alice sees To-Path={h.get('To-Path')!r}\n  alice sees From-Path={h.get('From-Path')!r}")
    out("  -- 10000-byte body over TLS")
    t = tid()
    body = "z" * 10000
    a.send(send_frame(t, f"{ua} {ub} {b.uri}", a.uri, body, msgid="m-t3"))
    a.recv()
    r = b.recv()
    check(r is not None and parse(r)[3] == body, "bob receives the 10000-byte body")
    a.close()
    b.close()
    kamailio_log()


def case9():
    case_header(9, "session cleanup: bob disconnects, alice sends to his session")
    a = Conn("alice", args.port)
    b = Conn("bob", args.port)
    ua = login(a, "alice")
    ub = login(b, "bob")
    b.close()
    time.sleep(0.5)
    t = tid()
    a.send(send_frame(t, f"{ua} {ub} {b.uri}", a.uri, "are you there?"))
    r = a.recv(2.0)
    out(f"  => alice got {status(r) if r else 'nothing'}")
    a.close()
    kamailio_log()


CASES = {1: case1, 2: case2, 3: case3, 4: case4, 5: case5, 6: case6, 7: case7, 8: case8, 9: case9,
         10: case10}


def recv_quiet(self, timeout=2.0):
    saved = sys.stdout
    try:
        sys.stdout = open(os.devnull, "w")
        return self.recv(timeout)
    finally:
        sys.stdout.close()
        sys.stdout = saved


Conn.recv_quiet = recv_quiet


def port_of(uri):
    m = re.match(r"msrps?://[^:/]+:(\d+)", uri or "")
    return int(m.group(1)) if m else None


def main():
    global args
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=port_of(os.environ.get("RELAY_URI")) or 2855)
    ap.add_argument("--tls-port", type=int, default=port_of(os.environ.get("RELAY_TLS_URI")))
    ap.add_argument("--cafile", default=os.environ.get("RELAY_CERT"),
                    help="verify the relay's certificate with this PEM (default $RELAY_CERT)")
    ap.add_argument("--log", default=os.environ.get("RELAY_LOG"), help="Kamailio log to quote")
    ap.add_argument("--cases", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--full-bodies", dest="quiet_bodies", action="store_false", default=True)
    args = ap.parse_args()
    global log_pos
    if args.log and os.path.exists(args.log):
        log_pos = os.path.getsize(args.log)
    out(f"probe.py: relay msrp://{HOST}:{args.port};tcp"
        + (f", msrps://{HOST}:{args.tls_port};tcp" if args.tls_port else "")
        + f"; started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    for n in [int(x) for x in args.cases.split(",") if x.strip()]:
        CASES[n]()
    kamailio_log()
    out("")
    if failures:
        out(f"RESULT: {len(failures)} check(s) FAILED:")
        for f in failures:
            out(f"  - {f}")
        return 1
    out("RESULT: all checks ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
