"""mPaaS Message Push Service API version 2020-10-28, served through the Alibaba Cloud door.

The official `alibabacloud-mpaas20201028` SDK (and its Java, Go and Node siblings) calls these
actions unchanged; console.acs authenticates the call and hands it over. `AppId` is the app's
AppKey and `WorkspaceId` the installation's PUSHDECK_WORKSPACE_ID. Each handler turns the
SDK's fields into the same send specs, rules and codes as the native API (/api/v1/...).
"""
