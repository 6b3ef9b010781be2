"""DuckDB storage: migrations, catalog, job writes, rollups and read queries."""
