"""reccontrol: a call-recording controller for Asterisk that applies the CNIL rules,
GDPR and PCI DSS."""

__version__ = "0.1.0"
