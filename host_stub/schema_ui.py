"""The host's OpenAPI document and its Swagger UI, with the UI's assets served locally.

Litestar's render plugins load their JavaScript and CSS from a CDN by default, so the page is
blank offline (and on the air-gapped machines ScaiGrid hosts run on). Every plugin takes asset
URLs instead; the assets come from the swagger-ui-py wheel and are served here.
"""

from __future__ import annotations

from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/schema-assets"


def _assets_dir() -> Path:
    # Located without importing swagger_ui: its package imports web-framework adapters we never use.
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: reinstall the stub host's dependencies")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


_DESCRIPTION = (
    "ScaiEcho, the speech-to-text module of ScaiGrid, on the stub host. Routes live under "
    "`/v1/modules/scaiecho`; every one needs `Authorization: Bearer sgk_...`. Errors are "
    '`{"error": {"code", "message", "details"?, "request_id"}}`; the WebSocket frames are '
    "described in docs/api.md."
)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="ScaiEcho",
        version=version("scaiecho"),
        description=_DESCRIPTION,
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                css_url=f"{ASSETS_PATH}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
                path="/swagger",
                # Litestar's default favicon is a CDN link too.
                favicon=f'<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">',
            )
        ],
    )


def assets_router() -> Router:
    return create_static_files_router(path=ASSETS_PATH, directories=[_assets_dir()], include_in_schema=False)
