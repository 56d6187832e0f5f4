"""What every `loginsight` command shares: the consoles, shared options, and friendly errors."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Annotated, NoReturn

import psycopg
import typer
from rich.console import Console
from rich.text import Text

from loginsight.bus import BusUnavailable
from loginsight.client import GatewayError
from loginsight.insight_lookup import InsightNotFound
from loginsight.settings import Settings
from loginsight.terminal_views import plain

console = Console()
# soft_wrap: a one-line error stays one line, whatever the terminal width.
err = Console(stderr=True, soft_wrap=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output")]
UrlOption = Annotated[str | None, typer.Option(help="gateway base URL")]
ServiceOption = Annotated[str | None, typer.Option(help="only this service")]


def gateway_url(settings: Settings, url: str | None) -> str:
    return (url or settings.gateway.base_url).rstrip("/")


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 1."""
    err.print(Text.assemble(("error: ", "bold red"), plain(message)))
    raise typer.Exit(1)


@contextlib.contextmanager
def friendly(action: str) -> Iterator[None]:
    """Turn the failures a user can fix into one line that says what to do."""
    try:
        yield
    except GatewayError as exc:
        fail(f"{action} failed: {exc}")
    except (InsightNotFound, ValueError) as exc:
        fail(str(exc))
    except BusUnavailable as exc:
        fail(f"{action} failed: the bus is unavailable ({exc}); is Kafka running?")
    except (sqlite3.Error, psycopg.Error) as exc:
        fail(
            f"{action} failed: the insight store is unavailable ({str(exc).strip()}); "
            "check LOGINSIGHT_STORE and LOGINSIGHT_POSTGRES__DSN"
        )
