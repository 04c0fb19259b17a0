"""vaccine_cert: see its issue; nothing public yet."""

__all__: list[str] = []
