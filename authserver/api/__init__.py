"""JSON APIs for bearer-token callers: the user's device sessions and the operators' admin API."""


def register_api(app) -> None:
    pass  # blueprints are registered here
