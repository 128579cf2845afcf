"""One page of the explorer, registered once: its URL name, its title, the URL parameters it owns
(the others are dropped when the page changes), and what draws it."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Tuple


@dataclasses.dataclass(frozen=True)
class Page:
    name: str
    title: str
    params: Tuple[str, ...]
    render: Callable[[Optional[str], Any], None]
