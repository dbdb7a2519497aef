"""The REST surface: papi, fapi and dapi routes, public market data, and the /_sim control API. Routes only
translate between HTTP and the engine."""
