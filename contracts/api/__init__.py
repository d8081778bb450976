"""The contracts API under /api/v1/contracts/."""
