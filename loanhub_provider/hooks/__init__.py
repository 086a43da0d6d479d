"""One Airflow hook per legacy system: each turns an Airflow Connection into the typed config
of its connector or bot at run time, registers the connection's secrets with Airflow's masker,
and answers ``test_connection`` with a call that changes nothing."""

from loanhub_provider.hooks.bureau import BureauHook
from loanhub_provider.hooks.core import CoreHook
from loanhub_provider.hooks.los import LosHook
from loanhub_provider.hooks.portal import PortalHook
from loanhub_provider.hooks.sftp import SftpHook
from loanhub_provider.hooks.smtp import SmtpHook
from loanhub_provider.hooks.soap import SoapHook

__all__ = ["BureauHook", "CoreHook", "LosHook", "PortalHook", "SftpHook", "SmtpHook", "SoapHook"]
