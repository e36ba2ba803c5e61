"""What every ``/api`` route shares.

Add here the dependencies that every resource route must run, such as
authentication: ``routes.py`` mounts each resource router under ``/api`` with them.
"""

from fastapi import params

PREFIX = "/api"
DEPENDENCIES: list[params.Depends] = []
