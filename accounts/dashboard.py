"""Dashboard tiles of accounts: the customers a provider user looks after."""

from accounts.selectors import organisation_list
from fleet.dashboard import Tile
from fleet.tenancy import access_for

DASHBOARD_CUSTOMERS = 10


def customer_tiles(*, user) -> list[Tile]:
    access = access_for(user)
    if access is None or not access.is_provider_staff:
        return []
    customers = organisation_list(user=user).customers()
    return [
        Tile(
            "accounts/_dashboard_tiles.html",
            {
                "count": customers.count(),
                "largest": list(customers.order_by("-asset_count", "name")[:DASHBOARD_CUSTOMERS]),
            },
            order=5,
        )
    ]
