"""How text is stored in the `wildcard` search fields, shared by the indexer and the query translation.

OpenSearch 2.19's wildcard field mishandles an escaped backslash right before `*` (upstream issue
19719), so a backslash can not be searched through escaping. Both sides therefore store and search
it as U+FFFF instead: a Unicode noncharacter, reserved for internal use and absent from real text
(NUL would be safer still, as PostgreSQL text cannot hold it, but the wildcard field uses NUL as
its own boundary marker). Lowercasing is the field's `lowercase` normalizer, applied by OpenSearch
to values and patterns alike.
"""

BACKSLASH_STAND_IN = "\uffff"


def searchable(text: str) -> str:
    return text.replace("\\", BACKSLASH_STAND_IN)
