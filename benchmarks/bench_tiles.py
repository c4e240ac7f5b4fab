"""Tile reading for the base map: MBTiles and PMTiles (data/tiles.py, a file opened per request as
the route does) against reading the same PNGs from an XYZ folder (the reference, measured in the
same run), and the app's /tiles route end to end on a waitress server on loopback.

Run: ``.venv/bin/python benchmarks/bench_tiles.py [--tiles 2000]``
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.tiles import read_tile, write_tileset  # noqa: E402


def _tiles(n: int, seed: int = 0) -> dict[tuple[int, int, int], bytes]:
    rng = np.random.default_rng(seed)
    out = {}
    z = 14
    side = int(np.ceil(np.sqrt(n)))
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)[::8, ::8].repeat(8, 0).repeat(8, 1)).save(
            buf, format="PNG")
        out[(z, 13000 + i % side, 6000 + i // side)] = buf.getvalue()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", type=int, default=2000)
    n = ap.parse_args().tiles
    tiles = _tiles(n)
    keys = list(tiles)
    rng = np.random.default_rng(1)
    order = [keys[i] for i in rng.integers(0, len(keys), 2000)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for (z, x, y), data in tiles.items():
            p = tmp / "xyz" / str(z) / str(x) / f"{y}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        files = {s: write_tileset(tmp / f"city.{s}", tiles) for s in ("mbtiles", "pmtiles")}
        t0 = time.perf_counter()
        for z, x, y in order:
            (tmp / "xyz" / str(z) / str(x) / f"{y}.png").read_bytes()
        ref = (time.perf_counter() - t0) / len(order)
        print(f"{n} tiles of 256x256 PNG; 2000 random reads each")
        print(f"XYZ folder (reference): {ref * 1e6:8.1f} µs/tile")
        for kind, path in files.items():
            t0 = time.perf_counter()
            for z, x, y in order:
                assert read_tile(path, z, x, y) == tiles[(z, x, y)]
            per = (time.perf_counter() - t0) / len(order)
            print(f"{kind:>8}: {per * 1e6:8.1f} µs/tile  ({per / ref:.1f}x the folder)  {path.stat().st_size / 1e6:.1f} MB")
        _route(tmp, files["mbtiles"], order, tiles)


def _route(tmp: Path, path: Path, order, tiles) -> None:
    """The /tiles route on waitress: tiles per second for one client, keep-alive."""
    import flask
    import requests

    from pages._serve import make_server

    app = flask.Flask("bench")

    @app.route("/tiles/<int:z>/<int:x>/<int:y>.png")
    def tile(z, x, y):  # the route's work without the Dash app and the workspace config
        data = read_tile(path, z, x, y)
        return (data, 200, {"Content-Type": "image/png"}) if data else ("", 404)

    server = make_server(app, "127.0.0.1", 0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"
    s = requests.Session()
    t0 = time.perf_counter()
    for z, x, y in order[:500]:
        assert s.get(f"{base}/tiles/{z}/{x}/{y}.png", timeout=10).content == tiles[(z, x, y)]
    per = (time.perf_counter() - t0) / 500
    print(f"HTTP /tiles (waitress, one client): {per * 1e3:.2f} ms/tile = {1 / per:.0f} tiles/s")
    server.close()


if __name__ == "__main__":
    main()
