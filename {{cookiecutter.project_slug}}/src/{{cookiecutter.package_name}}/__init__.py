"""{{ cookiecutter.project_name | trim }}.

{{ cookiecutter.description | trim | wordwrap(79) }}
"""
