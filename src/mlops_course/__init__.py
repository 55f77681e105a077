"""Hands-On MLOps: the small package behind the course notebooks.

Import the helper you need, for example::

    from mlops_course import workspace, load_course_data, quiz
"""
from mlops_course.data import DATA_DICTIONARY, load_course_data
from mlops_course.engines import has_docker, has_kubernetes, has_prometheus
from mlops_course.quiz import Question, quiz
from mlops_course.shell import CommandFailed, sh
from mlops_course.services import Service, ServiceError, free_port, start_service
from mlops_course.workspace import repo_root, show_path, workspace

__all__ = [
    "DATA_DICTIONARY",
    "Question",
    "CommandFailed",
    "Service",
    "ServiceError",
    "free_port",
    "has_docker",
    "has_kubernetes",
    "has_prometheus",
    "load_course_data",
    "quiz",
    "repo_root",
    "sh",
    "show_path",
    "start_service",
    "workspace",
]
