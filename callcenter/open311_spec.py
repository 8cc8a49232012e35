"""The OpenAPI 3.0 description of the Open311 GeoReport v2 endpoint (served at
``/open311/v2/openapi.json``; the tests fuzz the endpoint against it with schemathesis)."""

from __future__ import annotations

from typing import Any

_ERROR = {"type": "array", "items": {"type": "object", "required": ["code", "description"],
                                     "properties": {"code": {"type": "integer"},
                                                    "description": {"type": "string"}}}}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_SERVICE = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type", "group"],
    "properties": {"service_code": {"type": "string"}, "service_name": {"type": "string"},
                   "description": {"type": "string"}, "metadata": {"type": "boolean"},
                   "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
                   "keywords": {"type": "string"}, "group": {"type": "string"}},
}
_REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "requested_datetime"],
    "properties": {
        "service_request_id": {"type": "string", "pattern": "^[0-9]+$"},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "status_notes": _NULLABLE_STRING, "service_name": _NULLABLE_STRING, "service_code": _NULLABLE_STRING,
        "description": _NULLABLE_STRING, "agency_responsible": _NULLABLE_STRING,
        "service_notice": _NULLABLE_STRING, "requested_datetime": {"type": "string", "format": "date-time"},
        "updated_datetime": {"type": "string", "format": "date-time", "nullable": True},
        "expected_datetime": {"type": "string", "format": "date-time", "nullable": True},
        "address": _NULLABLE_STRING, "address_id": _NULLABLE_STRING, "zipcode": _NULLABLE_STRING,
        "lat": _NULLABLE_NUMBER, "long": _NULLABLE_NUMBER, "media_url": _NULLABLE_STRING,
        "group": _NULLABLE_STRING,
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {400: "bad input", 403: "api_key missing or not valid", 404: "not found"}
    return {str(code): _json(_ERROR, texts[code]) for code in codes}


_LOCALE = {"name": "locale", "in": "query", "required": False,
           "schema": {"type": "string", "enum": ["zh", "en"]}}
_FMT = {"name": "fmt", "in": "path", "required": True, "schema": {"type": "string", "enum": ["json"]}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "96345 Open311 GeoReport v2", "version": "2.0",
             "description": "The online channel (掌上下单) of the 96345 community-service hotline."},
    "servers": [{"url": "/open311/v2"}],
    "components": {"securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}},
    "paths": {
        "/services.{fmt}": {"get": {
            "operationId": "services", "parameters": [_FMT, _LOCALE],
            "responses": {"200": _json({"type": "array", "items": _SERVICE}, "the catalogue"), **_errors(400)},
        }},
        "/services/{code}.{fmt}": {"get": {
            "operationId": "serviceDefinition",
            "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}, _FMT],
            "responses": {"200": _json({"type": "object", "required": ["service_code", "attributes"],
                                        "properties": {"service_code": {"type": "string"},
                                                       "attributes": {"type": "array"}}}, "definition"),
                          **_errors(400, 404)},
        }},
        "/requests.{fmt}": {
            "post": {
                "operationId": "createRequest", "security": [{"apiKey": []}],
                "parameters": [_FMT, _LOCALE,
                               {"name": "Idempotency-Key", "in": "header", "required": False,
                                "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["service_code"],
                    "properties": {"service_code": {"type": "string", "maxLength": 24},
                                   "lat": {"type": "number", "minimum": -90, "maximum": 90},
                                   "long": {"type": "number", "minimum": -180, "maximum": 180},
                                   "address_string": {"type": "string", "maxLength": 256},
                                   "description": {"type": "string", "maxLength": 2000},
                                   "phone": {"type": "string", "maxLength": 64}}}}}},
                "responses": {
                    "201": _json({"type": "array", "items": {"type": "object", "required": ["service_request_id"],
                                                             "properties": {"service_request_id": {"type": "string"},
                                                                            "service_notice": _NULLABLE_STRING,
                                                                            "account_id": _NULLABLE_STRING}}},
                                 "opened"),
                    "200": _json({"type": "array"}, "already opened with this Idempotency-Key"),
                    **_errors(400, 403, 404)},
            },
            "get": {
                "operationId": "listRequests", "security": [{"apiKey": []}],
                "parameters": [_FMT, _LOCALE] + [
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                    for name in ("service_request_id", "service_code", "start_date", "end_date", "status")],
                "responses": {"200": _json({"type": "array", "items": _REQUEST}, "the client's requests"),
                              **_errors(400, 403, 404)},
            },
        },
        "/requests/{number}.{fmt}": {"get": {
            "operationId": "getRequest", "security": [{"apiKey": []}],
            "parameters": [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}},
                           _FMT, _LOCALE],
            "responses": {"200": _json({"type": "array", "items": _REQUEST}, "one request"),
                          **_errors(400, 403, 404)},
        }},
    },
}
