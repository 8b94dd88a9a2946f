"""Local fake push services speaking each real protocol, for tests and benches.

- `pki.make_pki()`: a throwaway CA + server certificate for 127.0.0.1 (trust it with
  `settings.GATEWAY_CA_BUNDLE = pki.ca_file`); `pki.client_cert(topic, environment=...)`
  gives an Apple-like push certificate as .p12 bytes + password; `make_p8_key()` an APNs
  token key; `make_rsa_key()` an FCM service-account key.
- `apns.FakeApns(pki, require_client_cert=..., token_keys={kid: (team, public_pem)})`:
  HTTP/2 + TLS in a thread; verifies the client certificate or the ES256 JWT, records
  `requests` (with their time), answers `script[token] = Answer(410, "Unregistered")` (or a
  list of answers given in turn; `Answer(delay=0.5)` answers late) or the queued `next_answers`; `goaway()` recycles connections. `apns.serve_in_process(pki, ...)` runs
  it in a child process (own CPU) and returns `stats()` with requests, connections and
  duplicate apns-ids (for the kill-the-worker test and benches).
- `vendors.FakeFcm / FakeHuawei / FakeXiaomi / FakeOppo / FakeVivo / FakeHonor / FakeMeizu`:
  HTTP/1.1 in a thread; check the vendor's auth (JWT grant, client secret, sha256 / md5
  sign), report `invalid_tokens` in the vendor's format, and `fail_next(status, body,
  headers)` scripts the next send call (413, 429 + Retry-After, 503 ...).
"""
