"""Dashboard tiles: each app registers what it shows on the dashboard (fleet imports no app)."""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tile:
    """A block of the dashboard, rendered with its own template and context."""

    template_name: str
    context: dict = field(default_factory=dict)
    order: int = 100


_providers: list[Callable[..., list[Tile]]] = []


def register_dashboard_tiles(provider: Callable[..., list[Tile]]) -> None:
    """Register ``provider(user=...) -> list[Tile]``; apps call this in ``AppConfig.ready()``."""
    if provider not in _providers:
        _providers.append(provider)


def dashboard_tiles(*, user) -> list[Tile]:
    tiles = [tile for provider in _providers for tile in provider(user=user)]
    return sorted(tiles, key=lambda tile: tile.order)
