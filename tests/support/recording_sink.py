"""An event sink for tests: it delivers nothing and keeps every event it is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vaporforge.events import EventType, Subject, build


@dataclass
class RecordingSink:
    """Keeps the events it was given, built as any sink builds them, for a test to read."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, kind: EventType, subject: Subject, error_code: str = "") -> None:
        self.events.append(build(kind, subject, error_code))
