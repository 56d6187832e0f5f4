"""Parse syslog messages (RFC 5424, RFC 3164) and map them onto a LogRecord.

Parsing never raises: a message that fits neither format is kept whole as a raw message
(`syslog.format=raw`), so nothing a sender writes is lost. PyPI's syslog parsers are unmaintained
(the last releases are from 2019-2021) and cover one format each, hence these few regexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from ingest_gateway.normalize.native import infer_level
from loginsight.model import Level, LogRecord

SyslogFormat = Literal["rfc5424", "rfc3164", "raw"]

# RFC 5424 section 6.2.1, with the names rsyslog and syslog-ng give codes 12-15.
FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

_SEVERITY_LEVELS = (
    Level.FATAL, Level.FATAL, Level.FATAL, Level.ERROR,
    Level.WARN, Level.INFO, Level.INFO, Level.DEBUG,
)  # fmt: skip

MAX_SD_PARAMS = 64  # structured-data parameters kept as attributes; the rest are dropped
MAX_FIELD_CHARS = 1024  # one header field or structured-data value
BOM = "\ufeff"

_PRI = re.compile(r"<(\d{1,3})>")
# RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID [SP SD [SP MSG]]
_RFC5424_HEADER = re.compile(r"1 (\S+) (\S+) (\S+) (\S+) (\S+)(?: |$)")
# RFC 3164: "Mmm dd hh:mm:ss" (day space-padded); many relays write RFC 3339 there instead.
_BSD_TIMESTAMP = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) ")
_ISO_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ")
_TAG = re.compile(r"([^\s:\[\]]{1,64})(?:\[([^\]\s]{1,128})\])?:(?: |$)")
_SD_NAME = re.compile(r'[^ ="\]]{1,32}')
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}


@dataclass(frozen=True)
class SyslogMessage:
    """One syslog message as its sender wrote it; absent (or nil "-") fields are None."""

    format: SyslogFormat
    message: str
    facility: int | None = None
    severity: int | None = None
    timestamp: datetime | None = None
    hostname: str | None = None
    app_name: str | None = None
    procid: str | None = None
    msgid: str | None = None
    structured_data: dict[str, str] = field(default_factory=dict)  # "sd-id.param" -> value


def decode_frame(data: bytes) -> str:
    """Bytes of one message as text: invalid UTF-8 replaced, trailing NUL/CR/LF removed."""
    return data.decode("utf-8", errors="replace").rstrip("\x00\r\n")


def parse_syslog(text: str, received: datetime) -> SyslogMessage:
    """Parse one message, trying RFC 5424, then RFC 3164, then keeping it raw."""
    pri = _PRI.match(text)
    if pri is None or int(pri.group(1)) > 191:
        return SyslogMessage(format="raw", message=text)
    facility, severity = divmod(int(pri.group(1)), 8)
    rest = text[pri.end() :]
    header = _RFC5424_HEADER.match(rest)
    if header is not None:
        return _parse_rfc5424(rest[header.end() :], header, facility, severity)
    return _parse_rfc3164(rest, facility, severity, received)


def _nil(value: str) -> str | None:
    return None if value == "-" else value[:MAX_FIELD_CHARS]


def _rfc3339(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_rfc5424(rest: str, header: re.Match[str], facility: int, severity: int) -> SyslogMessage:
    timestamp, hostname, app_name, procid, msgid = header.groups()
    structured: dict[str, str] = {}
    if rest.startswith("-"):
        message = rest[2:] if rest[1:2] == " " else rest[1:]
    else:
        parsed = parse_structured_data(rest)
        if parsed is None:  # not valid SD: keep everything as the message
            message = rest
        else:
            structured, end = parsed
            message = rest[end + 1 :] if rest[end : end + 1] == " " else rest[end:]
    return SyslogMessage(
        format="rfc5424",
        message=message.removeprefix(BOM),
        facility=facility,
        severity=severity,
        timestamp=_rfc3339(_nil(timestamp)),
        hostname=_nil(hostname),
        app_name=_nil(app_name),
        procid=_nil(procid),
        msgid=_nil(msgid),
        structured_data=structured,
    )


def parse_structured_data(text: str) -> tuple[dict[str, str], int] | None:
    """RFC 5424 STRUCTURED-DATA at the start of `text`: ({"id.param": value}, end index), or
    None when it is malformed. Values unescape \\" \\\\ and \\]."""
    params: dict[str, str] = {}
    i = 0
    while i < len(text) and text[i] == "[":
        sd_id = _SD_NAME.match(text, i + 1)
        if sd_id is None:
            return None
        i = sd_id.end()
        while i < len(text) and text[i] == " ":
            name = _SD_NAME.match(text, i + 1)
            if name is None or text[name.end() : name.end() + 2] != '="':
                return None
            value, i = _sd_value(text, name.end() + 2)
            if i < 0:
                return None
            if len(params) < MAX_SD_PARAMS:
                params[f"{sd_id.group()}.{name.group()}"] = value[:MAX_FIELD_CHARS]
        if i >= len(text) or text[i] != "]":
            return None
        i += 1
    return (params, i) if i > 0 else None


def _sd_value(text: str, start: int) -> tuple[str, int]:
    """The quoted value from `start` (after its opening quote) and the index after its closing
    quote; -1 when it never closes."""
    out: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] in ('"', "\\", "]"):
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    return "", -1


def _parse_rfc3164(rest: str, facility: int, severity: int, received: datetime) -> SyslogMessage:
    timestamp: datetime | None = None
    hostname: str | None = None
    stamp = _BSD_TIMESTAMP.match(rest) or _ISO_TIMESTAMP.match(rest)
    if stamp is not None:
        bsd = stamp.re is _BSD_TIMESTAMP
        timestamp = _bsd_time(stamp, received) if bsd else _rfc3339(stamp.group(1))
        rest = rest[stamp.end() :]
        first, _, after = rest.partition(" ")
        # HOSTNAME comes next, unless the sender left it out and the tag ("app[12]:") is here.
        if after and not first.endswith(":") and "[" not in first:
            hostname, rest = first[:MAX_FIELD_CHARS], after
    app_name = procid = None
    tag = _TAG.match(rest)
    # Without a timestamp this is bare content ("<11>myapp: boom" from Python's SysLogHandler):
    # still take a tag, but not a level word such as "ERROR:".
    if tag and (timestamp or hostname or Level.parse(tag.group(1)) is None):
        app_name, procid = tag.group(1), tag.group(2)
        rest = rest[tag.end() :]
    return SyslogMessage(
        format="rfc3164",
        message=rest,
        facility=facility,
        severity=severity,
        timestamp=timestamp,
        hostname=hostname,
        app_name=app_name,
        procid=procid,
    )


def _bsd_time(match: re.Match[str], received: datetime) -> datetime | None:
    """An RFC 3164 timestamp has no year and no zone: the receiver's local time, in the year
    that puts it closest before now (December messages read in January are last year's)."""
    month = _MONTHS.get(match.group(1))
    if month is None:
        return None
    day, hour, minute, second = (int(match.group(n)) for n in range(2, 6))
    now = received.astimezone()
    for year in (now.year, now.year - 1):
        try:
            stamp = datetime(year, month, day, hour, minute, second, tzinfo=now.tzinfo)
        except ValueError:  # Feb 29 outside a leap year, day 0 ...
            continue
        if stamp <= now + timedelta(days=2):  # clocks drift; a little future is fine
            return stamp.astimezone(UTC)
    return None


def level_of(severity: int) -> Level:
    """Syslog severity 0-7 onto a level: 0-2 fatal, 3 error, 4 warn, 5-6 info, 7 debug."""
    return _SEVERITY_LEVELS[severity]


def to_record(
    message: SyslogMessage,
    *,
    received: datetime,
    source: str = "syslog",
    extra: dict[str, str] | None = None,
) -> LogRecord:
    """The LogRecord of one parsed message; `extra` adds transport attributes."""
    level = level_of(message.severity) if message.severity is not None else None
    attributes = {"syslog.format": message.format, **(extra or {})}
    if message.facility is not None and message.severity is not None:
        attributes["syslog.facility"] = FACILITIES[message.facility]
        attributes["syslog.severity"] = SEVERITIES[message.severity]
    for key, value in (
        ("syslog.app_name", message.app_name),
        ("syslog.procid", message.procid),
        ("syslog.msgid", message.msgid),
    ):
        if value is not None:
            attributes[key] = value
    attributes.update({f"syslog.sd.{k}": v for k, v in message.structured_data.items()})
    level = level or infer_level(message.message)
    return LogRecord(
        event_time=message.timestamp or received,
        received_time=received,
        source=source,
        service=message.app_name or message.hostname or "unknown",
        host=message.hostname,
        level=level,
        severity_number=level.severity_number,
        # Relays keep the space after "tag:" (rsyslog's %msg%) and add a final newline.
        message=message.message.strip(),
        attributes=attributes,
    )
