"""Fake chat platforms on 127.0.0.1: real HTTP servers the real Slack and Discord SDKs talk to.

They record every request, answer the few API methods newsbot uses in the shapes the platforms
document, and fail on demand (429 with Retry-After, permanent errors), so the adapters are tested
through their real clients without the internet.
"""
