"""The cockpit: what a township leader reports upward and must act on, read from nightly facts."""
