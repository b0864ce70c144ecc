"""Price rules, bundles, gift rules and benefit programmes: models, schemas, operations,
the per-process rule snapshot and the glue that prices a cart with the pure engine."""
