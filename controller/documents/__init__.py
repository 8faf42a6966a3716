"""Documents generated from the config (D1, A6, C3): the caller's full notice, the agent
information notice and the GDPR Art. 30 register entry, as Markdown or HTML."""

from controller.documents.common import document_problems
from controller.documents.notices import build_agent_notice, build_caller_notice
from controller.documents.register import build_register
from controller.documents.render import FORMATS, Document, render

__all__ = [
    "FORMATS",
    "Document",
    "build_agent_notice",
    "build_caller_notice",
    "build_register",
    "document_problems",
    "render",
]
