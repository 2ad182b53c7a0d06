"""Who may ask for tokens: users (passwords, disabling) and OAuth clients (registration, the
per-process cache), and the failure budgets that throttle guessing at either."""
