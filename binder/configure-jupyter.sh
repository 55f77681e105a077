#!/usr/bin/env bash
# Jupyter set up for learners, used by binder/postBuild and by `make setup`:
# nbgrader's assignment list and Validate button on, the instructor's tools off,
# and JupyterLab's news and update checks off. Run with the environment's bin/ first on PATH.
set -euo pipefail
jupyter labextension disable --level=sys_prefix "@jupyter/nbgrader:formgrader"
jupyter labextension disable --level=sys_prefix "@jupyter/nbgrader:create-assignment"
jupyter labextension disable --level=sys_prefix "@jupyter/nbgrader:course-list"
jupyter labextension enable --level=sys_prefix "@jupyter/nbgrader:assignment-list"
jupyter labextension enable --level=sys_prefix "@jupyter/nbgrader:validate-assignment"
jupyter server extension disable --sys-prefix nbgrader.server_extensions.formgrader
jupyter server extension disable --sys-prefix nbgrader.server_extensions.course_list
jupyter labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements"
