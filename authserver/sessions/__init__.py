"""Device sessions: one sign-in on one device, what a user sees in My devices and can end; the rules
that open, touch, expire and end them, and their rotating refresh-token chains. No HTTP here."""
