"""Command-line jobs that use the service's database outside requests.

Run ``python -m {{ cookiecutter.package_name }}.cli --help``
or the console script named like the project. Each command runs with a
DatabaseSessionManager built from the same settings as the app, disposed when
the command ends.
"""
