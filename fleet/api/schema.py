"""The API's OpenAPI schema: drf-spectacular's AutoSchema plus the error responses every operation can give.

DRF answers 400 (validation), 401 (no or bad token), 403 (role lacks the capability, login locked out),
404 (another tenant's row, a page past the end) and 429 (throttled) without a view saying so. The schema
declares them, so that clients and the schema-driven tests know every status an operation may return.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent

ERROR_SCHEMA = {
    "type": "object",
    "description": "An error that concerns the request as a whole.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "description": (
        "Validation failed: each input field (or non_field_errors, or detail for a malformed request) "
        "maps to its messages."
    ),
    "additionalProperties": {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    },
}

ERROR_DESCRIPTIONS = {
    "400": "Invalid input; the body names the fields and their messages.",
    "401": "No valid credentials were sent.",
    "403": "The caller may not do this (role, or sign-in locked out).",
    "404": "Not found, or not visible to the caller (another tenant's rows do not exist for them).",
    "429": "Too many requests; retry later.",
}


class FleetAutoSchema(AutoSchema):
    """Adds the error responses to every operation and leaves role-dependent fields out of ``required``.

    A serializer lists in ``role_dependent_fields`` the fields it omits for some roles (prices): responses
    may lack them, so the response schema must not require them.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = self._error_component("Error", ERROR_SCHEMA)
        field_errors = self._error_component("FieldErrors", FIELD_ERRORS_SCHEMA)
        parameters = operation.get("parameters", [])
        takes_input = "requestBody" in operation or any(p.get("in") == "query" for p in parameters)
        # A page past the end, or a cursor that is not one, is a 404.
        paginated = any(p.get("in") == "query" and p.get("name") in ("page", "cursor") for p in parameters)
        # ``answers_not_found``: a view that looks an object up from its query parameters.
        detail = any(p.get("in") == "path" for p in parameters) or getattr(self.view, "answers_not_found", False)
        codes = {"401": error, "403": error}
        if takes_input:
            codes["400"] = field_errors
        if detail or paginated:
            codes["404"] = error
        if self.view.get_throttles():
            codes["429"] = error
        responses = operation.setdefault("responses", {})
        for code in sorted(codes):
            responses.setdefault(
                code,
                {
                    "content": {"application/json": {"schema": codes[code].ref}},
                    "description": ERROR_DESCRIPTIONS[code],
                },
            )
        return operation

    def _error_component(self, name: str, schema: dict) -> ResolvedComponent:
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        optional = set(getattr(serializer, "role_dependent_fields", ())) if direction == "response" else set()
        if optional and "required" in schema:
            schema["required"] = [name for name in schema["required"] if name not in optional]
            if not schema["required"]:
                del schema["required"]
        return schema
