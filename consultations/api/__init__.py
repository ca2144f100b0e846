"""Partner REST API of the consultations app (mounted under /api/v1/ by telemed.urls)."""
