"""Push configuration and key management: APNs, FCM, vendor channels, API and callback keys."""
