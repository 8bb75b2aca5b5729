"""Graph's error answers: `{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`.

Clients branch on `code` (FACTS.md section 3), so the codes are Graph's own; the messages follow the
texts Graph sends where they are known."""


class GraphError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found(key):
    return GraphError(404, "Request_ResourceNotFound",
                      "Resource '%s' does not exist or one of its queried reference-property objects are not present." % key)


def bad_request(message):
    return GraphError(400, "Request_BadRequest", message)


def property_required(name):
    """The directory's answer to a create (or a change) that leaves out a property the object must have."""
    return bad_request("Property %s value is required but is empty or missing." % name)


def require_properties(body, *names):
    """400 for the first of `names` that `body` lacks, has as null or as an empty or blank string."""
    for name in names:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise property_required(name)


def denied():
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def read_only(name):
    return bad_request("Property '%s' is read-only and cannot be set." % name)


def conflict():
    return GraphError(409, "Request_MultipleObjectsWithSameKeyValue",
                      "A conflicting object with one or more of the specified property values is present in the directory.")
