"""How text is stored in the `wildcard` search fields, shared by the indexer and the query translation.

OpenSearch 2.19's wildcard field mishandles an escaped backslash right before `*` (upstream issue
19719), so a backslash can not be searched through escaping. Both sides therefore store and search
it as NUL instead: PostgreSQL text never contains NUL, so the stand-in is unambiguous. Lowercasing
is the field's `lowercase` normalizer, applied by OpenSearch to values and patterns alike.
"""

BACKSLASH_STAND_IN = "\x00"


def searchable(text: str) -> str:
    return text.replace("\\", BACKSLASH_STAND_IN)
