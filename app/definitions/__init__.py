"""Process definitions: what an admin deploys and proves.

- ``configuration``: a locality's configuration files (locality model, catalogue, calendar, scoring
  rules), versioned with the diagrams, and which one is in effect;
- ``versions``: deploy a bundle (diagrams, forms, configuration) as one immutable version, its checks,
  the parsed bundle and configuration of a case's version;
- ``packs``: the locality packs under config/localities/;
- ``scenarios``: an admin's scenario tests, played in a throwaway database;
- ``api``: GET/POST /api/processes and POST /api/processes/check.
"""
