"""Attachments (照片、材料): files on cases and tasks, who may see them, the public ones.

- ``service``: store, validate (type by content, size, EXIF stripped), list and serve files;
- ``api``: /api/cases/<id>/attachments and the file routes;
- ``pages``: the upload inputs, panels and public photos of the web pages.
"""
