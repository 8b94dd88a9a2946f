"""The Alibaba Cloud compatible door: official Alibaba Cloud SDKs call Pushdeck unchanged.

A call is any request carrying an Alibaba Cloud signature, on any path: ACS3-HMAC-SHA256
(the Tea SDKs: `x-acs-action` / `x-acs-version` headers and an `Authorization:
ACS3-HMAC-SHA256 ...` header) or RPC 1.0 (the older SDKs: `Action`, `Version`,
`Signature`, `SignatureMethod=HMAC-SHA1`, ... in the query, `rpcsign.RpcVerifier`). `console.acs.middleware.DoorMiddleware` hands it to
`door.serve` before sessions, CSRF or sign-in see it, so console pages are undisturbed.

`door.serve` does, for every API version alike:

1. pick the first registered verifier that recognises the request
   (`rpcsign.RpcVerifier`, then `signing.Acs3Verifier`; another signature scheme
   subclasses `signing.Verifier` and is added with `door.register_verifier`);
2. find the (version, action) handler (`InvalidVersion` / `InvalidAction.NotFound`);
3. look up the AccessKey (`InvalidAccessKeyId.NotFound`, `InvalidAccessKeyId.Inactive`),
   check the signature (`SignatureDoesNotMatch`), the date window
   (`InvalidTimeStamp.Expired`, `ACS_DATE_WINDOW_SECONDS`) and the nonce
   (`SignatureNonceUsed`, kept in `DoorNonce`);
4. call the handler with a `door.Call` and answer its dict as JSON with a `RequestId`.

A refusal is `door.DoorError(status, code, message)`, answered as HTTP `status` with JSON
`{"RequestId", "Code", "Message"}`: the SDKs raise it as their usual exception with that
code. An AccessKey acts as its user: `door.app_for(call, app, perm)` answers the app
when the user holds `perm` there (superusers hold every perm), else `Forbidden`.

To serve another API version, write its handlers in the app that owns the services they
call (handlers may import anything; console never imports them) and register them when
that app is ready::

    from console.acs.door import Call, action

    @action("2016-08-01", "Push")
    def push(call: Call) -> dict:
        app = door.app_for(call, find_app(call.params["AppKey"]), Perm.SEND)
        ...
        return {"MessageId": "..."}           # RequestId is added by the door

Business rules broken inside a handler are `console.apicodes.PushError`; each version
decides how to render them (the mPaaS version answers them as `ResultCode` /
`ResultMessage`, see `campaigns/mpaas/`), with `door.on_push_error(version, renderer)`.
"""
