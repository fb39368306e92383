"""A customer id names a person only together with its brand: an admin's GDPR request by customer id must name
the brand (422 otherwise) and never reaches another brand's customer of the same id nor follows the wallet into
other brands. Before the fix, an admin's `{"customer_id": ...}` erased every brand's customer with that id."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from backend.bootstrap import Container
from tests.integration.notifications.conftest import WALLET, Brand, purchase
from tests.integration.notifications.test_notif_gdpr import EMAIL, add_profile

CUSTOMER = "cust-4711"
OTHER_WALLET = "0x" + "ef" * 20


@pytest.fixture
def same_id_at_two_brands(client: TestClient, container: Container, brand_a: Brand, brand_b: Brand) -> None:
    purchase(client, brand_a, 1, customer_id=CUSTOMER)
    purchase(client, brand_b, 1, customer_id=CUSTOMER, wallet=OTHER_WALLET)  # another person, same id string
    purchase(client, brand_b, 2, customer_id="cust-b-own")  # brand A's customer's wallet, known to brand B
    add_profile(container, _checksummed(WALLET))


def _checksummed(wallet: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(wallet))


@pytest.mark.usefixtures("same_id_at_two_brands")
def test_an_admins_customer_id_request_without_its_brand_is_refused(client: TestClient, admin: dict[str, str]) -> None:
    erase = client.post("/v1/gdpr/erase", json={"customer_id": CUSTOMER}, headers=admin)
    assert erase.status_code == 422 and erase.json()["code"] == "customer-id-needs-brand", erase.text
    export = client.get("/v1/gdpr/export", params={"customer_id": CUSTOMER}, headers=admin)
    assert export.status_code == 422 and export.json()["code"] == "customer-id-needs-brand", export.text
    for wallet in (WALLET, OTHER_WALLET):  # nothing was erased
        actions = client.get("/v1/gdpr/export", params={"wallet": wallet}, headers=admin).json()["tables"]["actions"]
        assert all(a["customer_id"] is not None for a in actions)


@pytest.mark.usefixtures("same_id_at_two_brands")
def test_erasing_one_brands_customer_leaves_other_brands_and_the_wallets_other_data(
    client: TestClient, admin: dict[str, str], brand_a: Brand, brand_b: Brand
) -> None:
    erased = client.post("/v1/gdpr/erase", json={"customer_id": CUSTOMER, "brand_id": brand_a.id}, headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] == {"actions": 1}

    mine = client.get("/v1/gdpr/export", params={"wallet": WALLET}, headers=admin).json()["tables"]
    by_brand = {a["brand_id"]: a["customer_id"] for a in mine["actions"]}
    assert by_brand == {brand_a.id: None, brand_b.id: "cust-b-own"}  # the wallet's row at brand B is untouched
    assert mine["shoppers"][0]["email"] == EMAIL  # the shopper's own profile is not brand A's to erase
    other = client.get("/v1/gdpr/export", params={"wallet": OTHER_WALLET}, headers=admin).json()["tables"]
    assert [a["customer_id"] for a in other["actions"]] == [CUSTOMER]  # brand B's customer of the same id
