"""Plain helpers the API tests import by name (a conftest is not importable reliably across test folders)."""

T_SHIRT = "Men's T-shirt, 100% cotton, knitted jersey, short sleeves"
SCREWS = "Wood screws of stainless steel, threaded, 40 mm"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
