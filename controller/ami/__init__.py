"""A minimal asyncio client of Asterisk's manager interface (AMI): what the FastAGI
path needs and ARI cannot do (``MixMonitorMute`` on a running MixMonitor), and the
read-only ``CoreShowChannels``."""

from controller.ami.client import AmiClient
from controller.ami.errors import AmiError

__all__ = ["AmiClient", "AmiError"]
