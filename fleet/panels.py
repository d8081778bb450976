"""Detail-page panels: later apps add blocks to an earlier app's detail pages without an import cycle.

The asset page belongs to ``assets``, yet telemetry (charts, events, alerts) and maintenance (work orders)
show their part of an asset on it; the work-order page (key ``"work_order"``) gathers the areas of maintenance
(service level, work done, approval, inspection) the same way. Each registers
``provider(user=..., obj=...) -> list[Tile]`` for a page key in its ``AppConfig.ready()``; the page renders what
the providers return, in ``order``.
"""

from collections.abc import Callable

from fleet.dashboard import Tile

_providers: dict[str, list[Callable[..., list[Tile]]]] = {}


def register_panel(page: str, provider: Callable[..., list[Tile]]) -> None:
    providers = _providers.setdefault(page, [])
    if provider not in providers:
        providers.append(provider)


def panels_for(page: str, *, user, obj) -> list[Tile]:
    tiles = [tile for provider in _providers.get(page, []) for tile in provider(user=user, obj=obj)]
    return sorted(tiles, key=lambda tile: tile.order)
