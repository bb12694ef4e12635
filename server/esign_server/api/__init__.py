"""HTTP routers: ``sessions`` (relying systems), ``mobile`` (the phone), ``admin``, ``pki``, ``health``."""
