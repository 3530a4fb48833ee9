"""S3 error responses of the front: one exception type, rendered as S3's XML.

S3 answers an error with a status, a `Code` that clients dispatch on and a
human message, plus extra elements for some codes (SignatureDoesNotMatch carries
the canonical request and string to sign it computed; RequestTimeTooSkewed the
two times). `close` asks the connection to be closed after the answer (the body
of the request was not, or cannot be, read)."""
from xml.sax.saxutils import escape


class S3Error(Exception):
    def __init__(self, status, code, message, close=False, **extra):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.close = close
        self.extra = extra


def error_xml(code, message, resource="", request_id="", extra=None):
    """The body of an S3 error: <Error><Code>..</Code><Message>..</Message>...</Error>."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
             f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    for name, value in (extra or {}).items():
        parts.append(f"<{name}>{escape(str(value))}</{name}>")
    if resource:
        parts.append(f"<Resource>{escape(resource)}</Resource>")
    if request_id:
        parts.append(f"<RequestId>{escape(request_id)}</RequestId>")
    parts.append("</Error>")
    return "".join(parts).encode("utf-8")


# Errors the front answers for framing problems.
def bad_request(message):
    return S3Error(400, "BadRequest", message, close=True)


def not_implemented(message, header=None, close=False):
    extra = {"Header": header} if header else {}
    return S3Error(501, "NotImplemented", message, close=close, **extra)
