#!/usr/bin/python3
"""test/mail/smtp_server.py: the SMTP server the mail-worker tests deliver to.

A real SMTP server (Debian's aiosmtpd) on loopback, with what the tests need
to provoke every path of the worker:

  --tls-cert/--tls-key   offer STARTTLS with that certificate (or, with
                         --implicit-tls, speak TLS from the start: smtps)
  --auth USER:PASSWORD   require AUTH (PLAIN and LOGIN; --auth-mechs limits
                         what is offered); only over TLS unless
                         --auth-without-tls (a server that takes passwords
                         in clear text, which the worker must never feed)
  --delay-rcpt MS        wait before answering RCPT TO
  --delay-data MS        wait before answering the end of DATA

and behaviours chosen by the recipient's local part:

  temp...        451 to RCPT TO, every time
  bounce...      550 5.1.1 to RCPT TO (a hard bounce)
  retryN-...     451 to RCPT TO for the first N deliveries to that address
  datatemp...    451 after DATA
  dataperm...    554 after DATA
  dropN-...      close the connection in the middle of DATA, the first N times
  stall...       never answer RCPT TO (stallN-...: the first N times)
  stalldata...   never answer the end of DATA

Every accepted message is written atomically to --dir as NNNNNN.eml; every
event (connection, RCPT answer, accepted message with envelope, TLS and AUTH
user) is a JSON line in --log.  When listening, the port is written to
--ready.  Stops on SIGTERM.
"""
import argparse
import asyncio
import json
import os
import re
import signal
import ssl

from aiosmtpd.smtp import SMTP, AuthResult

args = None
counts = {}        # address -> deliveries attempted (for retryN / dropN)
sequence = 0


def log(**event):
    with open(args.log, "a") as f:
        f.write(json.dumps(event) + "\n")


def behaviour(address):
    """(kind, n) for a recipient: kind is the local part's prefix, n its count."""
    local = address.split("@")[0].lower()
    m = re.match(r"(retry|drop|stall)(\d+)-", local)
    if m:
        return m.group(1), int(m.group(2))
    for kind in ("temp", "bounce", "datatemp", "dataperm", "stalldata", "stall"):
        if local.startswith(kind):
            return kind, 0
    return "ok", 0


def uses_tls(server):
    return bool(server._tls_protocol) or server.transport.get_extra_info("ssl_object") is not None


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        kind, n = behaviour(address)
        counts[address] = counts.get(address, 0) + 1
        if args.delay_rcpt:
            await asyncio.sleep(args.delay_rcpt / 1000.0)
        code = "250 OK"
        if kind == "temp" or (kind == "retry" and counts[address] <= n):
            code = "451 4.3.0 try again later"
        elif kind == "bounce":
            code = "550 5.1.1 no such user"
        elif kind == "stall" and (n == 0 or counts[address] <= n):
            log(event="stall", rcpt=address)
            await asyncio.sleep(3600)
        if code.startswith("250"):
            envelope.rcpt_tos.append(address)
        log(event="rcpt", rcpt=address, code=int(code[:3]), attempt=counts[address])
        return code

    async def handle_DATA(self, server, session, envelope):
        global sequence
        if args.delay_data:
            await asyncio.sleep(args.delay_data / 1000.0)
        kinds = [behaviour(r)[0] for r in envelope.rcpt_tos]
        if "stalldata" in kinds:
            log(event="stall", rcpt=envelope.rcpt_tos)
            await asyncio.sleep(3600)
        if "datatemp" in kinds:
            log(event="data", rcpt=envelope.rcpt_tos, code=451)
            return "451 4.3.0 queue full, try later"
        if "dataperm" in kinds:
            log(event="data", rcpt=envelope.rcpt_tos, code=554)
            return "554 5.6.0 message refused"
        sequence += 1
        name = "%06d-%d.eml" % (sequence, os.getpid())
        tmp = os.path.join(args.dir, "." + name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(args.dir, name))
        auth = session.auth_data.login.decode() if session.auth_data else None
        log(event="accepted", file=name, mail_from=envelope.mail_from,
            rcpt=envelope.rcpt_tos, tls=uses_tls(server), auth=auth)
        return "250 2.0.0 queued as %d" % sequence


class TestSMTP(SMTP):
    async def smtp_DATA(self, arg):
        for rcpt in self.envelope.rcpt_tos:
            kind, n = behaviour(rcpt)
            if kind == "drop" and counts.get(rcpt, 0) <= n:
                await self.push("354 End data with <CR><LF>.<CR><LF>")
                await self._reader.readuntil(b"\r\n")
                log(event="drop", rcpt=rcpt, attempt=counts.get(rcpt, 0))
                self.transport.close()
                await asyncio.sleep(3600)   # cancelled when the connection is gone
        return await super().smtp_DATA(arg)


def authenticator(server, session, envelope, mechanism, auth_data):
    user, _, password = args.auth.partition(":")
    ok = auth_data.login.decode() == user and auth_data.password.decode() == password
    log(event="auth", mechanism=mechanism, ok=ok)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


async def main():
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    kwargs = dict(hostname="localhost", decode_data=False, data_size_limit=None)
    if args.auth:
        all_mechs = {"PLAIN", "LOGIN"}
        offered = set(args.auth_mechs.split(",")) if args.auth_mechs else all_mechs
        kwargs.update(auth_required=True, authenticator=authenticator,
                      auth_exclude_mechanism=sorted(all_mechs - offered),
                      auth_require_tls=not (args.implicit_tls or args.auth_without_tls))
    if context and not args.implicit_tls:
        kwargs["tls_context"] = context
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: TestSMTP(Handler(), **kwargs), "127.0.0.1", args.port,
        ssl=context if args.implicit_tls else None)
    port = server.sockets[0].getsockname()[1]
    log(event="listening", port=port)
    with open(args.ready + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(args.ready + ".tmp", args.ready)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    await stop
    server.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--dir", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth")
    p.add_argument("--auth-mechs")
    p.add_argument("--auth-without-tls", action="store_true")
    p.add_argument("--delay-rcpt", type=int, default=0)
    p.add_argument("--delay-data", type=int, default=0)
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(main())
