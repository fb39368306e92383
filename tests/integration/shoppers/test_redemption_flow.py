"""Claiming an offer end to end on the in-process chain: prepare → sign → relay → settle → code + QR."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.integration.shoppers.kit import TOKEN, Shop, Wallet, balance, claim, relay_and_settle


def test_a_signed_claim_is_relayed_and_confirmed_with_a_code_and_qr(shop: Shop, client: TestClient) -> None:
    wallet = Wallet()
    shop.fund(wallet.address, 50)
    offer = shop.offer(cost="20", stock=3)
    headers = wallet.sign_in(client)

    response = claim(client, wallet, headers, offer["id"])
    assert response.status_code == 202, response.text
    pending = response.json()
    assert pending["status"] == "pending"

    available = client.get("/v1/offers/available", params={"wallet": wallet.address}).json()
    (balance_row,) = available["balances"]
    assert int(balance_row["pending"]) == 20 * TOKEN and int(balance_row["spendable"]) == 30 * TOKEN

    relay_and_settle(shop.container)
    done = client.get(f"/v1/redemptions/{pending['id']}", headers=headers).json()
    assert done["status"] == "confirmed" and len(done["code"]) == 10 and done["tx_hash"]
    assert balance(shop.container, shop.token, wallet.address) == 30 * TOKEN
    assert shop.container.chain.w3.eth.get_balance(wallet.account.address) == 0  # the shopper paid no gas

    png = client.get(f"/v1/redemptions/{pending['id']}/qr.png", headers=headers)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    history = client.get("/v1/me/redemptions", headers=headers).json()
    assert [h["id"] for h in history] == [pending["id"]]
    brand_view = client.get(f"/v1/brands/{shop.brand_id}/redemptions", headers=shop.headers).json()
    assert [(r["id"], r["code"]) for r in brand_view] == [(pending["id"], done["code"])]
    offer_now = client.get(f"/v1/offers/{offer['id']}").json()
    assert offer_now["stock_left"] == 2


def test_balances_come_from_the_indexer_mirror_once_it_runs(shop: Shop, client: TestClient) -> None:

    wallet = Wallet()
    shop.fund(wallet.address, 12)
    offer = shop.offer(cost="5")
    for _ in range(50):
        if not shop.container.streamer.step():
            break
    seen = client.get("/v1/offers/available", params={"wallet": wallet.address}).json()
    mirrored = next(b for b in seen["balances"] if b["token"] == shop.token)
    assert (mirrored["source"], mirrored["on_chain"]) == ("mirror", str(12 * TOKEN))
    headers = wallet.sign_in(client)
    assert claim(client, wallet, headers, offer["id"]).status_code == 202
    relay_and_settle(shop.container)
    # The mirror has not seen the burn yet: the confirmed redemption is subtracted until it does.
    lagging = client.get("/v1/offers/available", params={"wallet": wallet.address}).json()["balances"][0]
    assert lagging["spendable"] == str(7 * TOKEN)
    for _ in range(50):
        if not shop.container.streamer.step():
            break
    caught_up = client.get("/v1/offers/available", params={"wallet": wallet.address}).json()["balances"][0]
    assert (caught_up["source"], caught_up["spendable"]) == ("mirror", str(7 * TOKEN))
