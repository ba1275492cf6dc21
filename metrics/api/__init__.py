"""The read-only metrics API (JSON, behind sign-in or token): metrics and funnel."""
