"""Configuration: one YAML file, loaded into a typed and validated model."""

from controller.config.load import ConfigError, load_config
from controller.config.model import Agent, Config, Service
from controller.config.windows import WeeklyWindow

__all__ = ["Agent", "Config", "ConfigError", "Service", "WeeklyWindow", "load_config"]
