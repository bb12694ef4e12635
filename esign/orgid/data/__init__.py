"""Data files of :mod:`esign.orgid` (a package so that the CSV ships in wheels)."""
