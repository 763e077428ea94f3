"""Cross-check helper for tests/token_interop.rs: Akamai's own `akamai-edgeauth` package
mints tokens, and checks tokens minted by hls-edge.

    python3 edgeauth.py mint   < cases.json   # -> JSON list of tokens (or {"error": ...})
    python3 edgeauth.py verify < checks.json  # -> JSON list of {"valid": bool, "why": str}

A case: {"key", "algorithm", "escape_early", "salt", "field_delimiter", "acl_delimiter",
"ip", "id", "data", "start", "exp", and either "acl" (list) or "url"}; null means unset.
A check: the same settings plus "token" and "now". The package has no validator, so a check
re-mints the token with EdgeAuth from its parsed fields and requires the very same string,
recomputes the HMAC independently with hmac/hashlib, and checks st/exp against "now".
"""

import hashlib
import hmac
import json
import sys
from urllib.parse import unquote_plus

from akamai.edgeauth import EdgeAuth, EdgeAuthError


def edgeauth(case, **fields):
    return EdgeAuth(
        key=case["key"],
        algorithm=case.get("algorithm") or "sha256",
        salt=case.get("salt"),
        escape_early=bool(case.get("escape_early")),
        field_delimiter=case.get("field_delimiter") or "~",
        acl_delimiter=case.get("acl_delimiter") or "!",
        **fields,
    )


def mint(case):
    ea = edgeauth(
        case,
        ip=case.get("ip"),
        session_id=case.get("id"),
        payload=case.get("data"),
        start_time=case.get("start"),
        end_time=case["exp"],
    )
    try:
        if case.get("url") is not None:
            return ea.generate_url_token(case["url"])
        return ea.generate_acl_token(case["acl"])
    except EdgeAuthError as e:
        return {"error": str(e)}


def verify(check):
    delim = check.get("field_delimiter") or "~"
    token = check["token"]
    signed, sep, tag = token.rpartition(delim + "hmac=")
    if not sep:
        return {"valid": False, "why": "no hmac"}
    fields = dict(f.split("=", 1) for f in signed.split(delim))
    early = bool(check.get("escape_early"))
    plain = {k: (unquote_plus(v) if early and k in ("ip", "id", "data") else v) for k, v in fields.items()}

    # 1. EdgeAuth itself, given the token's fields, must write the very same token
    case = dict(check, ip=plain.get("ip"), id=plain.get("id"), data=plain.get("data"),
                start=int(plain["st"]) if "st" in plain else None, exp=int(plain["exp"]))
    if "acl" in plain:
        case["acl"] = plain["acl"].split(check.get("acl_delimiter") or "!")
        case["url"] = None
    if mint(case) != token:
        return {"valid": False, "why": "edgeauth writes another token for these fields"}

    # 2. the HMAC, recomputed without EdgeAuth
    source = [signed]
    if "acl" not in plain:
        source.append("url=" + edgeauth(check)._escape_early(check["url"]))
    if check.get("salt"):
        source.append("salt=" + check["salt"])
    digest = getattr(hashlib, (check.get("algorithm") or "sha256").lower())
    want = hmac.new(bytes.fromhex(check["key"]), delim.join(source).encode(), digest).hexdigest()
    if not hmac.compare_digest(want, tag):
        return {"valid": False, "why": "bad hmac"}

    # 3. the clock
    now = check["now"]
    if "st" in plain and now < int(plain["st"]):
        return {"valid": False, "why": "not yet valid"}
    if now > int(plain["exp"]):
        return {"valid": False, "why": "expired"}
    return {"valid": True, "why": ""}


def main():
    mode = sys.argv[1]
    items = json.load(sys.stdin)
    run = {"mint": mint, "verify": verify}[mode]
    json.dump([run(item) for item in items], sys.stdout)


if __name__ == "__main__":
    main()
