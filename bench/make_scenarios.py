"""Generate the incident scenarios under `bench/scenarios/` (format: data/incidents/FORMAT.md).

    .venv/bin/python -m bench.make_scenarios [--out bench/scenarios]

Deterministic (seeded). Every scenario is 14-22 minutes of a small system's logs in the formats
real software writes (nginx, Spring Boot, Python logging, Go logfmt, pino JSON, PostgreSQL,
Redis), with normal traffic, routine warnings and the routine errors every system has (client
aborts, scanner 404s, TLS handshake EOFs, duplicate keys, cancelled contexts), and the incidents
inside. Lines arrive slightly out of order, as from several hosts. `expected.json` records what a
person would report. Precursors written at info/warn level (a deploy, a disk filling) are in the
logs but never reach the analyzer, as in production, where only filtered error lines are analyzed.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).parent / "scenarios"


@dataclass
class Line:
    ts: datetime
    service: str
    message: str
    level: str | None = None
    host: str | None = None
    attrs: dict[str, str] | None = None


@dataclass
class Scenario:
    name: str
    seed: int
    start: datetime
    minutes: int
    lines: list[Line] = field(default_factory=list)
    incidents: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.end = self.start + timedelta(minutes=self.minutes)

    def emit(self, ts: datetime, service: str, message: str, level: str | None = None) -> None:
        host = f"{service}-{self.rng.choice(['7d9f8', 'x2k4q', 'm5n1p'])}"
        self.lines.append(Line(ts, service, message, level, host))

    def times(
        self, per_minute: float, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[datetime]:
        """Poisson arrivals at `per_minute` between start and end."""
        t = start or self.start
        stop = end or self.end
        while True:
            t += timedelta(seconds=self.rng.expovariate(per_minute / 60.0))
            if t >= stop:
                return
            yield t

    def ramp(
        self, start: datetime, end: datetime, from_pm: float, to_pm: float
    ) -> Iterator[datetime]:
        """Arrivals whose rate grows linearly from `from_pm` to `to_pm` per minute (a slow burn)."""
        t = start
        total = (end - start).total_seconds()
        while True:
            share = (t - start).total_seconds() / total
            rate = from_pm + (to_pm - from_pm) * share
            t += timedelta(seconds=self.rng.expovariate(rate / 60.0))
            if t >= end:
                return
            yield t

    def expect(self, root: str, pattern: str, affected: list[str], start: datetime) -> None:
        self.incidents.append(
            {
                "root_cause_service": root,
                "root_cause_pattern": pattern,
                "affected_services": affected,
                "start": _iso(start),
            }
        )

    def write(self, out: Path) -> None:
        folder = out / self.name
        folder.mkdir(parents=True, exist_ok=True)
        # Arrival order: event time plus a per-line shipping delay of up to ~1.5 s.
        arrival = sorted(
            self.lines, key=lambda ln: ln.ts + timedelta(seconds=self.rng.random() * 1.5)
        )
        with (folder / "logs.jsonl").open("w", encoding="utf-8") as fh:
            for line in arrival:
                body: dict[str, object] = {"ts": _iso(line.ts), "service": line.service}
                if line.host:
                    body["host"] = line.host
                if line.level:
                    body["level"] = line.level
                body["message"] = line.message
                fh.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
        (folder / "expected.json").write_text(
            json.dumps({"incidents": self.incidents}, indent=2) + "\n", encoding="utf-8"
        )


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _ip(rng: random.Random, internal: bool = False) -> str:
    if internal:
        return f"10.20.{rng.randint(0, 63)}.{rng.randint(2, 250)}"
    return (
        f"{rng.choice([31, 46, 77, 81, 92, 109, 141, 176, 185, 212])}.{rng.randint(1, 254)}."
        f"{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    )


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


# --- log formats -----------------------------------------------------------------------------


def nginx_access(s: Scenario, t: datetime, path: str, status: int, rt: float) -> str:
    agent = s.rng.choice(
        [
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/123.0",
            "okhttp/4.12.0",
            "curl/8.5.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X)",
        ]
    )
    return (
        f'{_ip(s.rng)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" {status} '
        f'{s.rng.randint(200, 90000)} "-" "{agent}" rt={rt:.3f}'
    )


def nginx_error(t: datetime, text: str, s: Scenario) -> str:
    return (
        f"{t:%Y/%m/%d %H:%M:%S} [error] {s.rng.choice([17, 21])}#{s.rng.choice([17, 21])}: "
        f"*{s.rng.randint(1000, 99999999)} {text}"
    )


def spring(t: datetime, level: str, svc: str, logger: str, msg: str, s: Scenario) -> str:
    return (
        f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z {level:>5} 1 --- [{svc}] "
        f"[io-8080-exec-{s.rng.randint(1, 50)}] {logger:<40} : {msg}"
    )


def pylog(t: datetime, level: str, logger: str, msg: str) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} {level} [{logger}] {msg}"


def logfmt(t: datetime, level: str, caller: str, msg: str, **kv: str) -> str:
    extra = " ".join(f'{k}="{v}"' if " " in v else f"{k}={v}" for k, v in kv.items())
    return f'ts={_iso(t)} level={level} caller={caller} msg="{msg}" {extra}'.rstrip()


def pino(t: datetime, level: int, msg: str, s: Scenario, **extra: object) -> str:
    body: dict[str, object] = {
        "level": level,
        "time": int(t.timestamp() * 1000),
        "pid": 1,
        "reqId": f"req-{_hex(s.rng, 6)}",
        **extra,
        "msg": msg,
    }
    return json.dumps(body, separators=(",", ":"))


def pg(t: datetime, pid: int, who: str, severity: str, text: str) -> str:
    return (
        f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} UTC [{pid}] {who} {severity}:  {text}"
    )


# --- background traffic and routine errors, per kind of service -------------------------------


def bg_nginx(s: Scenario, svc: str, per_minute: float, paths: list[str]) -> None:
    for t in s.times(per_minute):
        s.emit(
            t,
            svc,
            nginx_access(
                s,
                t,
                s.rng.choice(paths),
                s.rng.choice([200] * 12 + [304, 404]),
                s.rng.uniform(0.005, 0.09),
            ),
        )
    for t in s.times(0.6):  # scanners probing for well-known admin pages
        probe = s.rng.choice(
            [
                "/wp-login.php",
                "/.env",
                "/phpmyadmin/index.php",
                "/.git/config",
                "/cgi-bin/luci/",
                "/boaform/admin/formLogin",
            ]
        )
        s.emit(
            t,
            svc,
            nginx_error(
                t,
                f'open() "/usr/share/nginx/html{probe}" failed (2: No such '
                f"file or directory), client: {_ip(s.rng)}, server: shop.example,"
                f' request: "GET {probe} HTTP/1.1"',
                s,
            ),
            "error",
        )
    for t in s.times(0.3):
        s.emit(
            t,
            svc,
            f"{t:%Y/%m/%d %H:%M:%S} [info] 21#21: *{s.rng.randint(1, 10**8)} "
            "SSL_do_handshake() failed (SSL: error:0A000126:SSL routines::unexpected eof while "
            f"reading) while SSL handshaking, client: {_ip(s.rng)}, server: 0.0.0.0:443",
        )


def bg_spring(s: Scenario, svc: str, per_minute: float, uris: list[str]) -> None:
    for t in s.times(per_minute):
        s.emit(
            t,
            svc,
            spring(
                t,
                "INFO",
                svc,
                "c.s.common.web.AccessLogFilter",
                f"method=GET uri={s.rng.choice(uris)} status=200 "
                f"duration_ms={s.rng.randint(4, 120)}",
                s,
            ),
            "INFO",
        )
    for t in s.times(0.25):
        s.emit(
            t,
            svc,
            spring(
                t,
                "ERROR",
                svc,
                "c.s.common.web.GlobalExceptionHandler",
                "Failed to write response body\norg.apache.catalina.connector."
                "ClientAbortException: java.io.IOException: Connection reset by peer\n"
                "\tat org.apache.catalina.connector.OutputBuffer.realWriteBytes("
                "OutputBuffer.java:353)",
                s,
            ),
            "ERROR",
        )
    for t in s.times(0.4):
        s.emit(
            t,
            svc,
            spring(
                t,
                "WARN",
                svc,
                "o.h.engine.jdbc.spi.SqlExceptionHelper",
                "SQL Warning Code: 0, SQLState: 00000",
                s,
            ),
            "WARN",
        )


def bg_python(s: Scenario, svc: str, per_minute: float, paths: list[str]) -> None:
    for t in s.times(per_minute):
        s.emit(
            t,
            svc,
            f'INFO:     {_ip(s.rng, True)}:{s.rng.randint(30000, 60000)} - "GET '
            f'{s.rng.choice(paths)} HTTP/1.1" 200 OK',
            "INFO",
        )
    for t in s.times(0.2):
        s.emit(
            t,
            svc,
            pylog(
                t,
                "WARNING",
                f"{svc.replace('-', '_')}.validation",
                f"rejected payload from {_ip(s.rng, True)}: field 'email' invalid",
            ),
            "WARNING",
        )
    for t in s.times(0.1):
        s.emit(
            t,
            svc,
            pylog(
                t,
                "ERROR",
                f"{svc.replace('-', '_')}.api",
                "request failed: client disconnected before response (ClientDisconnect)",
            ),
            "ERROR",
        )


def bg_go(s: Scenario, svc: str, per_minute: float, paths: list[str]) -> None:
    for t in s.times(per_minute):
        s.emit(
            t,
            svc,
            logfmt(
                t,
                "info",
                "http/handler.go:74",
                "served",
                path=s.rng.choice(paths),
                status="200",
                dur=f"{s.rng.uniform(1, 60):.1f}ms",
            ),
            "info",
        )
    for t in s.times(0.3):
        s.emit(
            t,
            svc,
            logfmt(
                t,
                "error",
                "httpx/errors.go:41",
                "request failed",
                err="context canceled",
                path=s.rng.choice(paths),
                request_id=_hex(s.rng, 16),
            ),
            "error",
        )


def bg_node(s: Scenario, svc: str, per_minute: float, urls: list[str]) -> None:
    for t in s.times(per_minute):
        s.emit(
            t,
            svc,
            pino(
                t,
                30,
                "request completed",
                s,
                req={"method": "GET", "url": s.rng.choice(urls)},
                res={"statusCode": 200},
                responseTime=round(s.rng.uniform(5, 80), 1),
            ),
        )
    for t in s.times(0.15):
        s.emit(
            t,
            svc,
            pino(
                t,
                50,
                "request aborted by client",
                s,
                err={"type": "Error", "message": "aborted", "code": "ECONNRESET"},
            ),
        )


def bg_postgres(s: Scenario, svc: str, db: str) -> None:
    for t in s.times(3):
        s.emit(
            t,
            svc,
            pg(
                t,
                s.rng.randint(1000, 99999),
                f"app@{db}",
                "LOG",
                f"duration: {s.rng.uniform(1000, 2500):.3f} ms  execute <unnamed>: "
                f"SELECT * FROM items WHERE id = $1",
            ),
        )
    for t in s.times(0.2):
        s.emit(
            t,
            svc,
            pg(
                t,
                s.rng.randint(1000, 99999),
                f"app@{db}",
                "ERROR",
                'duplicate key value violates unique constraint "idempotency_key_uq"',
            )
            + f"\n{t:%Y-%m-%d %H:%M:%S} UTC DETAIL:  Key (key)=({_hex(s.rng, 8)}) already exists.",
        )
    for t in s.times(0.5):
        s.emit(
            t,
            svc,
            pg(
                t,
                s.rng.randint(1000, 99999),
                "",
                "LOG",
                f'automatic vacuum of table "{db}.public.items": index scans: 1',
            ),
        )


def bg_redis(s: Scenario, svc: str) -> None:
    for t in s.times(0.5):
        s.emit(
            t,
            svc,
            f"1:M {t:%d %b %Y %H:%M:%S}.{t.microsecond // 1000:03d} * 100 changes in "
            "300 seconds. Saving...",
        )
        s.emit(
            t + timedelta(milliseconds=40),
            svc,
            f"1:M {t:%d %b %Y %H:%M:%S} * Background saving started by pid "
            f"{s.rng.randint(10, 9999)}",
        )


# --- the scenarios -----------------------------------------------------------------------------


def shop_background(s: Scenario, db: str = "orders-db") -> None:
    bg_nginx(
        s, "edge-nginx", 70, ["/", "/cart", "/api/orders", "/static/app.js", "/api/search?q=x"]
    )
    bg_spring(s, "orders-api", 40, ["/v1/orders/123", "/v1/orders", "/v1/carts/77"])
    bg_node(s, "web-bff", 30, ["/", "/product/42", "/cart"])
    bg_postgres(s, db, db.split("-")[0])


def s01_db_pool_exhaustion(s: Scenario) -> None:
    """Cascade: the database runs out of connection slots; the API's pool times out; the edge
    returns 502s. The database names nobody; the API's traces name the database's error."""
    shop_background(s)
    t0 = s.start + timedelta(minutes=7, seconds=12)
    end = t0 + timedelta(minutes=5)
    s.expect(
        "orders-db",
        "too many clients|remaining connection slots",
        ["orders-api", "edge-nginx", "web-bff"],
        t0,
    )
    for t in s.times(18, t0, end):
        s.emit(
            t,
            "orders-db",
            pg(
                t,
                s.rng.randint(1000, 99999),
                "orders_api@orders",
                "FATAL",
                "sorry, too many clients already",
            ),
        )
    for t in s.times(4, t0 + timedelta(seconds=5), end):
        s.emit(
            t,
            "orders-db",
            pg(
                t,
                s.rng.randint(1000, 99999),
                "report@orders",
                "FATAL",
                "remaining connection slots are reserved for non-replication superuser connections",
            ),
        )
    for t in s.times(25, t0 + timedelta(seconds=30), end + timedelta(seconds=20)):
        s.emit(
            t,
            "orders-api",
            spring(
                t,
                "ERROR",
                "orders-api",
                "c.s.orders.web.OrderController",
                "Request processing failed: "
                "org.springframework.jdbc.CannotGetJdbcConnectionException:"
                " Failed to obtain JDBC Connection\n\tat org.springframework.jdbc.datasource."
                "DataSourceUtils.getConnection(DataSourceUtils.java:84)\nCaused by: java.sql."
                "SQLTransientConnectionException: HikariPool-1 - Connection is not "
                "available, request "
                "timed out after 30000ms.\n\tat "
                "com.zaxxer.hikari.pool.HikariPool.createTimeoutException"
                "(HikariPool.java:696)\nCaused by: org.postgresql.util.PSQLException: "
                "FATAL: sorry, too "
                "many clients already\n\tat org.postgresql.core.v3.ConnectionFactoryImpl."
                "doAuthentication(ConnectionFactoryImpl.java:693)",
                s,
            ),
            "ERROR",
        )
    for t in s.times(20, t0 + timedelta(seconds=35), end + timedelta(seconds=25)):
        s.emit(
            t,
            "edge-nginx",
            nginx_error(
                t,
                "upstream prematurely closed connection while "
                'reading response header from upstream, client: 81.2.3.4, request: "GET '
                '/api/orders HTTP/1.1", upstream: "http://10.20.4.17:8080/v1/orders"',
                s,
            ),
            "error",
        )
    for t in s.times(6, t0 + timedelta(seconds=40), end):
        s.emit(
            t,
            "web-bff",
            pino(
                t,
                50,
                "orders call failed",
                s,
                err={"type": "HTTPError", "message": "Response code 502 (Bad Gateway)"},
            ),
        )


def s02_oom_crash_loop(s: Scenario) -> None:
    """A JVM runs out of heap, crashes and restarts (restart lines are INFO: filtered out);
    its callers get connection refused while it is down."""
    bg_spring(s, "search-svc", 35, ["/v1/search?q=shoes", "/v1/suggest?q=sh"])
    bg_go(s, "catalog-gw", 50, ["/catalog/42", "/catalog/search"])
    bg_nginx(s, "edge-nginx", 60, ["/", "/search", "/static/app.css"])
    t0 = s.start + timedelta(minutes=9, seconds=3)
    s.expect("search-svc", "OutOfMemoryError|heap space", ["catalog-gw", "edge-nginx"], t0)
    for t in s.times(2, t0 - timedelta(minutes=3), t0):
        s.emit(
            t,
            "search-svc",
            spring(
                t,
                "WARN",
                "search-svc",
                "c.s.search.cache.ResultCache",
                "GC overhead high: 71% of time in GC over last 60s",
                s,
            ),
            "WARN",
        )
    for cycle in range(3):
        crash = t0 + timedelta(seconds=75 * cycle)
        s.emit(
            crash,
            "search-svc",
            spring(
                crash,
                "ERROR",
                "search-svc",
                "o.a.c.c.C.[.[.[/].[dispatcherServlet]",
                "Servlet.service() for servlet "
                "[dispatcherServlet] threw exception\njava.lang.OutOfMemoryError: Java heap space\n"
                "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\n\tat com.shop.search."
                "index.ResultCache.put(ResultCache.java:88)",
                s,
            ),
            "ERROR",
        )
        s.emit(
            crash + timedelta(milliseconds=300),
            "search-svc",
            "Terminating due to java.lang.OutOfMemoryError: Java heap space",
        )
        s.emit(
            crash + timedelta(seconds=28),
            "search-svc",
            spring(
                crash + timedelta(seconds=28),
                "INFO",
                "search-svc",
                "c.s.search.SearchApplication",
                "Started SearchApplication in 11.42 seconds (process running for 12.1)",
                s,
            ),
            "INFO",
        )
        for t in s.times(40, crash + timedelta(seconds=1), crash + timedelta(seconds=27)):
            s.emit(
                t,
                "catalog-gw",
                logfmt(
                    t,
                    "error",
                    "search/client.go:63",
                    "search call failed",
                    err="dial tcp 10.20.9.14:8080: connect: connection refused",
                    upstream="search-svc",
                ),
                "error",
            )
        for t in s.times(15, crash + timedelta(seconds=2), crash + timedelta(seconds=27)):
            s.emit(
                t,
                "edge-nginx",
                nginx_error(
                    t,
                    "upstream prematurely closed connection while "
                    'reading response header from upstream, request: "GET /search HTTP/1.1", '
                    'upstream: "http://10.20.7.3:9000/catalog/search"',
                    s,
                ),
                "error",
            )


def s03_disk_full_slow_burn(s: Scenario) -> None:
    """A volume fills over many minutes: warnings (filtered) first, then write errors that grow
    from a trickle to a flood, then callers' upload failures."""
    bg_python(s, "uploads-svc", 30, ["/v1/uploads/9", "/healthz"])
    bg_spring(s, "media-api", 40, ["/v1/media/42", "/v1/albums/7"])
    bg_nginx(s, "edge-nginx", 50, ["/", "/upload", "/static/app.js"])
    t_warn = s.start + timedelta(minutes=3)
    t0 = s.start + timedelta(minutes=6, seconds=40)
    for i, t in enumerate(s.times(1, t_warn, t0)):
        s.emit(
            t,
            "uploads-svc",
            pylog(
                t,
                "WARNING",
                "uploads.storage",
                f"volume /data usage at {88 + i // 2}% (threshold 85%)",
            ),
            "WARNING",
        )
    s.expect("uploads-svc", "No space left on device", ["media-api"], t0)
    end = s.start + timedelta(minutes=19)
    for t in s.ramp(t0, end, 1.5, 14):
        s.emit(
            t,
            "uploads-svc",
            pylog(
                t,
                "ERROR",
                "uploads.api",
                f"Failed to store upload "
                f'{_hex(s.rng, 12)}\nTraceback (most recent call last):\n  File "/app/uploads/'
                'storage.py", line 58, in write\n    fh.write(chunk)\nOSError: [Errno 28] No space '
                "left on device: '/data/tmp/upload.part'",
            ),
            "ERROR",
        )
    for t in s.ramp(t0 + timedelta(seconds=50), end, 0.8, 9):
        s.emit(
            t,
            "media-api",
            spring(
                t,
                "ERROR",
                "media-api",
                "c.s.media.UploadService",
                'Upload to uploads-svc failed: 500 INTERNAL_SERVER_ERROR "storage write failed"',
                s,
            ),
            "ERROR",
        )


def s04_overlapping_incidents(s: Scenario) -> None:
    """Two unrelated incidents overlap: an expired TLS certificate at a payment provider's
    client, and three minutes later DNS failures in the mailer."""
    bg_go(s, "payments-svc", 40, ["/v1/charges", "/v1/refunds"])
    bg_spring(s, "checkout-api", 40, ["/v1/checkout/7", "/v1/cart/3"])
    bg_python(s, "mailer", 20, ["/v1/send", "/healthz"])
    bg_nginx(s, "edge-nginx", 50, ["/", "/checkout", "/static/app.js"])
    t1 = s.start + timedelta(minutes=6, seconds=20)
    s.expect("payments-svc", "x509|certificate", ["checkout-api"], t1)
    for t in s.times(20, t1, t1 + timedelta(minutes=7)):
        s.emit(
            t,
            "payments-svc",
            logfmt(
                t,
                "error",
                "provider/client.go:112",
                "charge failed",
                err='Post "https://api.paygate.example/v2/charges": tls: failed to verify '
                "certificate: x509: certificate has expired or is not yet valid: current time "
                f"{_iso(t)} is after 2026-03-02T00:00:00Z",
                charge_id=f"ch_{_hex(s.rng, 10)}",
            ),
            "error",
        )
    for t in s.times(12, t1 + timedelta(seconds=8), t1 + timedelta(minutes=7)):
        s.emit(
            t,
            "checkout-api",
            spring(
                t,
                "ERROR",
                "checkout-api",
                "c.s.checkout.PaymentStep",
                "Payment authorization failed for order "
                f"{s.rng.randint(10**6, 10**7)}: payments-svc returned 502 BAD_GATEWAY",
                s,
            ),
            "ERROR",
        )
    t2 = t1 + timedelta(minutes=3, seconds=10)
    s.expect("mailer", "name resolution|resolve", [], t2)
    for t in s.times(10, t2, t2 + timedelta(minutes=6)):
        s.emit(
            t,
            "mailer",
            pylog(
                t,
                "ERROR",
                "mailer.smtp",
                "Failed to send message "
                f"<{_hex(s.rng, 10)}@shop.example>\nTraceback (most recent call last):\n  File "
                '"/app/mailer/smtp.py", line 40, in send\n    conn = smtplib.SMTP(host, 587, '
                "timeout=10)\nsocket.gaierror: [Errno -3] Temporary failure in name resolution",
            ),
            "ERROR",
        )


def s05_recurring_deadlock(s: Scenario) -> None:
    """The same incident twice: a batch job deadlocks against the API on the same table every
    time it runs, 11 minutes apart."""
    bg_spring(s, "billing-api", 40, ["/v1/invoices/5", "/v1/customers/9/invoices"])
    bg_python(s, "billing-batch", 8, ["/healthz"])
    bg_postgres(s, "billing-db", "billing")
    for run in (
        s.start + timedelta(minutes=4, seconds=2),
        s.start + timedelta(minutes=15, seconds=2),
    ):
        s.emit(
            run - timedelta(seconds=2),
            "billing-batch",
            pylog(run - timedelta(seconds=2), "INFO", "batch.runner", "starting job close_period"),
            "INFO",
        )
        s.expect("billing-db", "deadlock detected", ["billing-api", "billing-batch"], run)
        for t in s.times(12, run, run + timedelta(minutes=2, seconds=30)):
            pid = s.rng.randint(1000, 99999)
            s.emit(
                t,
                "billing-db",
                pg(t, pid, "batch@billing", "ERROR", "deadlock detected")
                + f"\n{t:%Y-%m-%d %H:%M:%S} UTC [{pid}] DETAIL:  Process {pid} waits for "
                f"ShareLock on transaction {s.rng.randint(10**6, 10**7)}; blocked by process "
                f"{s.rng.randint(1000, 99999)}.",
            )
        for t in s.times(10, run + timedelta(seconds=1), run + timedelta(minutes=2, seconds=35)):
            s.emit(
                t,
                "billing-api",
                spring(
                    t,
                    "ERROR",
                    "billing-api",
                    "c.s.billing.InvoiceService",
                    "Could not update invoice\norg.springframework.dao.CannotAcquireLockException: "
                    "could not execute statement\nCaused by: org.postgresql.util.PSQLException: "
                    "ERROR: deadlock detected\n  Detail: Process 4242 waits for ShareLock on "
                    "transaction 9001; blocked by process 4243.",
                    s,
                ),
                "ERROR",
            )
        for t in s.times(4, run + timedelta(seconds=3), run + timedelta(minutes=2, seconds=30)):
            s.emit(
                t,
                "billing-batch",
                pylog(
                    t,
                    "ERROR",
                    "batch.close_period",
                    "row update failed,"
                    " retrying\npsycopg2.errors.DeadlockDetected: deadlock detected",
                ),
                "ERROR",
            )


def s06_quiet(s: Scenario) -> None:
    """Noise only: routine errors at their usual rates, nothing to report."""
    shop_background(s)
    bg_go(s, "inventory-svc", 30, ["/v1/stock/1", "/v1/stock/2"])
    bg_python(s, "recs-svc", 20, ["/v1/recs/9"])


def s07_chained_exceptions(s: Scenario) -> None:
    """A Java service whose database host no longer resolves: the outer exception is a generic
    data-access error, the innermost `Caused by:` names the DNS failure."""
    bg_spring(s, "ledger-svc", 40, ["/v1/ledger/1", "/v1/ledger/2"])
    bg_spring(s, "accounts-api", 40, ["/v1/accounts/3"])
    bg_nginx(s, "edge-nginx", 50, ["/", "/accounts"])
    t0 = s.start + timedelta(minutes=8, seconds=31)
    s.expect("ledger-svc", "UnknownHostException", ["accounts-api", "edge-nginx"], t0)
    for t in s.times(22, t0, t0 + timedelta(minutes=6)):
        s.emit(
            t,
            "ledger-svc",
            spring(
                t,
                "ERROR",
                "ledger-svc",
                "o.a.c.c.C.[.[.[/].[dispatcherServlet]",
                "Servlet.service() threw exception [Request processing failed: org.springframework."
                "dao.DataAccessResourceFailureException: Unable to acquire JDBC "
                "Connection] with root "
                "cause\norg.springframework.dao.DataAccessResourceFailureException: "
                "Unable to acquire "
                "JDBC Connection\n\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect."
                "convertHibernateAccessException(HibernateJpaDialect.java:277)\nCaused by: org."
                "hibernate.exception.JDBCConnectionException: Unable to open JDBC "
                "Connection for DDL "
                "execution\n\tat "
                "org.hibernate.exception.internal.SQLStateConversionDelegate.convert("
                "SQLStateConversionDelegate.java:100)\nCaused by: java.net.UnknownHostException: "
                "ledger-pg.db.internal: Name or service not known\n\tat java.base/java.net."
                "Inet6AddressImpl.lookupAllHostAddr(Native Method)",
                s,
            ),
            "ERROR",
        )
    for t in s.times(14, t0 + timedelta(seconds=4), t0 + timedelta(minutes=6)):
        s.emit(
            t,
            "accounts-api",
            spring(
                t,
                "ERROR",
                "accounts-api",
                "c.s.accounts.LedgerClient",
                "Balance lookup failed\norg.springframework.web.client.HttpServerErrorException$"
                "InternalServerError: 500 Internal Server Error from "
                "ledger-svc\nCaused by: java.net."
                "SocketTimeoutException: Read timed out",
                s,
            ),
            "ERROR",
        )
    for t in s.times(8, t0 + timedelta(seconds=6), t0 + timedelta(minutes=6)):
        s.emit(
            t,
            "edge-nginx",
            nginx_error(
                t,
                "upstream timed out (110: Connection timed out) "
                'while reading response header from upstream, request: "GET /accounts HTTP/1.1", '
                'upstream: "http://10.20.3.9:8080/v1/accounts/3"',
                s,
            ),
            "error",
        )


def s08_bad_config_deploy(s: Scenario) -> None:
    """A deploy (INFO lines, filtered) ships a config without a required setting: the new pods
    crash at boot; their callers see connection refused."""
    bg_python(s, "pricing-svc", 30, ["/v1/price/4", "/healthz"])
    bg_go(s, "cart-svc", 40, ["/v1/cart/1", "/v1/cart/2"])
    bg_node(s, "web-bff", 30, ["/", "/cart"])
    t_deploy = s.start + timedelta(minutes=5, seconds=50)
    s.emit(
        t_deploy,
        "pricing-svc",
        pylog(
            t_deploy, "INFO", "pricing.boot", "starting pricing-svc version 4.12.0 (git 9f2c1ab)"
        ),
        "INFO",
    )
    t0 = t_deploy + timedelta(seconds=3)
    s.expect("pricing-svc", "PRICING_RULES_URL|configuration", ["cart-svc", "web-bff"], t0)
    for i in range(8):
        t = t0 + timedelta(seconds=40 * i + s.rng.uniform(0, 5))
        s.emit(
            t,
            "pricing-svc",
            pylog(
                t,
                "CRITICAL",
                "pricing.boot",
                "Invalid configuration: "
                "missing required setting PRICING_RULES_URL\nTraceback (most recent call last):\n"
                '  File "/app/pricing/settings.py", line 31, in load\n    rules_url = '
                "os.environ[\"PRICING_RULES_URL\"]\nKeyError: 'PRICING_RULES_URL'",
            ),
            "CRITICAL",
        )
        s.emit(
            t + timedelta(milliseconds=20),
            "pricing-svc",
            pylog(t, "ERROR", "gunicorn.error", "Worker (pid:7) exited with code 3"),
            "ERROR",
        )
    for t in s.times(30, t0 + timedelta(seconds=6), t0 + timedelta(minutes=5, seconds=30)):
        s.emit(
            t,
            "cart-svc",
            logfmt(
                t,
                "error",
                "pricing/client.go:51",
                "price lookup failed",
                err="dial tcp 10.20.5.8:8000: connect: connection refused",
                sku=str(s.rng.randint(1, 9999)),
            ),
            "error",
        )
    for t in s.times(8, t0 + timedelta(seconds=9), t0 + timedelta(minutes=5, seconds=30)):
        s.emit(
            t,
            "web-bff",
            pino(
                t,
                50,
                "cart render failed",
                s,
                err={"type": "HTTPError", "message": "Response code 503 (Service Unavailable)"},
            ),
        )


def s09_rate_limited(s: Scenario) -> None:
    """A notification worker exceeds its SMS provider's quota: 429s with a retry-after, then the
    order pipeline's consumer falls behind and logs delivery errors."""
    bg_python(s, "notify-worker", 20, ["/healthz"])
    bg_go(s, "order-events", 40, ["/consume"])
    bg_spring(s, "orders-api", 30, ["/v1/orders/1"])
    t0 = s.start + timedelta(minutes=10, seconds=5)
    s.expect("notify-worker", "429|rate limit", ["order-events"], t0)
    for t in s.times(25, t0, t0 + timedelta(minutes=5)):
        s.emit(
            t,
            "notify-worker",
            pylog(
                t,
                "ERROR",
                "notify.sms",
                "SMS provider rejected send: "
                "HTTP 429 Too Many Requests (rate limit 100/min exceeded, retry after 37s)",
            ),
            "ERROR",
        )
    for t in s.times(9, t0 + timedelta(seconds=45), t0 + timedelta(minutes=5, seconds=20)):
        s.emit(
            t,
            "order-events",
            logfmt(
                t,
                "error",
                "consumer/loop.go:140",
                "handler failed",
                err="notify-worker: deliver notification: status 503",
                topic="orders",
                partition=str(s.rng.randint(0, 11)),
            ),
            "error",
        )


def s10_null_deref_after_deploy(s: Scenario) -> None:
    """A frontend release reads a field the API no longer sends: TypeErrors in the BFF, 502s at
    the edge. A routine API warning burst happens at the same time (a red herring)."""
    bg_node(s, "web-bff", 50, ["/", "/product/42", "/cart"])
    bg_spring(s, "catalog-api", 40, ["/v1/products/42"])
    bg_nginx(s, "edge-nginx", 70, ["/", "/product/42", "/static/app.js"])
    t0 = s.start + timedelta(minutes=7, seconds=44)
    s.emit(
        t0 - timedelta(seconds=20),
        "web-bff",
        pino(t0 - timedelta(seconds=20), 30, "server listening on :3000 (release 2026.03.1)", s),
    )
    s.expect("web-bff", "Cannot read properties of undefined", ["edge-nginx"], t0)
    for t in s.times(30, t0, t0 + timedelta(minutes=6)):
        s.emit(
            t,
            "web-bff",
            pino(
                t,
                50,
                "unhandled error in route /product/:id",
                s,
                err={
                    "type": "TypeError",
                    "message": "Cannot read properties of undefined (reading 'amount')",
                    "stack": "TypeError: Cannot read properties of undefined (reading "
                    "'amount')\n    at formatPrice (/app/dist/price.js:14:31)\n    at "
                    "renderProduct "
                    "(/app/dist/routes/product.js:88:17)",
                },
            ),
        )
    for t in s.times(25, t0 + timedelta(seconds=1), t0 + timedelta(minutes=6)):
        s.emit(
            t,
            "edge-nginx",
            nginx_error(
                t,
                "upstream prematurely closed connection while "
                'reading response header from upstream, request: "GET /product/42 HTTP/1.1", '
                'upstream: "http://10.20.1.5:3000/product/42"',
                s,
            ),
            "error",
        )
    for t in s.times(6, t0 + timedelta(seconds=50), t0 + timedelta(minutes=2)):
        s.emit(
            t,
            "catalog-api",
            spring(
                t,
                "WARN",
                "catalog-api",
                "c.s.catalog.PriceMapper",
                "price.amount is deprecated, clients should read price.value",
                s,
            ),
            "WARN",
        )


def s11_thread_pool_exhaustion(s: Scenario) -> None:
    """A fraud-check service's worker pool is exhausted; the payment service's calls to it time
    out and fall back. The callee's errors start first and the caller names it."""
    bg_spring(s, "fraud-svc", 30, ["/v1/score"])
    bg_go(s, "payments-svc", 40, ["/v1/charges"])
    bg_postgres(s, "payments-db", "payments")
    t0 = s.start + timedelta(minutes=5, seconds=17)
    s.expect("fraud-svc", "RejectedExecution|pool", ["payments-svc"], t0)
    for t in s.times(16, t0, t0 + timedelta(minutes=6)):
        s.emit(
            t,
            "fraud-svc",
            spring(
                t,
                "ERROR",
                "fraud-svc",
                "c.s.fraud.ScoringController",
                "Scoring request rejected\n"
                "org.springframework.core.task.TaskRejectedException: Executor "
                "[scoring-pool] did not "
                "accept task\nCaused by: "
                "java.util.concurrent.RejectedExecutionException: Thread pool "
                "exhausted (active=64, queued=1000/1000)",
                s,
            ),
            "ERROR",
        )
    for t in s.times(22, t0 + timedelta(seconds=20), t0 + timedelta(minutes=6, seconds=10)):
        s.emit(
            t,
            "payments-svc",
            logfmt(
                t,
                "error",
                "fraud/client.go:77",
                "fraud check failed, falling back to manual review",
                err='Post "http://fraud-svc:8080/v1/score": '
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                charge_id=f"ch_{_hex(s.rng, 10)}",
            ),
            "error",
        )


def s12_panic_in_heavy_noise(s: Scenario) -> None:
    """A small incident in heavy routine noise: an image resizer panics on a nil pointer for one
    kind of upload and restarts; the edge logs a handful of 502s."""
    shop_background(s)
    bg_go(s, "image-resizer", 40, ["/resize/200x200", "/resize/800x600"])
    bg_go(s, "inventory-svc", 40, ["/v1/stock/1"])
    for t in s.times(1.2):  # extra routine errors in a chatty service
        s.emit(
            t,
            "inventory-svc",
            logfmt(t, "error", "cache/redis.go:90", "cache miss fallback", err="redis: nil"),
            "error",
        )
    t0 = s.start + timedelta(minutes=11, seconds=8)
    s.expect("image-resizer", "nil pointer dereference", ["edge-nginx"], t0)
    for i in range(6):
        t = t0 + timedelta(seconds=22 * i + s.rng.uniform(0, 4))
        s.emit(
            t,
            "image-resizer",
            "panic: runtime error: invalid memory address or nil pointer "
            "dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 "
            "pc=0x6f2a1c]\n\ngoroutine 1187 [running]:\nmain.(*Resizer).decodeWebP(0x0, ...)\n"
            "\t/src/resizer/webp.go:57 +0x3c\nmain.(*Server).handleResize(...)\n"
            "\t/src/resizer/server.go:112 +0x1a5",
        )
        for k in range(3):
            te = t + timedelta(milliseconds=200 + 700 * k)
            s.emit(
                te,
                "edge-nginx",
                nginx_error(
                    te,
                    "upstream prematurely closed connection "
                    'while reading response header from upstream, request: "GET /img/p/42.webp '
                    'HTTP/1.1", upstream: "http://10.20.8.2:8080/resize/800x600"',
                    s,
                ),
                "error",
            )


SCENARIOS: list[tuple[str, int, Callable[[Scenario], None]]] = [
    ("s01-db-pool-exhaustion", 18, s01_db_pool_exhaustion),
    ("s02-oom-crash-loop", 16, s02_oom_crash_loop),
    ("s03-disk-full-slow-burn", 20, s03_disk_full_slow_burn),
    ("s04-overlapping-incidents", 17, s04_overlapping_incidents),
    ("s05-recurring-deadlock", 21, s05_recurring_deadlock),
    ("s06-quiet", 15, s06_quiet),
    ("s07-chained-exceptions", 16, s07_chained_exceptions),
    ("s08-bad-config-deploy", 15, s08_bad_config_deploy),
    ("s09-rate-limited", 18, s09_rate_limited),
    ("s10-null-deref-after-deploy", 16, s10_null_deref_after_deploy),
    ("s11-thread-pool-exhaustion", 14, s11_thread_pool_exhaustion),
    ("s12-panic-in-heavy-noise", 16, s12_panic_in_heavy_noise),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.make_scenarios")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--seed",
        type=int,
        default=1000,
        help="another seed gives another draw of the same scenarios (held-out runs)",
    )
    args = parser.parse_args(argv)
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for index, (name, minutes, build) in enumerate(SCENARIOS):
        scenario = Scenario(
            name, seed=args.seed + index, start=base + timedelta(days=index), minutes=minutes
        )
        build(scenario)
        scenario.write(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
