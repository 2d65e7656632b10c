"""Webhooks: signed as Plaid signs them (ES256 JWT over the exact body bytes), delivered by POST."""

import base64
import hashlib
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify(client, headers, body):
    """A receiver's verification, step by step as in plaid.md 5.1. Returns the JWT payload."""
    jwt = headers["plaid-verification"]
    h64, p64, s64 = jwt.split(".")
    header = json.loads(b64d(h64))
    assert header["alg"] == "ES256" and header["typ"] == "JWT"
    key = client.ok("/webhook_verification_key/get", {"key_id": header["kid"]})["key"]
    assert (key["kty"], key["crv"], key["alg"], key["use"], key["kid"]) == ("EC", "P-256", "ES256", "sig", header["kid"])
    assert key["expired_at"] is None and isinstance(key["created_at"], int)
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64d(key["x"]), "big"),
                                        int.from_bytes(b64d(key["y"]), "big"), ec.SECP256R1()).public_key()
    sig = b64d(s64)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.verify(der, (h64 + "." + p64).encode(), ec.ECDSA(hashes.SHA256()))   # raises if forged
    payload = json.loads(b64d(p64))
    assert payload["request_body_sha256"] == hashlib.sha256(body).hexdigest()
    return payload, pub, der, h64 + "." + p64


def test_sync_updates_webhook_verifies_and_hashes_exact_bytes(plaid, client, webhook_receiver):
    at, item_id = client.link("ins_109508", webhook=webhook_receiver.url)
    client.ok("/transactions/sync", {"access_token": at})     # activates SYNC_UPDATES_AVAILABLE
    plaid.advance_days(1)
    rec = webhook_receiver.wait_for(1)[0]
    payload, pub, der, signed = verify(client, rec["headers"], rec["body"])
    assert abs(payload["iat"] - plaid.clock.now()) < 60
    body = json.loads(rec["body"])
    assert body == {"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "item_id": item_id,
                    "initial_update_complete": True, "historical_update_complete": True, "environment": "sandbox"}
    assert rec["body"].startswith(b'{\n  "webhook_type"')     # Plaid's 2-space indentation
    # Re-indenting changes the hash: receivers must hash the raw bytes.
    assert hashlib.sha256(json.dumps(body, indent=4).encode()).hexdigest() != payload["request_body_sha256"]
    with pytest.raises(InvalidSignature):
        pub.verify(der, signed.replace(".", ".x", 1).encode(), ec.ECDSA(hashes.SHA256()))


def test_no_sync_webhook_before_first_sync(plaid, client, webhook_receiver):
    at, _ = client.link("ins_109508", webhook=webhook_receiver.url)
    plaid.advance_days(1)
    client.ok("/sandbox/item/reset_login", {"access_token": at})   # a later webhook, to know the first is absent
    codes = [json.loads(r["body"])["webhook_code"] for r in webhook_receiver.wait_for(1)]
    assert codes == ["ERROR"]


@pytest.mark.parametrize("code,wtype,field", [
    ("SYNC_UPDATES_AVAILABLE", "TRANSACTIONS", "historical_update_complete"),
    ("NEW_ACCOUNTS_AVAILABLE", "ITEM", "error"),
    ("PENDING_DISCONNECT", "ITEM", "disconnect_time"),
    ("LOGIN_REPAIRED", "ITEM", None),
    ("USER_PERMISSION_REVOKED", "ITEM", "error"),
    ("ERROR", "ITEM", "error"),
])
def test_fire_webhook_types(plaid, client, webhook_receiver, code, wtype, field):
    at, item_id = client.link("ins_109508", webhook=webhook_receiver.url)
    assert client.ok("/sandbox/item/fire_webhook", {"access_token": at, "webhook_code": code})["webhook_fired"]
    rec = webhook_receiver.wait_for(1)[0]
    verify(client, rec["headers"], rec["body"])
    body = json.loads(rec["body"])
    assert (body["webhook_type"], body["webhook_code"], body["item_id"]) == (wtype, code, item_id)
    if field:
        assert field in body
    if code == "ERROR":
        assert body["error"]["error_code"] == "ITEM_LOGIN_REQUIRED" and body["error"]["status"] == 400


def test_pending_expiration_cannot_be_fired_from_the_api(client):
    at, _ = client.link("ins_120001")
    status, body = client.post("/sandbox/item/fire_webhook", {"access_token": at, "webhook_code": "PENDING_EXPIRATION"})
    assert status == 400 and body["error_type"] == "INVALID_INPUT"


def test_reset_login_fires_item_error(client, webhook_receiver):
    at, _ = client.link("ins_120002", webhook=webhook_receiver.url)
    client.ok("/sandbox/item/reset_login", {"access_token": at})
    body = json.loads(webhook_receiver.wait_for(1)[0]["body"])
    assert (body["webhook_type"], body["webhook_code"], body["error"]["error_code"]) == ("ITEM", "ERROR", "ITEM_LOGIN_REQUIRED")


def test_failed_delivery_is_retried(plaid, client, webhook_receiver):
    webhook_receiver.status = 500
    at, _ = client.link("ins_109508", webhook=webhook_receiver.url)
    client.ok("/sandbox/item/fire_webhook", {"access_token": at, "webhook_code": "LOGIN_REPAIRED"})
    webhook_receiver.wait_for(2)
    webhook_receiver.status = 200
    received = webhook_receiver.wait_for(3)
    assert received[0]["body"] == received[2]["body"]   # same bytes on every attempt
    assert plaid.webhooks.wait(1)
    assert plaid.webhooks.deliveries[-1]["status"] == 200


def test_rotated_key_reports_expired_at_and_unknown_kid_fails(plaid, client, webhook_receiver):
    at, _ = client.link("ins_109508", webhook=webhook_receiver.url)
    client.ok("/sandbox/item/fire_webhook", {"access_token": at, "webhook_code": "LOGIN_REPAIRED"})
    old_kid = json.loads(b64d(webhook_receiver.wait_for(1)[0]["headers"]["plaid-verification"].split(".")[0]))["kid"]
    plaid.signer.rotate()
    old = client.ok("/webhook_verification_key/get", {"key_id": old_kid})["key"]
    assert old["expired_at"] is not None
    client.ok("/sandbox/item/fire_webhook", {"access_token": at, "webhook_code": "LOGIN_REPAIRED"})
    rec = webhook_receiver.wait_for(2)[1]
    verify(client, rec["headers"], rec["body"])
    status, body = client.post("/webhook_verification_key/get", {"key_id": "no-such-kid"})
    assert status == 400 and body["error_code"] == "INVALID_WEBHOOK_VERIFICATION_KEY_ID"
