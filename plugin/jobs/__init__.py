"""Long operations run in the background and followed through ``GET /api/jobs/{id}``."""
