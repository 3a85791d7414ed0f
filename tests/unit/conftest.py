import pytest

from tests.lib.pki import client_cert, make_cert, server_cert


@pytest.fixture(scope='session')
def rsa_cert():
    return client_cert('laptop-rsa', kind='rsa')


@pytest.fixture(scope='session')
def ec_cert():
    return client_cert('laptop-ec', kind='ec')


@pytest.fixture(scope='session')
def ed25519_cert():
    return client_cert('laptop-ed', kind='ed25519')


@pytest.fixture(scope='session')
def relay_cert():
    return server_cert()


@pytest.fixture(scope='session')
def expired_cert():
    return make_cert('old', expired=True)
