"""Intake beyond the web form (issue 16): 12345 work-order import and the Open311 GeoReport v2 API."""
