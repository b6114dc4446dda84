"""Playbooks and roles: loading, strict schema checks and role directories (DESIGN §2)."""

from rorunner.playbook._extra import load_extra_vars
from rorunner.playbook._load import load_playbook
from rorunner.playbook._model import PathEntry, Play, Playbook, RoleUse, StepEntry, Unit
from rorunner.playbook._roles import ROLE_FILE, role_search_path, shipped_files
from rorunner.playbook._steps import FILES_STEP

__all__ = [
    "FILES_STEP",
    "ROLE_FILE",
    "PathEntry",
    "Play",
    "Playbook",
    "RoleUse",
    "StepEntry",
    "Unit",
    "load_extra_vars",
    "load_playbook",
    "role_search_path",
    "shipped_files",
]
