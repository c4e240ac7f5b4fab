"""Write result tables chosen by file extension (.csv, .parquet, .geojson, .gpkg)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["write_table", "OUTPUT_SUFFIXES"]

OUTPUT_SUFFIXES = (".csv", ".parquet", ".geojson", ".gpkg")


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` to ``path``, the format chosen by the extension.

    GeoJSON and GeoPackage need a GeoDataFrame (GeoJSON is written in EPSG:4326, as RFC 7946
    requires); CSV and Parquet take either (CSV drops geometry, Parquet keeps it as GeoParquet).

    Raises
    ------
    ValueError
        Unknown extension, or a spatial format asked of a table without geometry.
    """
    import geopandas as gpd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ValueError(
            f"--out {path}: unknown extension {suffix or '(none)'!r}; use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    is_geo = isinstance(table, gpd.GeoDataFrame) and table.geometry.name in table.columns
    if suffix == ".csv":
        frame = pd.DataFrame(table.drop(columns=table.geometry.name)) if is_geo else table
        frame.to_csv(path, index=False, encoding="utf-8-sig")  # BOM: Excel opens Chinese correctly
    elif suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        if not is_geo:
            raise ValueError(f"--out {path}: {suffix} needs geometry; this result has none (use .csv or .parquet)")
        out = table.to_crs(4326) if suffix == ".geojson" and table.crs is not None else table
        if path.exists():
            path.unlink()
        out.to_file(path, driver="GeoJSON" if suffix == ".geojson" else "GPKG", engine="pyogrio")
    return path
