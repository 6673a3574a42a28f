"""CallCenterAI: ticket triage with an MLOps loop around two models."""

__version__ = "0.1.0"
