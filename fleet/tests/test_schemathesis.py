"""The whole API fuzzed against its own OpenAPI schema: no 5xx, and every response conforms to the schema."""

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from accounts.choices import Role
from accounts.models import Organisation
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets import services
from assets.choices import AssetStatus
from assets.models import Asset, AssetModel, Manufacturer, PartType, Site
from assets.tests.factories import AssetFactory, AssetModelFactory, PartTypeFactory, SiteFactory
from fleet.wsgi import application

SEED = 20240601
MAX_EXAMPLES = 12

config = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"deterministic": True, "database": "none", "max-examples": MAX_EXAMPLES},
        # The coverage phase walks every boundary of every parameter and has no example bound: positive values
        # only keep the run short. Schema-violating input comes from the fuzzing phase.
        "phases": {"coverage": {"generation": {"mode": "positive"}}},
        # A schema cannot say which ids exist: a schema-valid id of no visible row is rightly a 400 or 404.
        # DRF is lenient where the schema is strict (a number for a decimal string, an unparsable page_size
        # falls back to the default), so schema-violating input may rightly succeed.
        "checks": {"positive_data_acceptance": {"enabled": False}, "negative_data_rejection": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application, config=config)


def reach_existing_row(case, ids: dict[str, list[int]]) -> None:
    """Point a generated non-negative integer id at an existing row, so writes and actions run on real objects.

    Every phase (examples, coverage, fuzzing) goes through here. Negative and malformed ids stay as generated:
    they exercise the 404 path.
    """
    collection = case.path.removeprefix("/api/v1/").split("/")[0]
    value = (case.path_parameters or {}).get("id")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if ids.get(collection) and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        case.path_parameters["id"] = ids[collection][value % len(ids[collection])]


@pytest.fixture
def wsgi_keeps_test_connection():
    """Calls through the WSGI application keep the test's database connection, as Django's test client does.

    After each request Django closes a connection that is inside a transaction; the test's own transaction
    must survive every generated request, so the signal handler is off for the duration of the test.
    Throttle counts of the token endpoint live in the cache, so it is emptied afterwards.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
    cache.clear()


@pytest.fixture
def registry(db, wsgi_keeps_test_connection):
    """A populated registry, a real token of its provider admin, and the ids of its rows by collection."""
    provider = ProviderFactory()
    admin = member(provider, Role.PROVIDER_ADMIN, email="fuzz-admin@provider.example")
    for name in ("Fuzz Office KK", "Fuzz Logistics KK"):
        customer = CustomerFactory(provider=provider, name=name)
        for _ in range(2):
            site = SiteFactory(customer=customer)
            AssetFactory.create_batch(2, customer=customer, site=site)
    # History written by system callers (imports, commands) has no author.
    services.asset_change_status(asset=Asset.objects.first(), status=AssetStatus.STANDBY, by=None)
    part_type = PartTypeFactory()
    part_type.asset_models.add(AssetModelFactory())
    token = Token.objects.create(user=admin)
    return {
        "headers": {"Authorization": f"Token {token.key}"},
        "ids": {
            "assets": list(Asset.objects.values_list("pk", flat=True)),
            "sites": list(Site.objects.values_list("pk", flat=True)),
            "organisations": list(Organisation.objects.values_list("pk", flat=True)),
            "manufacturers": list(Manufacturer.objects.values_list("pk", flat=True)),
            "asset-models": list(AssetModel.objects.values_list("pk", flat=True)),
            "part-types": list(PartType.objects.values_list("pk", flat=True)),
        },
    }


@pytest.mark.django_db(transaction=False)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case, registry):
    reach_existing_row(case, registry["ids"])
    case.call_and_validate(headers=registry["headers"])
