"""The appliance: an on-premises EV charging site controller in one aiohttp process."""

__version__ = "0.1.0"
