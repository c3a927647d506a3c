"""Growth analyses over the catalog and the engine's data (one module per analysis)."""
