"""The site's own certificate authority (security profiles 2 and 3): the CA, the box's server
certificate, chargers' certificates signed from their CSRs, and the TLS context. Pure functions
over `cryptography` and the standard `ssl` module; no web framework, no database."""
