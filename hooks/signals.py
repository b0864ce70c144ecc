"""The blinker signals an in-process host sends and hears (contract §7 and §6).

They are defined in the core (:mod:`plugin.events.signals`) because the extension's own
events go out through them; hosts import them from here, beside the HTTP hooks they
replace. See that module for what each carries.
"""

from plugin.events.signals import *  # noqa: F403
from plugin.events.signals import __all__  # noqa: F401
