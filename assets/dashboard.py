"""The asset registry's dashboard tiles: assets by status, by category and by site."""

from assets.choices import AssetCategory, AssetStatus
from assets.selectors import asset_counts
from fleet.dashboard import Tile


def asset_tiles(*, user) -> list[Tile]:
    counts = asset_counts(user=user)
    by_status = [(label, counts["by_status"].get(value, 0), value) for value, label in AssetStatus.choices]
    by_category = [
        (label, counts["by_category"][value], value)
        for value, label in AssetCategory.choices
        if counts["by_category"].get(value)
    ]
    return [
        Tile(
            "assets/_dashboard_tiles.html",
            {
                "total": counts["total"],
                "by_status": by_status,
                "by_category": by_category,
                "by_site": counts["by_site"],
            },
            order=10,
        )
    ]
