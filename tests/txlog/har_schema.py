"""HAR 1.2 as a JSON Schema: the required fields and types of the spec
(http://www.softwareishard.com/blog/har-12-spec/). Custom fields must start with "_"."""

_PAIR = {"type": "object", "required": ["name", "value"],
         "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}
_PAIRS = {"type": "array", "items": _PAIR}
_CUSTOM = {"^_": {}}

HAR_SCHEMA = {
    "type": "object", "required": ["log"], "additionalProperties": False,
    "properties": {"log": {
        "type": "object", "required": ["version", "creator", "entries"],
        "patternProperties": _CUSTOM, "additionalProperties": False,
        "properties": {
            "version": {"const": "1.2"},
            "creator": {"type": "object", "required": ["name", "version"],
                        "properties": {"name": {"type": "string"}, "version": {"type": "string"}}},
            "browser": {"type": "object"},
            "pages": {"type": "array"},
            "comment": {"type": "string"},
            "entries": {"type": "array", "items": {
                "type": "object",
                "required": ["startedDateTime", "time", "request", "response", "cache", "timings"],
                "patternProperties": _CUSTOM, "additionalProperties": False,
                "properties": {
                    "pageref": {"type": "string"},
                    "startedDateTime": {"type": "string",
                                        "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"},
                    "time": {"type": "number", "minimum": 0},
                    "serverIPAddress": {"type": "string"},
                    "connection": {"type": "string"},
                    "comment": {"type": "string"},
                    "cache": {"type": "object"},
                    "request": {
                        "type": "object", "patternProperties": _CUSTOM, "additionalProperties": False,
                        "required": ["method", "url", "httpVersion", "cookies", "headers",
                                     "queryString", "headersSize", "bodySize"],
                        "properties": {
                            "method": {"type": "string"}, "url": {"type": "string"},
                            "httpVersion": {"type": "string"}, "cookies": {"type": "array"},
                            "headers": _PAIRS, "queryString": _PAIRS,
                            "postData": {"type": "object", "required": ["mimeType"],
                                         "properties": {"mimeType": {"type": "string"},
                                                        "params": {"type": "array"},
                                                        "text": {"type": "string"}}},
                            "headersSize": {"type": "integer"}, "bodySize": {"type": "integer"},
                            "comment": {"type": "string"}}},
                    "response": {
                        "type": "object", "patternProperties": _CUSTOM, "additionalProperties": False,
                        "required": ["status", "statusText", "httpVersion", "cookies", "headers",
                                     "content", "redirectURL", "headersSize", "bodySize"],
                        "properties": {
                            "status": {"type": "integer"}, "statusText": {"type": "string"},
                            "httpVersion": {"type": "string"}, "cookies": {"type": "array"},
                            "headers": _PAIRS,
                            "content": {"type": "object", "required": ["size", "mimeType"],
                                        "properties": {"size": {"type": "integer"},
                                                       "compression": {"type": "integer"},
                                                       "mimeType": {"type": "string"},
                                                       "text": {"type": "string"},
                                                       "encoding": {"type": "string"}}},
                            "redirectURL": {"type": "string"},
                            "headersSize": {"type": "integer"}, "bodySize": {"type": "integer"},
                            "comment": {"type": "string"}}},
                    "timings": {
                        "type": "object", "required": ["send", "wait", "receive"],
                        "properties": {name: {"type": "number", "minimum": -1}
                                       for name in ("blocked", "dns", "connect", "ssl")}
                        | {name: {"type": "number", "minimum": 0} for name in ("send", "wait", "receive")}},
                }}},
        }}},
}
