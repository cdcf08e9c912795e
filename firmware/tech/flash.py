"""flash (being written)."""


def register(sub) -> None:
    pass
