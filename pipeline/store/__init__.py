"""DuckDB storage: migrations, catalog, job writes, series and read queries."""
