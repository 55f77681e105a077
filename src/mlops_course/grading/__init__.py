"""The grading harness: tests that student code cannot reach.

A test cell does::

    from mlops_course.grading import student
    s = student()
    assert s.call("recall_at_capacity", [1, 0], [0.9, 0.1], capacity=0.5) == 1.0

See CONTRIBUTING.md ("A lab on the grading harness") for the rules and the whole API.
"""
from mlops_course.grading.view import Student, StudentError, StudentRaised, private_dir, student

__all__ = ["Student", "StudentError", "StudentRaised", "private_dir", "student"]
