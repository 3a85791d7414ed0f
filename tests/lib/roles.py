"""Role variables the tests share: server and client role instances confined to one directory."""

from pathlib import Path

from tests.lib.ansible import REPO
from tests.lib.pki import Credential


def loopback_relay_vars(root: Path, port: int, server: Credential) -> dict:
    """certrelay.exim.server in the standalone layout, everything under root, on 127.0.0.1:port.

    The test starts `exim -C root/exim.conf -bdf` itself (no package, no service); relayed mail
    lands in root/mail/relayed.
    """
    return {
        'exim_server_layout': 'standalone',
        'exim_server_install_packages': False,
        'exim_server_manage_service': False,
        'exim_server_config_file': str(root / 'exim.conf'),
        'exim_server_spool_directory': str(root / 'spool'),
        'exim_server_log_directory': str(root / 'log'),
        'exim_server_base_directory': str(root / 'etc'),
        'exim_server_trusted_configs_file': '',
        'exim_server_primary_hostname': 'relay.example.com',
        'exim_server_listen_addresses': ['127.0.0.1'],
        'exim_server_ports': [port],
        'exim_server_deliver_to_file': str(root / 'mail' / 'relayed'),
        'exim_server_tls_certificate': server.cert_pem,
        'exim_server_tls_privatekey': server.key_pem,
    }


def standalone_laptop_vars(root: Path, name: str) -> dict:
    """certrelay.exim.client in the standalone layout, everything under root, certificate made on it."""
    return {
        'exim_client_layout': 'standalone',
        'exim_client_install_packages': False,
        'exim_client_manage_service': False,
        'exim_client_config_file': str(root / 'exim.conf'),
        'exim_client_spool_directory': str(root / 'spool'),
        'exim_client_log_directory': str(root / 'log'),
        'exim_client_tls_directory': str(root / 'tls'),
        'exim_client_primary_hostname': f'{name}.example.com',
        'exim_client_generate_certificate': True,
    }


def rhel_relay_vars(root: Path, port: int, server: Credential, binary: str) -> dict:
    """loopback_relay_vars with the server role's RedHat variable set (vars/RedHat.yml: user and
    group exim, no trusted-configs file) on this Debian host, RHEL's paths under root, and binary.

    The role picks vars/<os_family>.yml; naming RedHat.yml directly is the one way to load that
    file here (os_family is Debian).
    """
    values = loopback_relay_vars(root, port, server)
    del values['exim_server_trusted_configs_file']   # RedHat.yml's: none
    values.update({
        '__exim_server_os_file': str(REPO / 'roles' / 'server' / 'vars' / 'RedHat.yml'),
        'exim_server_binary': binary,
        'exim_server_config_file': str(root / 'etc' / 'exim' / 'exim.conf'),
        'exim_server_base_directory': str(root / 'etc' / 'exim' / 'certrelay'),
        'exim_server_spool_directory': str(root / 'var' / 'spool' / 'exim'),
        'exim_server_log_directory': str(root / 'var' / 'log' / 'exim'),
        'exim_server_deliver_to_file': str(root / 'var' / 'mail' / 'relayed'),
    })
    return values


# The client role reads vars/<os_family>.yml through __exim_client_os_file, a role variable, which
# beats inventory variables: only an extra variable can name RedHat.yml on this Debian host.
RHEL_CLIENT_EXTRA_VARS = {
    '__exim_client_os_file': str(REPO / 'roles' / 'client' / 'vars' / 'RedHat.yml'),
}


def rhel_laptop_overrides(root: Path, binary: str) -> dict:
    """Client role variables for RHEL's paths under root and binary; with RHEL_CLIENT_EXTRA_VARS
    (extra variables) the role runs with its RedHat variable set on this Debian host."""
    return {
        'exim_client_binary': binary,
        'exim_client_config_file': str(root / 'etc' / 'exim' / 'exim.conf'),
        'exim_client_spool_directory': str(root / 'var' / 'spool' / 'exim'),
        'exim_client_log_directory': str(root / 'var' / 'log' / 'exim'),
        'exim_client_tls_directory': str(root / 'etc' / 'exim' / 'certrelay'),
    }
