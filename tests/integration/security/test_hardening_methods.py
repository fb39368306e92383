"""Every documented path answers a method it does not serve with 405 and an `Allow` naming every method it does."""

from __future__ import annotations

import re

from tests.integration.security.conftest import World

OTHER_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _served(world: World) -> dict[str, set[str]]:
    paths = world.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    served = {}
    for path, item in paths.items():
        methods = {m.upper() for m in item if m.upper() in OTHER_METHODS}
        served[path] = methods | ({"HEAD"} if "GET" in methods else set())
    return served


def test_every_wrong_method_on_every_route_is_405_with_the_full_allow(world: World) -> None:
    served = _served(world)
    wrong = []
    for path, methods in served.items():
        url = re.sub(r"\{[^}]+\}", lambda m: world.params.get(m.group(0)[1:-1], "1"), path)
        for method in sorted(set(OTHER_METHODS) - methods):
            response = world.client.request(method, url, headers=world.callers["admin"])
            allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
            if response.status_code != 405 or allow != methods:
                wrong.append((method, path, response.status_code, sorted(allow)))
            elif method != "HEAD":
                assert response.json()["code"] == "method-not-allowed"
    assert len(served) > 40  # the whole API was enumerated
    assert wrong == []


def test_action_suffix_paths_are_not_swallowed_by_the_id_route(world: World) -> None:
    a, key = world.brand_a, world.params["key_id"]
    response = world.client.delete(f"/v1/brands/{a}/api-keys/{key}:rotate", headers=world.callers["admin"])
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert world.client.get(f"/v1/brands/{a}/api-keys", headers=world.callers["admin"]).status_code == 200
