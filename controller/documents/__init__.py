"""Documents generated from the config (D1, D2, A6, C3): the caller's full notice, the agent
information notice, the GDPR Art. 30 register entry and the Art. 35 impact assessment, in
French or English, as Markdown or HTML."""

from controller.documents.agent_notice import build_agent_notice
from controller.documents.caller_notice import build_caller_notice
from controller.documents.common import LANGUAGES, document_problems
from controller.documents.dpia import build_dpia
from controller.documents.register import build_register
from controller.documents.render import FORMATS, Document, render

__all__ = [
    "FORMATS",
    "LANGUAGES",
    "Document",
    "build_agent_notice",
    "build_caller_notice",
    "build_dpia",
    "build_register",
    "document_problems",
    "render",
]
