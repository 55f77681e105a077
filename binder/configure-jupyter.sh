#!/usr/bin/env bash
# Jupyter set up for learners, used by binder/postBuild and by `make setup`. It configures the
# environment of the `python` first on PATH (or of $PYTHON). It writes the same files as
#   jupyter labextension disable --level=sys_prefix <plugin>
#   jupyter server extension disable --sys-prefix <extension>
# would, in well under a second (those commands take about 4 s each).
#
# - nbgrader: learners keep the Validate button (a lab's visible tests, run in a fresh kernel).
#   nbgrader puts it on every notebook; on a lesson, which has no graded tests, the course's own
#   server extension (mlops_course.jupyter_validate) says so and where the lab is, instead of
#   re-running the lesson and reporting that it "passes all the tests".
#   The instructor's tools (formgrader, create-assignment, course list) are off, and so is the
#   Assignment List: it needs an exchange directory shared with an instructor (nbgrader's
#   default is /srv/nbgrader/exchange), which a learner on a laptop or on Binder does not have,
#   so it could only show "Error fetching courses!". An instructor who runs the course on a
#   JupyterHub with an nbgrader exchange turns it back on with
#     jupyter labextension enable --level=sys_prefix @jupyter/nbgrader:assignment-list
#     jupyter server extension enable --sys-prefix nbgrader.server_extensions.assignment_list
#   jupyter labextension enable --level=sys_prefix @jupyter/nbgrader:menu
#   and sets c.Exchange.root and c.CourseDirectory.course_id in nbgrader_config.py.
# - jupyterlab-plotly: plotly comes in only as a dependency of evidently; no notebook draws with
#   it. Its JupyterLab extension, built for an older JupyterLab, warns of a version conflict
#   (@lumino/widgets) at every page load, and JupyterLab loads an extension's code even when its
#   plugins are disabled: so its folder is removed from share/jupyter/labextensions (plotly itself
#   still imports and works; only JupyterLab's renderer for plotly figures is gone).
# - JupyterLab's news and update checks (announcements) are off: the course runs offline.
set -euo pipefail
"${PYTHON:-python}" - <<'PY'
import json
import shutil
import sys
from pathlib import Path

etc = Path(sys.prefix) / "etc" / "jupyter"
LAB_PLUGINS_OFF = [
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",  # it would only hold the entries above
    "jupyterlab-plotly",
    "@jupyterlab/plotly-extension",  # the id jupyterlab-plotly's plugin goes by
    "@jupyterlab/apputils-extension:announcements",
]
LAB_PLUGINS_ON = ["@jupyter/nbgrader:validate-assignment"]
SERVER_EXTENSIONS_ON = ["mlops_course.jupyter_validate"]
SERVER_EXTENSIONS_OFF = [
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.assignment_list",
]

page_config = etc / "labconfig" / "page_config.json"
page_config.parent.mkdir(parents=True, exist_ok=True)
config = json.loads(page_config.read_text()) if page_config.is_file() else {}
disabled = config.setdefault("disabledExtensions", {})
disabled.update({plugin: True for plugin in LAB_PLUGINS_OFF})
for plugin in LAB_PLUGINS_ON:
    disabled.pop(plugin, None)
page_config.write_text(json.dumps(config, indent=2) + "\n")

shutil.rmtree(Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-plotly",
              ignore_errors=True)

server_d = etc / "jupyter_server_config.d"
server_d.mkdir(parents=True, exist_ok=True)
for extension in SERVER_EXTENSIONS_ON + SERVER_EXTENSIONS_OFF:
    setting = {"ServerApp": {"jpserver_extensions": {extension: extension in SERVER_EXTENSIONS_ON}}}
    (server_d / f"{extension}.json").write_text(json.dumps(setting, indent=2) + "\n")
print(f"Configured Jupyter for learners in {etc}")
PY
