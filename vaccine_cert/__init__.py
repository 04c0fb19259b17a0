"""vaccine_cert: see its issue; nothing public yet."""

from vaccine_cert.errors import HealthCertError

__all__ = ["HealthCertError"]
