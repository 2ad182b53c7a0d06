"""Server-rendered pages: sign-in, "My devices" and the operators' sessions console."""


def register_web(app) -> None:
    pass  # blueprints are registered here
