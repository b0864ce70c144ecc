"""Audiences: keep a segment or group in sync with Klaviyo, Attentive or Meta."""
