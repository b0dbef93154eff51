"""ScaiEcho: the speech-to-text module of the ScaiGrid platform."""

MODULE_ID = "scaiecho"
API_PREFIX = "/v1/modules/scaiecho"

__all__ = ["API_PREFIX", "MODULE_ID"]
