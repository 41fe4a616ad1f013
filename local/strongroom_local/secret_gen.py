"""GenerateSecretString, as AWS::SecretsManager::Secret evaluates it, with a CSPRNG."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

# Secrets Manager's punctuation set (GetRandomPassword / GenerateSecretString).
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
DEFAULT_LENGTH = 32


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _character_classes(spec: dict[str, Any]) -> list[str]:
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    classes = [
        ("ExcludeLowercase", string.ascii_lowercase),
        ("ExcludeUppercase", string.ascii_uppercase),
        ("ExcludeNumbers", string.digits),
        ("ExcludePunctuation", PUNCTUATION),
    ]
    chosen = ["".join(c for c in chars if c not in excluded) for flag, chars in classes if not _truthy(spec.get(flag))]
    if _truthy(spec.get("IncludeSpace")) and " " not in excluded:
        chosen.append(" ")
    chosen = [c for c in chosen if c]
    if not chosen:
        raise ValueError("GenerateSecretString excludes every character")
    return chosen


def random_password(spec: dict[str, Any]) -> str:
    """A password honouring PasswordLength, Exclude*, IncludeSpace and RequireEachIncludedType
    (default true, as in Secrets Manager)."""
    length = int(spec.get("PasswordLength", DEFAULT_LENGTH))
    classes = _character_classes(spec)
    if length < 1 or length > 4096:
        raise ValueError("PasswordLength must be 1-4096")
    require_each = _truthy(spec.get("RequireEachIncludedType", True))
    alphabet = "".join(classes)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if not require_each or length < len(classes) or all(any(ch in cls for ch in password) for cls in classes):
            return password


def generate_secret_string(spec: dict[str, Any]) -> str:
    """The SecretString: the password, or SecretStringTemplate with the password under GenerateStringKey."""
    password = random_password(spec)
    template = spec.get("SecretStringTemplate")
    if template is None:
        return password
    document = json.loads(str(template))
    document[str(spec["GenerateStringKey"])] = password
    return json.dumps(document)
