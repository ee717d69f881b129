"""Counties and townships (tenants): onboarding, suspension, the county console."""
